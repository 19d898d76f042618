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


def _config(args) -> int:
    from jaxcourse import config as config_lib

    if args.config_command == "show":
        print(config_lib.dump_yaml(config_lib.load(args.config, args.overrides)), end="")
        return 0
    import jaxcourse.runners  # noqa: F401

    cls = config_lib.EXPERIMENTS.config_class(args.experiment, "experiment")
    for key, type_name, default, doc in config_lib.describe_schema(cls):
        print(f"{key}  [{type_name}{' = ' + default if default else ''}]\n    {doc}")
    return 0


def _add_tensorboard(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory (or a folder of runs, to compare them)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on")
    p.add_argument("--port", type=int, default=6006, help="port to serve on")


def _tensorboard(args) -> int:
    from jaxcourse.tensorboard_launch import launch

    return launch(args.run_dir, args.host, args.port)


def _add_graph(p: argparse.ArgumentParser) -> None:
    _add_run(p)
    p.add_argument("--logdir", required=True, help="directory for the TensorBoard event file")


def _graph(args) -> int:
    from jaxcourse.step_graph import write_train_step_graph

    print(json.dumps(write_train_step_graph(args.config, args.overrides, args.logdir), indent=2))
    return 0


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
