"""``anatomy-vlm data …`` subcommands. Import-light: nothing here (or below) imports torch.

``anatomy-vlm data phantom --out DIR --n N [--size PX] [--domain NAME] [--seed S] [--workers W]
[--normal-fraction F] [--json]`` writes a phantom dataset in the MIMIC-CXR-JPG + Chest ImaGenome
layout. ``DIR`` must be missing, empty, or a previous phantom output holding nothing else (known
by its marker file; only the files it lists are replaced); the data is written to a temporary
sibling folder and renamed into place when complete; SIGTERM/SIGINT remove that folder.

``anatomy-vlm data check DATASET ROOT [--option KEY=VALUE …] [--limit N] [--json]`` opens a
dataset with its loader and reports what would be trained on (:mod:`anatomy_vlm.data.check`).
"""

from __future__ import annotations

import argparse
import json
import sys
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
                     "DATA_CARD.md). OUT must be missing, empty, or a previous phantom output and nothing else "
                     "(known by its marker file; only its files are replaced); "
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
    check = leaves.add_parser(
        "check",
        help="open a dataset with its loader and report what would be trained on",
        description=("Open DATASET at ROOT with the project's loader (every split), decode the samples and "
                     "report: kept / skipped files by reason, images / studies / patients per split, patients "
                     "shared between splits, image sizes, region-box and region-label coverage, per-finding "
                     "positive / negative / uncertain / not-mentioned counts, grounded sentences and masks. "
                     "Counts only; no patient or image identifier is printed. Exit 1 when the data breaks the "
                     "contract (e.g. a patient in two splits), 2 on bad input."),
    )
    check.add_argument("dataset", help="mimic, phantom, chexpert, nih, rsna, siim, vindr, padchest or openi")
    check.add_argument("root", type=Path, help="the dataset's root folder")
    check.add_argument("--finding-set", default="core", dest="finding_set", help="finding set (default core)")
    check.add_argument("--region-set", default="cig29", dest="region_set", help="region set (default cig29)")
    check.add_argument("--policy", default="skip", help="bad-input policy: skip (default) or strict")
    check.add_argument("--uncertainty", default="ignore", help="uncertain labels: ignore (default), ones or zeros")
    check.add_argument("--all-views", action="store_true", dest="all_views",
                       help="keep lateral films too (default: frontal PA/AP only)")
    check.add_argument("--limit", type=int, default=None, help="decode at most this many samples")
    check.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="a loader option, repeatable, checked before the dataset is opened (e.g. "
                            "imagenome_root=/data/ig, min_box_votes=2, verify=true); an unknown key or a "
                            "bad value exits 2 and names the known options")
    check.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    check.set_defaults(func=_run_check)
    return group


def _run_phantom(args: argparse.Namespace) -> int:
    from anatomy_vlm.data.phantom.generate import Interrupted, PhantomConfig, generate

    config = PhantomConfig(out=args.out, n=args.n, size=args.size, domain=args.domain, seed=args.seed,
                           workers=args.workers, normal_fraction=args.normal_fraction)
    try:
        result = generate(config)
    except Interrupted as stop:  # its temporary folder is already gone; 128 + N, as the shell says
        print(f"anatomy-vlm: stopped by signal {stop.signum}; its temporary folder was removed", file=sys.stderr)
        return 128 + stop.signum
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        summary = result.to_json()
        print(f"wrote {result.n} phantom images ({result.size} px, domain {result.domain}) to {result.out} "
              f"in {summary['seconds']} s ({summary['images_per_s']} images/s); splits {result.splits}")
    return 0


def _run_check(args: argparse.Namespace) -> int:
    from anatomy_vlm.data.check import check_dataset, parse_options
    from anatomy_vlm.errors import ConfigError

    if args.limit is not None and args.limit < 0:
        raise ConfigError(f"--limit must be >= 0, got {args.limit}")
    result = check_dataset(args.dataset, args.root, limit=args.limit, options=parse_options(args.option),
                           finding_set=args.finding_set, region_set=args.region_set, policy=args.policy,
                           uncertainty=args.uncertainty, frontal_only=not args.all_views)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print("\n".join(result.lines()))
    return 1 if result.problems else 0
