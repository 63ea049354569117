"""Check a dataset before training on it: what loads, how it splits, what its labels hold.

``check_dataset(name, root, **loader_kwargs)`` opens the dataset through the same registry and
loader the model uses (every split at once), decodes the samples and returns a
:class:`DatasetCheck`: the load summary (kept / skipped by reason), images, studies and patients
per split, patients shared between splits (must be none), image sizes, region-box coverage,
per-finding positive / negative / uncertain / not-mentioned counts at image level, region-label
coverage, grounded report sentences and masks. ``skipped`` counts every skipped input by reason,
at load and at decode (``unreadable_reasons``: the decode-time part). ``problems`` lists what
breaks the data contract;
the CLI (``anatomy-vlm data check``) exits 1 when there are any.

Patient and image identifiers are never part of the result: it holds counts only, and its
messages name table rows and sample numbers, never ids.

Loader options given as text (``--option KEY=VALUE``) are converted by the loader's own typed
converters (:attr:`CXRDataset.OPTIONS`) before the dataset is opened: an unknown key or a bad
value is a ConfigError (exit 2), never a failure blamed on every sample.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from anatomy_vlm.errors import AnatomyVLMError, ConfigError, DataError

__all__ = ["DatasetCheck", "check_dataset", "parse_options"]

SPLITS = ("train", "valid", "test")
_LESION = re.compile(r"lesion_\d+_(.+)")


@dataclass
class DatasetCheck:
    """Counts describing one dataset as the loader sees it (JSON-ready through :meth:`to_json`)."""

    dataset: str
    load_summary: str
    kept: int
    skipped: dict[str, int]
    region_set: dict[str, str]
    finding_set: dict[str, str]
    splits: dict[str, dict[str, int]]
    patients_shared: dict[str, int]
    checked: int = 0
    unreadable: int = 0
    unreadable_reasons: dict[str, int] = field(default_factory=dict)
    invalid: int = 0
    image_size: dict[str, list[int]] = field(default_factory=dict)
    region_boxes: dict[str, float] = field(default_factory=dict)
    findings: dict[str, dict[str, int]] = field(default_factory=dict)
    region_label_coverage: float = 0.0
    grounded_sentences: int = 0
    finding_boxes: int = 0
    masks: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """A short human-readable report."""
        out = [self.load_summary,
               f"sets: regions {self.region_set['name']} ({self.region_set['hash']}), "
               f"findings {self.finding_set['name']} ({self.finding_set['hash']})"]
        out.append("splits: " + "; ".join(
            f"{s} {c['images']} images / {c['studies']} studies / {c['patients']} patients"
            for s, c in self.splits.items()))
        shared = sum(self.patients_shared.values())
        out.append("patients shared between splits: " + (str(shared) if shared else "none"))
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.unreadable_reasons.items()))
        out.append(f"decoded {self.checked} samples: {self.unreadable} unreadable"
                   + (f" ({reasons})" if reasons else "") + f", {self.invalid} failing the "
                   f"sample contract; sizes {self.image_size.get('min')} .. {self.image_size.get('max')} (H, W)")
        if self.region_boxes:
            out.append(f"region boxes: {self.region_boxes['present']:.1%} of region slots boxed")
        out.append(f"region labels: {self.region_label_coverage:.1%} of [region, finding] cells labelled; "
                   f"{self.grounded_sentences} grounded report sentences; {self.finding_boxes} finding boxes")
        if self.masks:
            out.append("masks: " + ", ".join(f"{k} {v}" for k, v in sorted(self.masks.items())))
        width = max((len(f) for f in self.findings), default=7)
        out.append(f"{'finding':<{width}}  positive  negative  uncertain  not mentioned")
        for finding, c in self.findings.items():
            out.append(f"{finding:<{width}}  {c['positive']:>8}  {c['negative']:>8}  {c['uncertain']:>9}  "
                       f"{c['not_mentioned']:>13}")
        out.append("problems: " + ("; ".join(self.problems) if self.problems else "none")
                   + f" ({self.seconds:.1f} s)")
        return out


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """``["imagenome_root=/data/ig", "min-box-votes=2"]`` -> ``{key: text}`` (keys with ``_``).

    Values stay text: the loader's converters type and check them (:func:`check_dataset`). A
    pair without ``=``, a key that is not a name, or a key given twice raises ConfigError.
    """
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ConfigError(f"--option expects KEY=VALUE, got {pair!r}")
        if key in options:
            raise ConfigError(f"--option {key} given twice")
        options[key] = value.strip()
    return options


def check_dataset(
    name: str,
    root: str | Path,
    *,
    limit: int | None = None,
    options: dict[str, Any] | None = None,
    **loader_kwargs: Any,
) -> DatasetCheck:
    """Open ``name`` at ``root`` (all splits) and count what the model would see.

    ``limit`` caps how many samples are decoded (the index and split counts always cover the
    whole dataset). ``options`` (text or typed values, e.g. from ``--option``) are converted
    by the loader's typed converters before anything is opened; other keyword arguments go to
    the loader as they are (see ``open_dataset``).
    """
    from anatomy_vlm.data.datasets import dataset_class

    start = time.perf_counter()
    if "split" in loader_kwargs or "split" in (options or {}):
        raise ConfigError("data check covers every split; do not pass split")
    loader = dataset_class(name)
    typed = loader.coerce_options(dict(options or {}))
    clash = sorted(set(typed) & set(loader_kwargs))
    if clash:
        raise ConfigError(f"{name}: {', '.join(clash)} given both as an option and as an argument")
    try:
        dataset = loader(root, **typed, **loader_kwargs)
    except TypeError as err:  # a keyword argument the loader does not take
        raise ConfigError(f"{name}: {err}") from None
    check = DatasetCheck(
        dataset=dataset.source, load_summary=dataset.report.summary(), kept=dataset.report.kept,
        skipped=dict(dataset.report.skipped),
        region_set={"name": dataset.region_set.name, "hash": dataset.region_set.hash},
        finding_set={"name": dataset.finding_set.name, "hash": dataset.finding_set.hash},
        splits=_split_counts(dataset.records), patients_shared=_shared_patients(dataset.records),
    )
    if any(check.patients_shared.values()):
        check.problems.append("patients shared between splits: " + ", ".join(
            f"{pair} {n}" for pair, n in check.patients_shared.items() if n))
    if not dataset.records:
        check.problems.append("no images kept")
    at_load = Counter(dataset.report.skipped)
    _decode(dataset, check, limit)
    check.unreadable_reasons = dict(Counter(dataset.report.skipped) - at_load)
    check.skipped = dict(dataset.report.skipped)  # at load and at decode, by reason
    check.seconds = round(time.perf_counter() - start, 2)
    return check


def _split_counts(records) -> dict[str, dict[str, int]]:
    counts = {}
    for split in sorted({r.split for r in records}, key=lambda s: SPLITS.index(s) if s in SPLITS else 9):
        rows = [r for r in records if r.split == split]
        counts[split] = {"images": len(rows), "studies": len({r.study_id for r in rows}),
                         "patients": len({r.subject_id for r in rows})}
    return counts


def _shared_patients(records) -> dict[str, int]:
    patients: dict[str, set[str]] = {}
    for r in records:
        patients.setdefault(r.split, set()).add(r.subject_id)
    return {f"{a}|{b}": len(patients[a] & patients[b]) for a, b in combinations(sorted(patients), 2)}


def _safe_text(err: Exception) -> str:
    """The error's type, and its text only when the project wrote it (typed errors, the sample
    contract's): a foreign message may quote a value from the data, an id among them."""
    from anatomy_vlm.data.types import SampleContractError

    own = isinstance(err, (AnatomyVLMError, SampleContractError))
    text = " ".join(str(err).split())[:160] if own else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _mask_kind(name: str) -> str:
    """``lesion_03_nodule`` -> ``lesion: nodule``; anatomy masks keep their name."""
    match = _LESION.fullmatch(name)
    return f"lesion: {match.group(1)}" if match else name


