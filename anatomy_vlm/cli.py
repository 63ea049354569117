"""The one console script, ``anatomy-vlm``.

Subcommand groups register themselves through an ``add_parser(subparsers)`` function in their
own module and are imported lazily, so ``anatomy-vlm kg …``, ``report parse`` and
``data phantom`` never import torch.

A group called without its subcommand (``anatomy-vlm data``) prints that group's help and exits
with status 2. Bad input (any :class:`anatomy_vlm.errors.AnatomyVLMError` or :class:`kg.errors.KGError`,
an OSError from a path the user named, a RecursionError from a symlink loop or input nested too
deep) exits with status 2 and one line on stderr; ``--debug`` shows the traceback instead. A
command line that does not parse is one line too (every subparser is an :class:`OneLineParser`),
ending with where the help is.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit 2 (no usage block).

    ``add_subparsers`` builds subparsers of the parser's own class, so every group and leaf
    registered below it inherits this."""

    def error(self, message: str):  # type: ignore[override]
        text = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {text} (see '{self.prog} --help')\n")


# (subcommand, module that defines add_parser, help line)
_GROUPS = [
    ("kg", "kg.cli", "query and export the anatomy knowledge graph"),
    ("data", "anatomy_vlm.data.cli", "phantom generation and dataset tools"),
    ("report", "anatomy_vlm.report.cli", "report grounding"),
    ("train", "anatomy_vlm.engine.cli", "train a model (anatomy_vlm, holistic or prior) into a run directory"),
    ("evaluate", "anatomy_vlm.eval.cli", "evaluate run directories side by side (metrics.json, scores.npz)"),
    ("quickstart", "anatomy_vlm.quickstart", "run the embedded default end to end"),
]


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="anatomy-vlm",
        description="Anatomy-VLM: an anatomy-aware, knowledge-graph-driven vision-language model "
        "for chest radiographs. Not for clinical use.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, module, help_line in _GROUPS:
        if wanted != name:
            # A placeholder, so `--help` lists it without importing the module (or torch).
            sub.add_parser(name, help=help_line, add_help=False)
            continue
        importlib.import_module(module).add_parser(sub, name=name, help=help_line)
        group = sub.choices[name]
        if group.get_default("func") is None:  # a group called without its subcommand: its help, exit 2
            group.set_defaults(func=functools.partial(_print_help, group))
    return parser


def _print_help(parser: argparse.ArgumentParser, _args: argparse.Namespace) -> int:
    parser.print_help()
    return 2


def _version() -> str:
    from anatomy_vlm import __version__

    return f"anatomy-vlm {__version__}"


def _user_errors() -> tuple[type[BaseException], ...]:
    from anatomy_vlm.errors import AnatomyVLMError
    from kg.errors import KGError

    return (AnatomyVLMError, KGError, OSError, RecursionError)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except _user_errors() as err:
        if args.debug:
            raise
        print(f"anatomy-vlm: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _one_line(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return "input nested too deeply, or a symlink loop (RecursionError); --debug shows where"
    text = str(err) or type(err).__name__
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
