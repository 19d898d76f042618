"""TensorFlow's copy of LevelDB's table format (tensorflow/core/lib/io/table*): sorted key/value
pairs in one file, the format of a checkpoint's `.index` file.

Layout: data blocks, an (empty) meta-index block, an index block (one entry per data block: a key
≥ the block's last key → the block's offset and size), then a 48-byte footer (the two blocks'
handles, zero padding, the magic number 0xdb4775248b80fb57). A block is its entries (varint
shared-prefix length, unshared length, value length, unshared key bytes, value), the offsets of
its restart points (entries stored with their whole key, every 16th), their count, then a
5-byte trailer: the compression type and the masked CRC32C of block + type. TF writes tables
uncompressed; a Snappy-compressed block is reported, not decoded.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import crc32c

from jaxcourse.compat.v1.errors import DataLossError, UnimplementedError

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two block handles padded to 2 × 20 bytes, then the 8-byte magic number
TRAILER_SIZE = 5
BLOCK_SIZE = 262144  # TF's table::Options defaults
RESTART_INTERVAL = 16
NO_COMPRESSION, SNAPPY = 0, 1
_CRC_DELTA = 0xA282EAD8


def mask(crc: int) -> int:
    """LevelDB's masked CRC (rotated right by 15 bits plus a constant), as TF stores it."""
    return (((crc >> 15) | (crc << 17)) + _CRC_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    rot = (masked - _CRC_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    return mask(crc32c.crc32c(data))


def put_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def get_varint(data: bytes, pos: int, where: str) -> tuple[int, int]:
    """(value, position after it) of the varint at `pos`; DataLossError if it runs off the end."""
    value = shift = 0
    while pos < len(data) and shift <= 63:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise DataLossError(f"{where}: truncated or malformed varint")


# ---------------------------------------------------------------------------------------------
# writing


class _BlockBuilder:
    def __init__(self, restart_interval: int):
        self.interval = restart_interval
        self.buffer = bytearray()
        self.restarts = [0]
        self.counter = 0
        self.last_key = b""

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self.counter < self.interval:
            limit = min(len(key), len(self.last_key))
            while shared < limit and key[shared] == self.last_key[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buffer))
            self.counter = 0
        self.buffer += put_varint(shared) + put_varint(len(key) - shared) + put_varint(len(value))
        self.buffer += key[shared:] + value
        self.last_key = key
        self.counter += 1

    def size_estimate(self) -> int:
        return len(self.buffer) + 4 * len(self.restarts) + 4

    def finish(self) -> bytes:
        restarts = struct.pack(f"<{len(self.restarts)}I", *self.restarts)
        return bytes(self.buffer) + restarts + struct.pack("<I", len(self.restarts))

    def empty(self) -> bool:
        return not self.buffer


def _shortest_separator(start: bytes, limit: bytes) -> bytes:
    """A short key k with start ≤ k < limit (LevelDB's bytewise comparator)."""
    common = 0
    while common < min(len(start), len(limit)) and start[common] == limit[common]:
        common += 1
    if common < min(len(start), len(limit)):
        byte = start[common]
        if byte < 0xFF and byte + 1 < limit[common]:
            return start[:common] + bytes([byte + 1])
    return start


def _short_successor(key: bytes) -> bytes:
    """A short key ≥ `key`."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes([byte + 1])
    return key


def _handle(offset: int, size: int) -> bytes:
    return put_varint(offset) + put_varint(size)


def build_table(items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A table holding `items` (keys strictly increasing), byte for byte as TF builds it."""
    out = bytearray()

    def write_block(contents: bytes) -> bytes:
        handle = _handle(len(out), len(contents))
        kind = bytes([NO_COMPRESSION])
        out.extend(contents + kind + struct.pack("<I", masked_crc(contents + kind)))
        return handle

    data, index = _BlockBuilder(RESTART_INTERVAL), _BlockBuilder(1)
    pending: bytes | None = None  # handle of the last flushed block, indexed at the next key
    last_key: bytes | None = None
    for key, value in items:
        if last_key is not None and key <= last_key:
            raise ValueError(f"table keys must increase: {key!r} after {last_key!r}")
        if pending is not None:
            index.add(_shortest_separator(last_key, key), pending)
            pending = None
        data.add(key, value)
        last_key = key
        if data.size_estimate() >= BLOCK_SIZE:
            pending = write_block(data.finish())
            data = _BlockBuilder(RESTART_INTERVAL)
    if not data.empty():
        pending = write_block(data.finish())
    metaindex = write_block(_BlockBuilder(RESTART_INTERVAL).finish())
    if pending is not None:
        index.add(_short_successor(last_key), pending)
    footer = metaindex + write_block(index.finish())
    out.extend(footer.ljust(FOOTER_SIZE - 8, b"\0") + struct.pack("<Q", MAGIC))
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# reading


def _read_handle(data: bytes, pos: int, where: str) -> tuple[int, int, int]:
    offset, pos = get_varint(data, pos, where)
    size, pos = get_varint(data, pos, where)
    return offset, size, pos


def _block(table: bytes, offset: int, size: int, where: str) -> bytes:
    end = offset + size + TRAILER_SIZE
    if end > len(table) - FOOTER_SIZE:
        raise DataLossError(f"{where}: block at {offset} (+{size} bytes) runs past the end")
    contents, kind = table[offset : offset + size], table[offset + size]
    (stored,) = struct.unpack_from("<I", table, offset + size + 1)
    if unmask(stored) != crc32c.crc32c(table[offset : offset + size + 1]):
        raise DataLossError(f"{where}: block checksum mismatch at offset {offset}")
    if kind == SNAPPY:
        raise UnimplementedError(
            f"{where}: block at {offset} is Snappy-compressed; only uncompressed tables are "
            "read (TensorFlow writes checkpoint indexes uncompressed)"
        )
    if kind != NO_COMPRESSION:
        raise DataLossError(f"{where}: unknown block compression type {kind}")
    return contents


def _entries(block: bytes, where: str) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise DataLossError(f"{where}: block too short")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 * (restarts + 1)
    if restarts == 0 or limit < 0:
        raise DataLossError(f"{where}: bad restart array ({restarts} restarts)")
    entries, key, pos = [], b"", 0
    while pos < limit:
        shared, pos = get_varint(block, pos, where)
        unshared, pos = get_varint(block, pos, where)
        length, pos = get_varint(block, pos, where)
        if shared > len(key) or pos + unshared + length > limit:
            raise DataLossError(f"{where}: bad entry at block offset {pos}")
        key = key[:shared] + block[pos : pos + unshared]
        entries.append((key, block[pos + unshared : pos + unshared + length]))
        pos += unshared + length
    return entries


def parse_table(table: bytes, where: str) -> dict[bytes, bytes]:
    """All key/value pairs of a table's bytes; `where` (the file) names it in errors."""
    if len(table) < FOOTER_SIZE:
        raise DataLossError(f"{where}: {len(table)} bytes, too short to be a table (truncated?)")
    (magic,) = struct.unpack_from("<Q", table, len(table) - 8)
    if magic != MAGIC:
        raise DataLossError(f"{where}: not a table (bad magic number; truncated or corrupt?)")
    footer_at = len(table) - FOOTER_SIZE
    _, _, pos = _read_handle(table, footer_at, where)
    index_offset, index_size, _ = _read_handle(table, pos, where)
    items: dict[bytes, bytes] = {}
    last = None
    for _, handle in _entries(_block(table, index_offset, index_size, where), where):
        offset, size, _ = _read_handle(handle, 0, where)
        for key, value in _entries(_block(table, offset, size, where), where):
            if last is not None and key <= last:
                raise DataLossError(f"{where}: keys out of order ({key!r} after {last!r})")
            items[key] = value
            last = key
    return items
