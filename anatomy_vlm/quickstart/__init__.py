"""``anatomy-vlm quickstart``: the embedded default, end to end, offline, on one CPU machine.

1. knowledge graph: build (or load from cache) the KG from the shipped ontology and the report
   corpora in the ``torchxrayvision`` package; answer the headline queries;
2. data: a phantom training folder (train/validate/test splits, one seed) and two held-out
   test folders of ``--test-n`` films each (domains ``id`` and ``prior_shift``, another seed),
   all in the MIMIC-CXR-JPG + Chest ImaGenome layout; the training folder is read back
   through the real loader and its reports grounded;
3. train the three models with the ``quickstart`` preset: ``anatomy_vlm``, ``holistic`` (same
   backbone, text encoder, data and steps; image ↔ report only) and ``prior`` (image-blind);
   training never opens ``phantom_truth.jsonl`` or the lesion masks;
4. evaluate the three runs side by side on the test folders (the one evaluation protocol);
5. interpret one test film with the Anatomy-VLM run;
6. write ``summary.json`` and ``index.html`` and print one table.

Every argument is checked before anything is written; the output folder is recognised only by
the marker a quickstart wrote (:mod:`anatomy_vlm.quickstart.folder`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from anatomy_vlm.errors import ConfigError
from anatomy_vlm.quickstart.folder import OutputFolder

__all__ = ["run_quickstart", "add_parser", "QuickstartConfig"]

MODELS = ("anatomy_vlm", "holistic", "prior")
TEST_DOMAINS = ("id", "prior_shift")
ENTRIES = ("kg_answers.json", "phantom", *(f"phantom_test_{d}" for d in TEST_DOMAINS), "runs",
           "eval", "figures", "prediction.json", "summary.json", "index.html")


class QuickstartConfig:
    """Validated quickstart arguments (see ``anatomy-vlm quickstart --help``)."""

    def __init__(self, *, out: Path, n: int = 3000, test_n: int = 1500, size: int = 256,
                 seed: int = 0, steps: int | None = None, workers: int = 2) -> None:
        self.out, self.n, self.test_n, self.size = Path(out), n, test_n, size
        self.seed, self.steps, self.workers = seed, steps, workers
        if not 24 <= n <= 200_000:
            raise ConfigError(f"--n must be between 24 and 200000 training-folder films, got {n}")
        if not 24 <= test_n <= 200_000:
            raise ConfigError(f"--test-n must be between 24 and 200000 films per test domain, got {test_n}")
        if not 128 <= size <= 1024:
            raise ConfigError(f"--size must be between 128 and 1024 pixels, got {size}")
        if not 0 <= seed < 2**31:
            raise ConfigError(f"--seed must be between 0 and 2**31 - 1, got {seed}")
        if steps is not None and not 1 <= steps <= 1_000_000:
            raise ConfigError(f"--steps must be between 1 and 1000000, got {steps}")
        if not 1 <= workers <= 64:
            raise ConfigError(f"--workers must be between 1 and 64, got {workers}")

    @property
    def test_seed(self) -> int:
        """The held-out test folders' seed: never the training folder's."""
        return self.seed + 1_000_003


def add_parser(subparsers, *, name: str, help: str) -> None:
    parser = subparsers.add_parser(name, help=help, description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("anatomy_vlm_quickstart"),
                        help="output folder (default: ./anatomy_vlm_quickstart)")
    parser.add_argument("--n", type=int, default=3000, help="training-folder films (default 3000)")
    parser.add_argument("--test-n", type=int, default=1500,
                        help="held-out test films per domain, id and prior_shift (default 1500)")
    parser.add_argument("--size", type=int, default=256, help="phantom film size in pixels (default 256)")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps for every model (default: the quickstart preset's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="phantom worker processes (default 2)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    config = QuickstartConfig(out=args.out, n=args.n, test_n=args.test_n, size=args.size,
                              seed=args.seed, steps=args.steps, workers=args.workers)
    summary = run_quickstart(config)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        from anatomy_vlm.quickstart.report import print_summary

        print_summary(summary)
    return 0


def run_quickstart(config: QuickstartConfig) -> dict:
    """Run every stage; return the summary written to ``out/summary.json``."""
    from anatomy_vlm.quickstart import stages

    folder = OutputFolder(config.out, ENTRIES)
    previous = folder.check()  # every check before anything on disk changes
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    folder.prepare(previous)
    out = config.out
    summary: dict = {"out": str(out), "stages": {}, "links": {}}
    done = summary["stages"]
    done["kg"] = stages.knowledge_graph(out)
    done["phantoms"] = stages.phantoms(config)
    done["loader"] = stages.read_back(out / "phantom")
    done["report_grounding"] = stages.grounding(out / "phantom")
    done["films"] = stages.films(out / "phantom", out / "figures")
    done["train"] = stages.train_models(config, out / "phantom", out / "runs")
    test_folders = [out / f"phantom_test_{d}" for d in TEST_DOMAINS]
    done["evaluate"] = stages.evaluate_runs([out / "runs" / m for m in MODELS], test_folders, out / "eval")
    done["predict"] = stages.predict_one(out / "runs" / "anatomy_vlm", out / "phantom_test_id", out)
    summary["links"] = {"metrics.json": "eval/metrics.json", "scores.npz": "eval/scores.npz",
                        "prediction.json": "prediction.json", "runs": "runs/"}
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["machine"] = stages.machine_line()
    stages.write_json(out / "summary.json", summary)
    from anatomy_vlm.quickstart.page import render_page

    stages.write_text(out / "index.html", render_page(summary))
    return summary
