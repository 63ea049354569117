"""``anatomy-vlm train``: train one model kind into a run directory."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from anatomy_vlm.errors import ConfigError

__all__ = ["add_parser"]

KINDS = ("anatomy_vlm", "holistic", "prior")


def add_parser(
    subparsers, *, name: str = "train", help: str = "train a model"
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=help,
        description=(
            "Train a model kind (anatomy_vlm, holistic or the image-blind prior) on a dataset "
            "into a "
            "run directory (config.json, model.safetensors, metrics.csv). Not for clinical use."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", help="named preset (quickstart, base)")
    source.add_argument("--config", type=Path, help="JSON config file")
    parser.add_argument(
        "--data", type=Path, required=True, help="dataset root (MIMIC-CXR-JPG layout or phantom)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="run directory (new, empty or a previous run)"
    )
    parser.add_argument(
        "--model", default="anatomy_vlm", help="anatomy_vlm (default), holistic or prior"
    )
    parser.add_argument("--steps", type=int, help="optimiser steps (overrides the preset)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a config value (dotted for model.* and loss_weights.*); repeatable",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        metavar="N",
        help="save a resumable checkpoint in RUN_DIR/checkpoints every N steps (default 0: never)",
    )
    parser.add_argument(
        "--keep", type=int, default=3, metavar="K", help="keep the newest K checkpoints (default 3)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest sound checkpoint in --out (same config; "
        "from scratch when there is none)",
    )
    parser.set_defaults(func=_main)
    return parser


def _main(args: argparse.Namespace) -> int:
    from anatomy_vlm.engine import apply_overrides, load_config_file, load_preset, train
    from anatomy_vlm.engine.stop import TrainingInterrupted

    if args.model not in KINDS:
        raise ConfigError(f"--model {args.model!r}: expected one of {', '.join(KINDS)}")
    if not args.data.is_dir():
        raise ConfigError(f"--data {args.data}: not a folder")
    if args.checkpoint_every < 0 or args.keep < 1:
        raise ConfigError(
            f"--checkpoint-every must be >= 0 and --keep >= 1 "
            f"(got {args.checkpoint_every}, {args.keep})"
        )
    config = load_preset(args.preset) if args.preset else load_config_file(args.config)
    config = apply_overrides(config, args.overrides)
    if args.steps is not None:
        if args.steps < 1:
            raise ConfigError(f"--steps must be >= 1, got {args.steps}")
        config = replace(config, steps=args.steps)
    extra = {
        "preset": args.preset,
        "config_file": str(args.config) if args.config else None,
        "overrides": list(args.overrides) + ([f"steps={args.steps}"] if args.steps else []),
    }
    try:
        run_dir = _train(train, config, args, extra)
    except TrainingInterrupted as stopped:  # Ctrl-C: 130, SIGTERM: 143
        print(f"anatomy-vlm: {stopped}", file=sys.stderr)
        return stopped.exit_code
    if os.environ.get("RANK", "0") == "0":  # torchrun: one line, from rank 0
        print(run_dir)
    return 0


def _train(train, config, args: argparse.Namespace, extra: dict):
    return train(
        config,
        data=args.data,
        out=args.out,
        kind=args.model,
        progress=not args.quiet,
        extra=extra,
        checkpoint_every=args.checkpoint_every,
        keep=args.keep,
        resume=args.resume,
    )