def _decode(dataset, check: DatasetCheck, limit: int | None) -> None:
    import torch

    findings = list(dataset.finding_set.ids)
    tallies = {f: Counter() for f in findings}
    masks: Counter = Counter()
    heights, widths = [], []
    slots = boxed = labelled_cells = cells = 0
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for index in range(n):
        try:
            sample = dataset[index]
        except DataError:
            raise  # the strict policy: the first bad input ends the check (exit 2, one line)
        except Exception as err:  # CXRSample.validate (shapes, boxes, labels): a loader bug
            check.invalid += 1
            if check.invalid <= 3:
                check.problems.append(f"sample {index}: {_safe_text(err)}")
            continue
        check.checked += 1
        if sample is None:  # skipped under the "skip" policy, counted in the load report
            check.unreadable += 1
            continue
        height, width = sample.height, sample.width
        heights.append(height)
        widths.append(width)
        present = ~torch.isnan(sample.boxes).any(dim=1)
        slots += len(present)
        boxed += int(present.sum())
        cells += sample.region_labels.numel()
        labelled_cells += int((~torch.isnan(sample.region_labels)).sum())
        for j, finding in enumerate(findings):
            value, uncertain = float(sample.image_labels[j]), bool(sample.image_uncertain[j])
            key = ("uncertain" if uncertain else "not_mentioned" if math.isnan(value)
                   else "positive" if value == 1 else "negative")
            tallies[finding][key] += 1
        check.grounded_sentences += len(sample.sentences)
        check.finding_boxes += int(sample.finding_boxes.shape[0])
        masks.update(_mask_kind(name) for name in sample.masks)
    if heights:
        check.image_size = {"min": [min(heights), min(widths)], "max": [max(heights), max(widths)]}
    if slots:
        check.region_boxes = {"present": round(boxed / slots, 4)}
    check.region_label_coverage = round(labelled_cells / cells, 4) if cells else 0.0
    check.findings = {f: {k: int(tallies[f][k]) for k in ("positive", "negative", "uncertain", "not_mentioned")}
                      for f in findings}
    check.masks = dict(sorted(masks.items()))
    if check.checked and check.unreadable == check.checked:
        check.problems.append("no sample could be read")
