"""TFRecord framing and checksums, Example schema, shards, ArrayRecord + Grain, `data convert`."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from jaxcourse import cli
from jaxcourse.records import (
    CorruptRecordError,
    FeatureSpec,
    ReadStats,
    RecordSource,
    Schema,
    SchemaError,
    TFRecordWriter,
    masked_crc32c,
    read_arrays,
    read_tfrecord,
    write_arrays,
    write_tfrecord,
)
from jaxcourse.records.tfrecord import frame


def crc32c_reference(data: bytes) -> int:
    """Bitwise CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the definition."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked_reference(data: bytes) -> int:
    crc = crc32c_reference(data)
    return ((crc >> 15 | crc << 17) + 0xA282EAD8) % 2**32


def test_crc32c_matches_the_definition_and_the_standard_check_value():
    assert crc32c_reference(b"123456789") == 0xE3069283  # RFC 3720 check value
    for data in [b"", b"a", b"123456789", bytes(range(256)) * 3]:
        assert masked_crc32c(data) == masked_reference(data)


def test_record_framing_is_length_crc_data_crc():
    data = b"hello record"
    expected = (
        struct.pack("<Q", len(data))
        + struct.pack("<I", masked_reference(struct.pack("<Q", len(data))))
        + data
        + struct.pack("<I", masked_reference(data))
    )
    assert frame(data) == expected


def test_reads_a_tfrecord_file_written_elsewhere():
    """Grain ships a TFRecord file in its test data (written outside this project)."""
    grain = pytest.importorskip("grain")
    path = Path(grain.__file__).parent / "_src/python/testdata/morris_sequence_first_5.tfrecord"
    if not path.is_file():
        pytest.skip(f"Grain's test file is not installed ({path})")
    assert list(read_tfrecord(path)) == [b"1", b"1 1", b"2 1", b"1 2 1 1", b"1 1 1 2 2 1"]


def test_write_read_roundtrip(tmp_path):
    records = [b"", b"x", bytes(range(256)) * 40]
    path = tmp_path / "a.tfrecord"
    assert write_tfrecord(path, records) == 3
    assert list(read_tfrecord(path)) == records


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "a.tfrecord"
    write_tfrecord(path, [b"old"])
    with pytest.raises(RuntimeError), TFRecordWriter(path) as w:
        w.write(b"new")
        raise RuntimeError("boom")
    assert list(read_tfrecord(path)) == [b"old"]
    assert [p.name for p in tmp_path.iterdir()] == ["a.tfrecord"]


def _corrupt(path: Path, position: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[position] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_corrupt_data_is_detected_with_file_and_index(tmp_path):
    path = tmp_path / "c.tfrecord"
    records = [bytes([i]) * 10 for i in range(5)]
    write_tfrecord(path, records)
    _corrupt(path, 2 * 26 + 12 + 3)  # each record is 12 + 10 + 4 bytes; data of record 2
    with pytest.raises(CorruptRecordError, match=r"corrupt record 2 in '.*c\.tfrecord'.*data"):
        list(read_tfrecord(path))
    stats = ReadStats()
    assert list(read_tfrecord(path, on_error="skip", stats=stats)) == records[:2] + records[3:]
    assert stats.records == 4 and stats.num_bad == 1 and stats.bad[0][1] == 2
    assert list(read_tfrecord(path, verify=False))[2] != records[2]


def test_corrupt_length_and_truncation_are_detected(tmp_path):
    path = tmp_path / "c.tfrecord"
    records = [bytes([i]) * 10 for i in range(4)]
    write_tfrecord(path, records)
    _corrupt(path, 26 + 1)  # length of record 1
    with pytest.raises(CorruptRecordError, match="record 1 .*length checksum"):
        list(read_tfrecord(path))
    stats = ReadStats()
    assert list(read_tfrecord(path, on_error="skip", stats=stats)) == records[:1]
    assert stats.num_bad == 1
    write_tfrecord(path, records)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptRecordError, match="record 3 .*truncated"):
        list(read_tfrecord(path))


