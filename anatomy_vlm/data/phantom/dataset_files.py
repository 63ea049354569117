"""Dataset-level files of a phantom dataset, written by the parent in index order.

``mimic-cxr-2.0.0-{split,chexpert,metadata}.csv.gz``, ``silver_dataset/splits/{train,valid,test}.csv``
(Chest ImaGenome calls the middle split ``valid``; MIMIC's split CSV says ``validate``),
``phantom_truth.jsonl`` and ``DATA_CARD.md``.
"""

from __future__ import annotations

from pathlib import Path

from anatomy_vlm.data.phantom import writer

__all__ = ["write_dataset_files", "finding_counts", "omitted_counts"]

_PROCEDURE = {"PA": "CHEST (PA AND LAT)", "AP": "CHEST (PORTABLE AP)"}
_VIEW_MEANING = {"PA": "postero-anterior", "AP": "antero-posterior"}
_ORIENTATION = {"PA": "Erect", "AP": "Recumbent"}


def write_dataset_files(root: Path, config, records: list[dict], *, priors, maps) -> None:
    """Write every per-dataset file of ``records`` (one per image, in index order) under ``root``."""
    records = sorted(records, key=lambda r: r["index"])
    writer.write_csv_gz(root / "mimic-cxr-2.0.0-split.csv.gz", ("dicom_id", "study_id", "subject_id", "split"),
                        ((r["ids"].dicom_id, r["ids"].study_id, r["ids"].subject_id, r["split"]) for r in records))
    writer.write_csv_gz(root / "mimic-cxr-2.0.0-chexpert.csv.gz", ("subject_id", "study_id", *writer.CHEXPERT_COLUMNS),
                        ((r["ids"].subject_id, r["ids"].study_id, *(r["chexpert"][c] for c in writer.CHEXPERT_COLUMNS))
                         for r in records))
    writer.write_csv_gz(root / "mimic-cxr-2.0.0-metadata.csv.gz", writer.METADATA_COLUMNS,
                        (_metadata_row(r) for r in records))
    silver = {"train": [], "valid": [], "test": []}
    for r in records:
        key = "valid" if r["split"] == "validate" else r["split"]
        ids = r["ids"]
        silver[key].append((ids.dicom_id, ids.subject_id, ids.study_id, ids.image_path.replace(".jpg", ".dcm")))
    for name, rows in silver.items():
        writer.write_csv(root / "silver_dataset" / "splits" / f"{name}.csv",
                         ("dicom_id", "subject_id", "study_id", "path"), rows)
    with open(root / "phantom_truth.jsonl", "w", encoding="utf-8") as handle:
        for r in records:
            handle.write(writer.dumps(r["truth"]) + "\n")
    (root / "DATA_CARD.md").write_text(_data_card(config, records, priors.source, maps.source), encoding="utf-8")


def finding_counts(records: list[dict]) -> dict[str, int]:
    """Images per rendered finding id (from each record's truth), sorted by id."""
    counts: dict[str, int] = {}
    for record in records:
        for finding in record["truth"]["findings"]:
            counts[finding["finding"]] = counts.get(finding["finding"], 0) + 1
    return dict(sorted(counts.items()))


def omitted_counts(records: list[dict]) -> dict[str, int]:
    """Films per cig36 region that the film does not show (no box written), sorted by id."""
    counts: dict[str, int] = {}
    for record in records:
        for region in record["truth"]["regions_omitted"]:
            counts[region] = counts.get(region, 0) + 1
    return dict(sorted(counts.items()))


def _metadata_row(record: dict) -> tuple:
    ids, view, index = record["ids"], record["view"], record["index"]
    # shifted dates as MIMIC ships them: a fixed future epoch plus the study index
    day = 1 + index % 28
    month = 1 + (index // 28) % 12
    year = 2150 + index // 336
    time_of_day = f"{(7 + index % 12):02d}{(index * 7) % 60:02d}{(index * 13) % 60:02d}.000"
    return (ids.dicom_id, ids.subject_id, ids.study_id, _PROCEDURE[view], view, record["rows"], record["cols"],
            f"{year:04d}{month:02d}{day:02d}", time_of_day, _PROCEDURE[view], _VIEW_MEANING[view],
            _ORIENTATION[view])


def _data_card(config, records: list[dict], prior_source: str, label_source: str) -> str:
    from anatomy_vlm.data.phantom.context import CARD_MARKER
    from anatomy_vlm.data.phantom.regions import MIN_BOX_CM2, MIN_SIDE_CM

    counts = finding_counts(records)
    normal = sum(not r["truth"]["findings"] for r in records)
    splits = {s: sum(r["split"] == s for r in records) for s in ("train", "validate", "test")}
    table = "\n".join(f"| {k} | {v} |" for k, v in counts.items())
    omitted = omitted_counts(records)
    omitted_table = "\n".join(f"| {k} | {v} |" for k, v in omitted.items()) or "| (none) | 0 |"
    return f"""# Data card — {CARD_MARKER}

**Synthetic. Not for clinical use.** Every image is a procedural phantom, not a patient; no
real person's data is in this folder. Do not use it to make or support any clinical decision.

## What it is
{len(records)} frontal chest radiograph phantoms ({config.size} px, domain `{config.domain}`), written in
the MIMIC-CXR-JPG + Chest ImaGenome on-disk layout so the real-data loader reads it unchanged.
Splits are patient-level: train {splits['train']}, validate {splits['validate']}, test {splits['test']}.
Normal films: {normal}. The hidden file `.anatomy-vlm-phantom` (format id, then every file the
generator wrote) marks the folder as its output: a new run into it replaces only those files, and
refuses a folder that holds anything else.

## How it was made
`anatomy-vlm data phantom --n {config.n} --size {config.size} --domain {config.domain} --seed {config.seed}`
(normal fraction {config.normal_fraction}). Image *i* uses its own generator seeded by
`(seed, i)`: same seed, same bytes, whatever the number of workers.

1. Findings, sides, severities (subtle → obvious) and target regions are sampled; location and
   co-occurrence priors: `{prior_source}` (domain `prior_shift` ignores them on purpose).
2. The film is rendered procedurally (anatomy from a lung-shape model fitted to real lung
   masks; lesions, devices, acquisition style per domain).
3. Region truth (`anatomy_vlm.data.region_truth`) decides where each finding is named.
4. A free-text report (FINDINGS, IMPRESSION) is written from the truth.
5. The CheXpert CSV and the scene-graph attributes are derived from that report by the
   project's report parser, as on real data (label maps: `{label_source}`). They can
   therefore miss or hedge what the truth holds.

`phantom_truth.jsonl` holds the exact truth (findings with severity, regions, boxes, masks;
region boxes; anatomy measurements). It is for evaluation only; training must not read it.

## Findings rendered
| finding | images |
|---|---|
{table}

## Regions not shown
A region the film does not show (its box would be under {MIN_BOX_CM2:g} cm² or thinner than
{MIN_SIDE_CM:g} cm, e.g. the apical zones of a lordotic AP film, where the clavicles project over
the apices) is left out of the scene graph, as Chest ImaGenome leaves out a region it could not
place: no box, no mask, never named in the truth or the report; the loader reads it as missing
(box and labels NaN). The truth file lists them per film (`regions_omitted`).

| region | films without it |
|---|---|
{omitted_table}

## Limits
A phantom is simpler than a radiograph: shapes, textures, noise and device appearance are
models. Results on it show that a method can work, not that it works on patients.
"""
