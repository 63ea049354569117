"""Contact sheet of phantom films with lesion boxes and findings drawn, for a human to look at.

Default: runs ``anatomy-vlm data phantom`` (the real CLI) into a temporary folder and picks a
dozen films covering as many findings as it can; ``--data DIR`` uses an existing phantom
dataset instead; ``--direct`` renders a fixed showcase with :func:`render` (one film per
finding group, one per acquisition domain). Writes benchmarks/results/phantom_contact_sheet.png.

Run: ``.venv/bin/python -m benchmarks.contact_sheet [--data DIR | --direct] [--out PNG]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks._machine import RESULTS

COLOURS = [(255, 64, 64), (64, 200, 255), (255, 200, 0), (120, 255, 120), (255, 120, 255), (255, 150, 60)]
TILE = 512


def _tile(image: np.ndarray, findings: list[dict], regions: dict, caption: str) -> Image.Image:
    im = Image.fromarray(image).convert("RGB")
    if im.size != (TILE, TILE):
        scale = TILE / im.size[0]
        im = im.resize((TILE, TILE))
    else:
        scale = 1.0
    d = ImageDraw.Draw(im)
    for rid in ("right_lung", "left_lung", "cardiac_silhouette"):
        if rid in regions:
            d.rectangle([v * scale for v in regions[rid]], outline=(90, 90, 160))
    y = 4
    d.text((4, y), caption, fill=(255, 255, 255))
    for k, f in enumerate(findings):
        c = COLOURS[k % len(COLOURS)]
        if f.get("box"):
            d.rectangle([v * scale for v in f["box"]], outline=c, width=2)
        if f.get("tip"):
            x, ty = (v * scale for v in f["tip"])
            d.ellipse([x - 4, ty - 4, x + 4, ty + 4], outline=c, width=2)
        y += 12
        side = f.get("side") or ""
        d.text((4, y), f"{f['finding']} {side} sev {f.get('severity', 0):.2f}", fill=c)
    return im


def _grid(tiles: list[Image.Image], cols: int = 4) -> Image.Image:
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * TILE, rows * TILE))
    for k, t in enumerate(tiles):
        sheet.paste(t, ((k % cols) * TILE, (k // cols) * TILE))
    return sheet


def _pick(records: list[dict], n: int) -> list[dict]:
    """Greedy: films adding the most unseen findings first, then any, normal films last."""
    seen: set[str] = set()
    chosen: list[dict] = []
    pool = list(records)
    while pool and len(chosen) < n:
        best = max(pool, key=lambda r: (len({f["finding"] for f in r["findings"]} - seen), len(r["findings"])))
        pool.remove(best)
        chosen.append(best)
        seen |= {f["finding"] for f in best["findings"]}
    return chosen


def from_dataset(root: Path, n: int = 12) -> list[Image.Image]:
    records = [json.loads(line) for line in (root / "phantom_truth.jsonl").read_text().splitlines() if line]
    tiles = []
    for r in _pick(records, n):
        image = np.asarray(Image.open(root / r["image"]).convert("L"))
        findings = [{**f, "tip": (f.get("params") or {}).get("tip_xy")} for f in r["findings"]]
        tiles.append(_tile(image, findings, r["region_boxes"], f"{r['domain']} {r['view']} {r['dicom_id'][:8]}"))
    return tiles


def direct(n: int = 12) -> list[Image.Image]:
    from anatomy_vlm.data.phantom.lesions import LesionSpec
    from anatomy_vlm.data.phantom.render import render, sample_patient

    showcase = [
        ("id", []), ("id", [("consolidation", 0.8, "right", {"lobe": "rml"})]),
        ("id", [("pleural_effusion", 0.25, "left", {}), ("cardiomegaly", 0.7, None, {})]),
        ("id", [("pneumothorax", 0.6, "right", {})]), ("id", [("nodule", 0.6, "left", {}), ("mass", 0.7, "right", {})]),
        ("id", [("pulmonary_edema", 0.8, None, {}), ("pleural_effusion", 0.7, None, {})]),
        ("id", [("atelectasis", 0.8, "left", {}), ("lung_opacity", 0.6, "right", {})]),
        ("id", [("hilar_enlargement", 0.7, None, {}), ("mediastinal_widening", 0.8, None, {})]),
        ("id", [("rib_fracture", 0.9, "right", {}), ("clavicle_fracture", 0.9, "left", {})]),
        ("portable_ap", [("endotracheal_tube", 0.5, None, {}), ("enteric_tube", 0.5, None, {}),
                         ("central_venous_catheter", 0.5, "right", {})]),
        ("low_dose", [("pacemaker", 0.5, None, {}), ("consolidation", 0.6, "left", {"lobe": "lll"})]),
        ("other_scanner", [("pleural_effusion", 0.9, "right", {})]),
    ]
    tiles = []
    for k, (domain, items) in enumerate(showcase[:n]):
        rng = np.random.default_rng(1000 + k)
        specs = [LesionSpec(finding=f, severity=s, side=side, params=p) for f, s, side, p in items]
        film = render(sample_patient(rng, domain=domain), specs, size=TILE, domain=domain, rng=rng)
        findings = [{"finding": les.spec.finding, "severity": les.spec.severity, "side": les.spec.side,
                     "box": les.box, "tip": les.tip} for les in film.lesions]
        tiles.append(_tile(film.image, findings, film.boxes, f"{domain} {film.patient.view} (render)"))
    return tiles


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--direct", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "phantom_contact_sheet.png")
    ap.add_argument("--n", type=int, default=12)
    args = ap.parse_args(argv)
    if args.direct:
        tiles = direct(args.n)
    elif args.data:
        tiles = from_dataset(args.data, args.n)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "phantom"
            cli = Path(sys.executable).parent / "anatomy-vlm"
            subprocess.run([str(cli), "data", "phantom", "--out", str(out), "--n", str(4 * args.n),
                            "--size", str(TILE), "--seed", "7"], check=True)
            tiles = from_dataset(out, args.n)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _grid(tiles).save(args.out)
    print(args.out)
    return args.out


if __name__ == "__main__":
    main()