def test_schema_encodes_standard_examples():
    """A tf.train.Example built by hand from the protobuf wire format decodes as expected."""

    def field(number, wire, payload):
        return _varint(number << 3 | wire) + (_varint(len(payload)) + payload)

    int64_list = field(1, 2, _varint(7) + _varint(300))  # Int64List.value, packed
    feature = field(3, 2, int64_list)  # Feature.int64_list
    entry = field(1, 2, b"y") + field(2, 2, feature)  # map entry: key, value
    example = field(1, 2, field(1, 2, entry))  # Example.features.feature
    schema = Schema((FeatureSpec("y", "int64", (2,)),))
    np.testing.assert_array_equal(schema.decode(example)["y"], [7, 300])
    assert schema.decode(schema.encode({"y": np.array([7, 300])}))["y"].tolist() == [7, 300]


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _arrays(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((n, 3)).astype(np.float32),
        "img": rng.integers(0, 256, (n, 6, 8, 3), dtype=np.uint8),
        "raw": rng.integers(0, 256, (n, 5), dtype=np.uint8),
        "y": np.arange(n, dtype=np.int64),
    }


@pytest.mark.parametrize("fmt", ["tfrecord", "arrayrecord"])
def test_sharded_roundtrip(tmp_path, fmt):
    arrays = _arrays()
    schema = Schema.infer(arrays, {"img": "png"})
    written = write_arrays(tmp_path, schema, {"train": arrays}, fmt, num_shards=3)
    assert len(written["train"]) == 3
    back = read_arrays(tmp_path, "train")
    for k, v in arrays.items():
        np.testing.assert_array_equal(back[k], v)
        assert back[k].dtype == v.dtype
    assert len(RecordSource(tmp_path, "train")) == 12


def test_schema_errors_name_the_feature(tmp_path):
    schema = Schema((FeatureSpec("x", "float32", (3,)),))
    with pytest.raises(SchemaError, match="feature 'x': expected shape \\[3\\], got \\[4\\]"):
        schema.encode({"x": np.zeros(4)})
    with pytest.raises(SchemaError, match="no feature 'x'"):
        schema.encode({"y": np.zeros(3)})
    other = Schema((FeatureSpec("x", "float32", (2,)),))
    with pytest.raises(SchemaError, match="record 5: feature 'x' has shape \\[3\\]"):
        other.decode(schema.encode({"x": np.zeros(3)}), "record 5")
    with pytest.raises(SchemaError, match="png needs uint8"):
        FeatureSpec("im", "float32", (4, 4), "png")


def test_missing_shard_is_an_error(tmp_path):
    from jaxcourse.records import RecordFilesError

    arrays = _arrays()
    write_arrays(tmp_path, Schema.infer(arrays), {"train": arrays}, num_shards=3)
    (tmp_path / "train.tfrecord-00001-of-00003").unlink()
    with pytest.raises(RecordFilesError, match="expected 3 shards"):
        RecordSource(tmp_path, "train")


def test_record_source_skips_and_counts_bad_records(tmp_path):
    arrays = _arrays()
    write_arrays(tmp_path, Schema.infer(arrays), {"train": arrays}, num_shards=2)
    shard = tmp_path / "train.tfrecord-00001-of-00002"
    _corrupt(shard, shard.stat().st_size - 2)  # data checksum of the shard's last record
    source = RecordSource(tmp_path, "train")
    with pytest.raises(CorruptRecordError, match=r"record 5 in '.*00001-of-00002'"):
        source[11]
    skipping = RecordSource(tmp_path, "train", on_error="skip")
    assert len(skipping) == 11 and skipping.stats.num_bad == 1


