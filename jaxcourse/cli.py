"""The `jaxcourse` command line: `jaxcourse run CONFIG [key=value ...]` and friends.

Each subcommand is a (name, add_arguments, handler) triple in COMMANDS. Errors that users can
cause (JaxcourseError) are printed as one message with their exit code, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from jaxcourse.errors import JaxcourseError


def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML config file (see configs/)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key.sub=value",
        help="override config keys; values are parsed as YAML",
    )


def _run(args) -> int:
    from jaxcourse import config as config_lib
    from jaxcourse import perf
    from jaxcourse.runners import default_workdir, run_experiment

    perf.configure()  # XLA CPU flags and the compilation cache, before anything compiles

    config = config_lib.load(args.config, args.overrides)
    workdir = default_workdir(args.config, config)
    summary = run_experiment(config, workdir, args.config)
    print(
        json.dumps(
            {
                "workdir": str(workdir),
                "status": summary.get("status"),
                "final": summary.get("final"),
            },
            indent=2,
        )
    )
    return 0


def _add_config(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="config_command", required=True)
    show = sub.add_parser("show", help="print the resolved, validated config")
    _add_run(show)
    schema = sub.add_parser("schema", help="print every key of an experiment with its docs")
    schema.add_argument("experiment", nargs="?", default="supervised")
    schema.add_argument("key", nargs="?", default="", help="only keys under this one, e.g. model")


def _config(args) -> int:
    from jaxcourse import config as config_lib

    if args.config_command == "show":
        print(config_lib.dump_yaml(config_lib.load(args.config, args.overrides)), end="")
        return 0
    import jaxcourse.runners  # noqa: F401

    cls = config_lib.EXPERIMENTS.config_class(args.experiment, "experiment")
    for key, type_name, default, doc in config_lib.describe_schema(cls):
        if not key.startswith(args.key):
            continue
        print(f"{key}  [{type_name}{' = ' + default if default else ''}]\n    {doc}")
    return 0


def _add_tensorboard(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory (or a folder of runs, to compare them)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on")
    p.add_argument("--port", type=int, default=6006, help="port to serve on")


def _tensorboard(args) -> int:
    from jaxcourse.tensorboard.launch import launch

    return launch(args.run_dir, args.host, args.port)


def _add_graph(p: argparse.ArgumentParser) -> None:
    _add_run(p)
    p.add_argument("--logdir", required=True, help="directory for the TensorBoard event file")


def _graph(args) -> int:
    from jaxcourse.graph.train_step import write_train_step_graph

    print(json.dumps(write_train_step_graph(args.config, args.overrides, args.logdir), indent=2))
    return 0


def _add_sweep(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML config file (see configs/)")
    p.add_argument(
        "grid",
        nargs="+",
        metavar="key.sub=v1,v2,...",
        help="values of a key to try (YAML each); the sweep runs every combination",
    )
    p.add_argument("--workdir", help="sweep directory (default: runs/<config name>_sweep)")
    p.add_argument(
        "--sequential",
        action="store_true",
        help="run variants one by one even where they could be trained together",
    )


def _sweep(args) -> int:
    from jaxcourse.parallel import sweep

    grid = sweep.parse_grid(args.grid)
    sweep_dir = args.workdir or sweep.default_sweep_dir(args.config)
    result = sweep.run_sweep(args.config, grid, sweep_dir, stacked=not args.sequential)
    print((sweep_dir if isinstance(sweep_dir, str) else str(sweep_dir)) + "/sweep.md:")
    print(sweep.markdown_table(result), end="")
    for note in result["notes"]:
        print(f"note: {note}")
    return 0


def _add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory whose checkpoint to export (its ckpt/)")
    p.add_argument("--out", help="export directory (default: RUN_DIR/export)")
    p.add_argument("--step", default="latest", help="checkpoint: latest, best or a step number")
    p.add_argument(
        "--platforms", default="cpu", help="comma-separated platforms to lower for (cpu,cuda)"
    )


def _export(args) -> int:
    from jaxcourse.inference.export import export_run

    platforms = tuple(p.strip() for p in args.platforms.split(",") if p.strip())
    print(export_run(args.run_dir, args.out, args.step, platforms))
    return 0


def _add_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="+",
        metavar="EXPORT_DIR IMAGE",
        help="an export directory then image files (only images with --model)",
    )
    p.add_argument("--top-k", type=int, default=5, help="labels to print per image")
    p.add_argument("--model", choices=["inception_v3"], help="a pretrained model instead")
    p.add_argument(
        "--weights", help="inception_v3 weights (.h5); default: the cache, downloaded if online"
    )
    p.add_argument("--invert", action="store_true", help="invert pixels (dark-on-light images)")
    p.add_argument("--json", action="store_true", help="print JSON with all probabilities")


def _predict(args) -> int:
    from jaxcourse.inference.predict import Predictor, format_result

    if args.model:
        from jaxcourse.inference.pretrained import inception_v3_predictor

        predictor, images = inception_v3_predictor(args.weights), args.paths
    else:
        if len(args.paths) < 2:
            raise JaxcourseError("give an export directory and at least one image")
        predictor, images = Predictor.load(args.paths[0]), args.paths[1:]
    if args.invert:
        predictor.manifest["preprocessing"]["invert"] = True
    result = predictor.classify(images, args.top_k)
    print(format_result(result, args.json))
    for image, why in result.failures:
        print(f"jaxcourse predict: skipped '{image}': {why}", file=sys.stderr)
    return 1 if result.failures else 0


def _add_data(p: argparse.ArgumentParser) -> None:
    from jaxcourse.records import commands

    commands.add_arguments(p)


def _data(args) -> int:
    from jaxcourse.records import commands

    return commands.handle(args)


def _add_captcha_predict(p: argparse.ArgumentParser) -> None:
    from jaxcourse.inference import captcha

    captcha.add_arguments(p)


def _captcha_predict(args) -> int:
    from jaxcourse.inference import captcha

    return captcha.handle(args)


COMMANDS = [
    ("run", "run an experiment from a YAML config", _add_run, _run),
    ("config", "show a resolved config or the documented schema", _add_config, _config),
    ("tensorboard", "start TensorBoard on a run directory", _add_tensorboard, _tensorboard),
    (
        "graph",
        "write an experiment's train step as a graph (TensorBoard, DOT, jaxpr)",
        _add_graph,
        _graph,
    ),
    (
        "sweep",
        "run a config over a grid of values (numeric ones in one program)",
        _add_sweep,
        _sweep,
    ),
    ("export", "export a run's model (StableHLO + params + manifest)", _add_export, _export),
    ("predict", "classify images with an exported or pretrained model", _add_predict, _predict),
    (
        "data",
        "convert datasets to record files (TFRecord, ArrayRecord) and inspect them",
        _add_data,
        _data,
    ),
    (
        "captcha-predict",
        "read CAPTCHA images with a trained multitask run",
        _add_captcha_predict,
        _captcha_predict,
    ),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxcourse", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    handlers = {}
    for name, help_text, add_arguments, handler in COMMANDS:
        add_arguments(sub.add_parser(name, help=help_text))
        handlers[name] = handler
    args = parser.parse_args(argv)
    try:
        return handlers[args.command](args)
    except JaxcourseError as err:
        print(f"jaxcourse {args.command}: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
