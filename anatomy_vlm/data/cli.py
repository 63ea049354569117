"""``anatomy-vlm data …`` subcommands. Import-light: nothing here (or below) imports torch.

``anatomy-vlm data phantom --out DIR --n N [--size PX] [--domain NAME] [--seed S] [--workers W]
[--normal-fraction F] [--json]`` writes a phantom dataset in the MIMIC-CXR-JPG + Chest ImaGenome
layout. ``DIR`` must be missing, empty, or a previous phantom output (replaced whole); the data
is written to a temporary sibling folder and renamed into place when complete.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_parser"]


def add_parser(subparsers, *, name: str = "data", help: str = "phantom generation and dataset tools") -> argparse.ArgumentParser:
    """Register the ``data`` group and its leaf commands on ``subparsers``."""
    group = subparsers.add_parser(name, help=help, description=help)
    leaves = group.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    phantom = leaves.add_parser(
        "phantom",
        help="write a procedural phantom dataset (MIMIC-CXR-JPG + Chest ImaGenome layout)",
        description=("Write a procedural phantom chest radiograph dataset in the MIMIC-CXR-JPG + Chest "
                     "ImaGenome layout (images, reports, label CSVs, scene graphs, masks, phantom_truth.jsonl, "
                     "DATA_CARD.md). OUT must be missing, empty, or a previous phantom output (replaced whole); "
                     "the data is written to a temporary sibling folder and renamed into place when complete. "
                     "Not for clinical use."),
    )
    phantom.add_argument("--out", required=True, type=Path, help="output folder (missing, empty, or a previous phantom)")
    phantom.add_argument("--n", required=True, type=int, help="number of images")
    phantom.add_argument("--size", type=int, default=512, help="image side in pixels, 128..1024 (default 512)")
    phantom.add_argument("--domain", default="id",
                         help="id (default), prior_shift, portable_ap, low_dose or other_scanner")
    phantom.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same bytes")
    phantom.add_argument("--workers", type=int, default=0,
                         help="parallel worker processes; 0 = one per CPU core (default); output is identical for any W")
    phantom.add_argument("--normal-fraction", type=float, default=0.3, dest="normal_fraction",
                         help="fraction of films with no finding (default 0.3)")
    phantom.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    phantom.set_defaults(func=_run_phantom)
    group.set_defaults(func=lambda _args: _print_group_help(group))
    return group


def _print_group_help(group: argparse.ArgumentParser) -> int:
    group.print_help()
    return 2


def _run_phantom(args: argparse.Namespace) -> int:
    from anatomy_vlm.data.phantom.generate import PhantomConfig, generate

    config = PhantomConfig(out=args.out, n=args.n, size=args.size, domain=args.domain, seed=args.seed,
                           workers=args.workers, normal_fraction=args.normal_fraction)
    result = generate(config)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        summary = result.to_json()
        print(f"wrote {result.n} phantom images ({result.size} px, domain {result.domain}) to {result.out} "
              f"in {summary['seconds']} s ({summary['images_per_s']} images/s); splits {result.splits}")
    return 0