def test_grain_iteration_is_shuffled_deterministic_and_checkpointable(tmp_path):
    from jaxcourse.records.grain_source import grain_dataset, iterate

    arrays = _arrays(n=10)
    write_arrays(tmp_path, Schema.infer(arrays), {"train": arrays}, "arrayrecord", 2)
    order = [int(e["y"]) for e in grain_dataset(tmp_path, "train", seed=1, num_epochs=2)]
    assert sorted(order[:10]) == list(range(10)) and sorted(order[10:]) == list(range(10))
    assert order[:10] != list(range(10)) and order[:10] != order[10:]
    again = [int(e["y"]) for e in grain_dataset(tmp_path, "train", seed=1, num_epochs=2)]
    assert again == order
    ds = grain_dataset(tmp_path, "train", seed=1, num_epochs=2, batch_size=4)
    it = iterate(ds)
    next(it)
    state = it.get_state()
    rest = [b["y"].tolist() for b in it]
    resumed = iterate(ds)
    resumed.set_state(state)
    assert [b["y"].tolist() for b in resumed] == rest
    assert rest[0] == order[4:8]


def test_cli_convert_and_inspect(tmp_path, capsys):
    out = tmp_path / "lin"
    assert (
        cli.main(
            [
                "data",
                "convert",
                "linear_points:num_points=30",
                str(out),
                "--to",
                "arrayrecord",
                "--shards",
                "2",
            ]
        )
        == 0
    )
    back = read_arrays(out, "train")
    assert back["x"].shape == (30, 1)
    assert cli.main(["data", "inspect", str(out)]) == 0
    assert '"records": 30' in capsys.readouterr().out
    assert cli.main(["data", "convert", "linear_points:bogus=1", str(tmp_path / "b")]) == 2
    assert "source.bogus" in capsys.readouterr().err


def test_cli_inspect_reports_corruption(tmp_path, capsys):
    out = tmp_path / "cap"
    assert cli.main(["data", "convert", "captcha:train_size=6,test_size=2", str(out)]) == 0
    shard = out / "train.tfrecord-00000-of-00001"
    _corrupt(shard, 200)
    assert cli.main(["data", "inspect", str(out)]) == 4  # DataError: corrupt data
    assert "corrupt record 0" in capsys.readouterr().err
    assert cli.main(["data", "inspect", str(out), "--skip-bad"]) == 1
    assert '"records": 5' in capsys.readouterr().out


def test_tensorflow_reads_our_files_and_we_read_theirs(tmp_path):
    tf = pytest.importorskip("tensorflow")
    arrays = _arrays(n=5)
    schema = Schema.infer(arrays, {"img": "png"})
    write_arrays(tmp_path, schema, {"train": arrays})
    path = str(tmp_path / "train.tfrecord-00000-of-00001")
    features = {
        "x": tf.io.FixedLenFeature([3], tf.float32),
        "y": tf.io.FixedLenFeature([], tf.int64),
        "img": tf.io.FixedLenFeature([], tf.string),
    }
    for i, record in enumerate(tf.data.TFRecordDataset(path)):
        ex = tf.io.parse_single_example(record, features)
        np.testing.assert_array_equal(ex["x"].numpy(), arrays["x"][i])
        assert int(ex["y"]) == i
        np.testing.assert_array_equal(tf.io.decode_png(ex["img"]).numpy(), arrays["img"][i])
    theirs = tmp_path / "tf.tfrecord"
    with tf.io.TFRecordWriter(str(theirs)) as w:
        for i in range(3):
            w.write(schema.encode({k: v[i] for k, v in arrays.items()}))
    assert [schema.decode(r)["y"] for r in read_tfrecord(theirs)] == [0, 1, 2]
    ours = tmp_path / "ours.tfrecord"
    write_tfrecord(ours, (schema.encode({k: v[i] for k, v in arrays.items()}) for i in range(3)))
    assert ours.read_bytes() == theirs.read_bytes()  # byte for byte
