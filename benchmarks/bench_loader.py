"""Data-loader throughput on a phantom dataset, against the cost of decoding its JPEGs alone.

Writes a phantom dataset (512 px) once, then times, in one run:

- the floor: reading and decoding each JPEG to a float array, nothing else;
- ``dataset[i]`` in process (1 core): 512 px and resized to 224, with and without masks;
- ``DataLoader(batch_size=32, collate_fn=collate)`` with 0 and 2 worker processes at 224 px.

Run: ``.venv/bin/python -m benchmarks.bench_loader [--n 300]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._machine import write_result


def _rate(fn, n: int) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args(argv)
    import torch

    from anatomy_vlm.data.datasets import open_dataset
    from anatomy_vlm.data.io import read_image
    from anatomy_vlm.data.phantom.generate import PhantomConfig, generate
    from anatomy_vlm.data.types import collate

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bench-loader-"))
    started, load_before = time.perf_counter(), os.getloadavg()
    try:
        root = work / "phantom"
        generate(PhantomConfig(out=root, n=args.n, size=512, seed=0))
        jpegs = sorted((root / "files").rglob("*.jpg"))
        for path in jpegs:  # warm the page cache for every variant alike
            path.read_bytes()
        floor = max(_rate(lambda: [read_image(p) for p in jpegs], len(jpegs)) for _ in range(2))
        rows = [{"variant": "JPEG decode only (floor)", "samples_per_s": round(floor, 1), "of_floor": 1.0}]
        for size, masks in ((None, False), (224, False), (None, True), (224, True)):
            ds = open_dataset("phantom", root, image_size=size, load_masks=masks)
            ds[0]
            rate = max(_rate(lambda ds=ds: [ds[i] for i in range(len(ds))], len(ds)) for _ in range(2))
            rows.append({"variant": f"dataset[i], {size or 512} px, masks {'on' if masks else 'off'}, 1 core",
                         "samples_per_s": round(rate, 1), "of_floor": round(rate / floor, 2)})
        ds = open_dataset("phantom", root, image_size=224, load_masks=False)
        for workers in (0, 2):
            loader = torch.utils.data.DataLoader(ds, batch_size=32, collate_fn=collate, num_workers=workers)

            def run(loader=loader):
                for _ in loader:
                    pass

            rate = max(_rate(run, len(ds)) for _ in range(2))
            rows.append({"variant": f"DataLoader batch 32, 224 px, masks off, {workers} workers",
                         "samples_per_s": round(rate, 1), "of_floor": round(rate / floor, 2)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for row in rows:
        print(f"{row['variant']:<55} {row['samples_per_s']:>8.1f}/s  {row['of_floor']:.2f} of floor")
    payload = {"n": args.n, "total_seconds": round(time.perf_counter() - started, 1),
               "load_average_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
               "rows": rows}
    lines = ["# Data-loader throughput (phantom, 512 px JPEGs)", "",
             f"n = {args.n}; the floor is reading and decoding the JPEG alone. Best of two passes each.", "",
             "| variant | samples/s | share of the JPEG-decode floor |", "|---|---|---|"]
    lines += [f"| {r['variant']} | {r['samples_per_s']} | {r['of_floor']:.0%} |" for r in rows]
    out = write_result("loader", payload, markdown="\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0 if np.isfinite(floor) else 1


if __name__ == "__main__":
    raise SystemExit(main())
