"""The dataset interface every loader implements, and the policies they all apply.

Bad-input policy (``policy=``, the same for every loader):

- ``"skip"`` (default): a malformed CSV row, a path from a table that leaves the dataset root,
  a missing image file, a named pipe or other non-regular file, an image over the pixel limit,
  a corrupt / truncated / undecodable image or a malformed scene graph is skipped with a
  counted warning (the first few are logged by table row or sample number, the rest only
  counted). Images are probed at load (cheap structural check: JPEG end marker, PNG IEND and
  size, DICOM parse + pixel-data length) when ``verify`` is True, or when it is None and the
  dataset has at most ``VERIFY_AUTO_MAX`` images; an image or annotation that still fails in
  ``__getitem__`` is counted and ``None`` is returned, which :func:`collate` drops.
- ``"strict"``: the first such problem raises it, a typed
  :class:`anatomy_vlm.errors.DataError` (``BadRow``, ``OutsideRoot``, ``MissingFile`` …).

Skips are counted by the error's ``reason`` (its class), never by its message. Messages and
log lines name the table, row number, sample number and reason, never a patient, study or
image identifier (ids are file names in most datasets, so file names are not printed either).

Paths built from table values (``dicom_id``, ``Path``, ``ImageID`` …) go through
:meth:`CXRDataset.within`: a value that is absolute or climbs out with ``..`` is an
``OutsideRoot`` skip. The check is lexical (no symlink resolution per row): symlinks that the
dataset's owner placed under the root are followed, but table values cannot leave it.

Either way one summary line is logged at load (WARNING when something was skipped, else
INFO), e.g.
``mimic: kept 180 images, skipped 3 (2 missing file, 1 corrupt image)``; it is also
``dataset.report.summary()``.

16-bit PNGs and MONOCHROME1 DICOMs are not bad input: :mod:`anatomy_vlm.data.io` reads them.

Splits are patient level. A dataset's own split is used where it has one; otherwise
:func:`hash_split` assigns each patient by a salted sha256 of its id. Split names are
normalised to ``train`` / ``valid`` / ``test``. Frontal-view filtering (``frontal_only=True``,
default) keeps PA and AP films.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from anatomy_vlm.data.datasets import options as opt
from anatomy_vlm.data.datasets.splits import hash_split, is_frontal, normalise_split
from anatomy_vlm.data.datasets.tables import Row, find_table, first_file, read_csv_rows
from anatomy_vlm.errors import ConfigError, DataError, MissingFile, OutsideRoot

if TYPE_CHECKING:
    from anatomy_vlm.data.types import CXRSample
    from kg.sets import NamedSet

log = logging.getLogger("anatomy_vlm.data")

__all__ = [
    "ImageRecord",
    "LoadReport",
    "CXRDataset",
    "hash_split",
    "normalise_split",
    "is_frontal",
    "read_csv_rows",
    "Row",
    "find_table",
    "first_file",
    "box_targets",
    "resolve_set",
    "VERIFY_AUTO_MAX",
]

VERIFY_AUTO_MAX = 5000
def resolve_set(kind: str, value: str | NamedSet) -> NamedSet:
    """A NamedSet from its name (``region``: cig29 …; ``finding``: core …) or as given."""
    if not isinstance(value, str):
        return value
    from kg.sets import finding_set, region_set

    return region_set(value) if kind == "region" else finding_set(value)


def box_targets(
    mapper: Any, boxes: Iterable[tuple[str, float, float, float, float]], height: int, width: int
) -> dict[str, torch.Tensor]:
    """``finding_boxes`` ``[N, 4]`` and ``finding_box_labels`` ``[N]`` from labelled boxes.

    ``boxes``: ``(source label, x1, y1, x2, y2)`` in pixels of the returned image; each box is
    clipped to the image and repeated once per finding-set column ``mapper.box_columns(label)``.
    A box with a non-finite coordinate or no area inside the image is dropped.
    """
    found_boxes, found_labels = [], []
    for label, *coords in boxes:
        box = np.clip(np.asarray(coords, dtype=np.float64), 0, [width, height, width, height])
        if not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
            continue
        for column in mapper.box_columns(label):
            found_boxes.append(box)
            found_labels.append(column)
    return {
        "finding_boxes": torch.tensor(np.array(found_boxes).reshape(-1, 4), dtype=torch.float32),
        "finding_box_labels": torch.tensor(found_labels, dtype=torch.long),
    }


@dataclass
class LoadReport:
    """What a loader kept and skipped, by reason. ``policy`` "skip" counts, "strict" raises."""

    name: str
    policy: str = "skip"
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    max_logged: int = 5

    def skip(self, error: DataError) -> None:
        """Count one skipped item under ``error.reason`` (raise ``error`` under strict).

        ``error``'s message must name a table row or sample number, never an identifier.
        """
        if self.policy == "strict":
            raise type(error)(f"{self.name}: {error.reason}: {error}", detail=error.detail) from None
        self.skipped[error.reason] += 1
        if sum(self.skipped.values()) <= self.max_logged:
            log.warning("%s: skipped (%s): %s", self.name, error.reason, error)

    def summary(self) -> str:
        total = sum(self.skipped.values())
        text = f"{self.name}: kept {self.kept} images, skipped {total}"
        if total:
            text += " (" + ", ".join(f"{n} {r}" for r, n in sorted(self.skipped.items())) + ")"
        return text


@dataclass(frozen=True)
class ImageRecord:
    """One image of an index, before its pixels are read. ``extra`` holds loader-specific data;
    ``origin`` says where the record came from without naming it (``"<table> row 7"``), for
    messages."""

    image_path: Path
    image_id: str
    study_id: str
    subject_id: str
    view: str
    split: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    origin: str = field(default="", compare=False)


class CXRDataset(torch.utils.data.Dataset):
    """Map-style dataset of :class:`CXRSample`; subclasses implement ``_index`` and ``_build``.

    ``report`` counts what was kept and skipped; counts made inside DataLoader worker
    processes stay in those processes (the load-time summary is complete, later decode
    failures are logged by the worker).

    Common keyword arguments of every loader:
        split: ``train`` / ``valid`` / ``test`` (aliases accepted) or None for all.
        region_set / finding_set: names or NamedSets (default ``cig29`` / ``core``).
        policy: bad-input policy ``skip`` | ``strict`` (module docstring).
        uncertainty: ``ignore`` | ``ones`` | ``zeros`` (see ``labels.UncertaintyPolicy``).
        frontal_only: keep PA/AP films only (default True).
        image_size: resize every image to this square size (boxes and masks follow).
        transform: a callable ``CXRSample -> CXRSample`` applied last (e.g. ``hflip``).
        verify: probe image files at load (None = when at most ``VERIFY_AUTO_MAX`` images).
        crosswalk: ``(vocabulary, label) -> [(ontology_id, match)]``; default the KG's.
        hierarchy: ``is_a`` lookup that lets crosswalk targets outside the finding set reach
            it (``"kg"`` default; None: such targets are dropped). See :mod:`.labels`.
        limit: keep at most this many images (after filtering), for quick runs.

    ``OPTIONS`` maps each option a user may set by name (``data check --option KEY=VALUE``) to
    its converter (:mod:`.options`); subclasses extend it with their own.
    """

    source = "base"
    OPTIONS: dict[str, opt.Converter] = {
        "verify": opt.optional(opt.boolean),
        "image_size": opt.optional(opt.integer(minimum=8)),
        "limit": opt.optional(opt.integer(minimum=0)),
    }

    @classmethod
    def option(cls, key: str, value: Any) -> Any:
        """``value`` converted by this loader's converter for ``key`` (ConfigError when bad)."""
        if key not in cls.OPTIONS:
            raise ConfigError(f"{cls.source}: unknown option {key!r}; known: {', '.join(sorted(cls.OPTIONS))}")
        try:
            return cls.OPTIONS[key](value)
        except ConfigError as err:
            raise ConfigError(f"{cls.source}: option {key}: {err}") from None

    @classmethod
    def coerce_options(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Every option in ``values`` converted (see :meth:`option`), before anything is opened."""
        return {key: cls.option(key, value) for key, value in values.items()}

    def __init__(
        self,
        root: str | Path,
        *,
        split: str | None = None,
        region_set: str | NamedSet = "cig29",
        finding_set: str | NamedSet = "core",
        policy: str = "skip",
        uncertainty: str = "ignore",
        frontal_only: bool = True,
        image_size: int | None = None,
        transform: Callable[[CXRSample], CXRSample] | None = None,
        verify: bool | None = None,
        crosswalk: Callable[[str, str], list[tuple[str, str]]] | None = None,
        hierarchy: Callable[[str, str], list[str]] | str | None = "kg",
        limit: int | None = None,
    ) -> None:
        from anatomy_vlm.data.datasets.labels import UncertaintyPolicy

        if policy not in {"skip", "strict"}:
            raise ConfigError(f"unknown bad-input policy {policy!r} (skip or strict)")
        if uncertainty not in {p.value for p in UncertaintyPolicy}:
            raise ConfigError(f"unknown uncertainty policy {uncertainty!r} (ignore, ones or zeros)")
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingFile(f"{self.source}: dataset root is not a folder: {self.root}")
        verify = self.option("verify", verify)
        image_size = self.option("image_size", image_size)
        limit = self.option("limit", limit)
        self.split = normalise_split(split) if split else None
        self.region_set = resolve_set("region", region_set)
        self.finding_set = resolve_set("finding", finding_set)
        self.uncertainty = uncertainty
        self.frontal_only = frontal_only
        self.image_size = image_size
        self.transform = transform
        self.crosswalk = crosswalk
        self.hierarchy = hierarchy
        self.report = LoadReport(name=self.source, policy=policy)
        self._mappers: dict[str, Any] = {}
        records = [r for r in self._index() if self._wanted(r)]
        if limit is not None:
            records = records[:limit]
        if verify or (verify is None and len(records) <= VERIFY_AUTO_MAX):
            records = self._verified(records)
        self.records: list[ImageRecord] = records
        self.report.kept = len(records)
        level = logging.WARNING if self.report.skipped else logging.INFO
        log.log(level, self.report.summary())

    # -- subclass hooks -------------------------------------------------------------
    def _index(self) -> Iterator[ImageRecord]:
        raise NotImplementedError

    def _build(self, record: ImageRecord, image: np.ndarray) -> CXRSample:
        raise NotImplementedError

    def _read(self, record: ImageRecord) -> np.ndarray:
        from anatomy_vlm.data.io import read_image

        return read_image(record.image_path)

    # -- shared machinery -----------------------------------------------------------
    def within(self, base: Path, *parts: str, where: str = "") -> Path:
        """``base / parts`` where ``parts`` come from table values; ``OutsideRoot`` when one is
        absolute, has a drive, climbs with ``..`` or holds a NUL (lexical: no file-system call)."""
        for part in parts:
            pure = PurePath(part)
            if "\x00" in part or pure.is_absolute() or pure.anchor or ".." in pure.parts:
                raise OutsideRoot(f"{where or 'a table value'}: path leaves the dataset root")
        return base.joinpath(*parts)

    def locate(self, candidates: list[Path]) -> Path:
        """The image path among ``candidates`` (one per folder layout a dataset ships in).

        The first candidate found on disk fixes the layout for the rest of the index, so later
        rows cost no file-system lookup; a row whose file is absent is counted at verification
        or read time like any missing file.
        """
        layout = getattr(self, "_layout", None)
        if layout is not None:
            return candidates[layout]
        for i, candidate in enumerate(candidates):
            if candidate.is_file():
                self._layout = i
                return candidate
        return candidates[0]

    def _wanted(self, record: ImageRecord) -> bool:
        if self.frontal_only and not is_frontal(record.view):
            return False
        return self.split is None or record.split == self.split

    def _verified(self, records: list[ImageRecord]) -> list[ImageRecord]:
        from anatomy_vlm.data.io import probe_image

        kept = []
        for record in records:
            problem = probe_image(record.image_path)
            if problem is None:
                kept.append(record)
            else:
                self.report.skip(problem.at(f"image of {record.origin or 'a record'}"))
        return kept

    def __len__(self) -> int:
        return len(self.records)

    def __getstate__(self) -> dict[str, Any]:
        """Picklable for DataLoader workers under ``spawn``: label mappers (which hold the KG and
        cached closures) are dropped and rebuilt lazily in the worker."""
        state = dict(self.__dict__)
        state["_mappers"] = {}
        return state

    def __getitem__(self, index: int) -> CXRSample | None:
        from anatomy_vlm.data.types import resize

        record = self.records[index]
        try:
            sample = self._build(record, self._read(record))
        except DataError as err:  # typed: its class gives the reason counted
            self.report.skip(err.at(f"sample {index} ({record.origin or 'no row'})"))
            return None
        sample.validate()  # the loader's own contract: shapes, boxes inside, labels in {0,1,NaN}
        if self.image_size:
            sample = resize(sample, self.image_size)
        return self.transform(sample) if self.transform else sample

    def empty_targets(self, height: int, width: int) -> dict[str, torch.Tensor]:
        """NaN boxes / labels and false masks for the chosen sets (R x 4, R x F, F)."""
        r, f = len(self.region_set.ids), len(self.finding_set.ids)
        return {
            "boxes": torch.full((r, 4), float("nan")),
            "region_labels": torch.full((r, f), float("nan")),
            "region_uncertain": torch.zeros((r, f), dtype=torch.bool),
            "image_labels": torch.full((f,), float("nan")),
            "image_uncertain": torch.zeros((f,), dtype=torch.bool),
        }

    def make_sample(self, record: ImageRecord, image: np.ndarray, **fields: Any) -> CXRSample:
        """A :class:`CXRSample` for ``record``: NaN targets unless given in ``fields``."""
        from anatomy_vlm.data.types import CXRSample

        targets = self.empty_targets(*image.shape[-2:])
        targets.update(fields)
        self._propagate(targets)
        return CXRSample(
            image=torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None],
            image_id=record.image_id,
            study_id=record.study_id,
            subject_id=record.subject_id,
            view=record.view,
            region_set=self.region_set,
            finding_set=self.finding_set,
            source=self.source,
            split=record.split,
            **targets,
        )

    def _propagate(self, targets: dict[str, torch.Tensor]) -> None:
        """Apply the project's one label-propagation rule (:func:`kg.labels.propagate_labels`):
        a positive at a region is positive at its ``part_of`` ancestors in the region set, a
        positive finding makes its ``is_a`` ancestors in the finding set positive. Skipped when
        the loader runs without the KG (``hierarchy=None`` or a custom callable)."""
        if self.hierarchy != "kg":
            return
        if "kg" not in self._mappers:  # once per process: AnatomyKG.load() checks the ontology files per call
            from anatomy_vlm.kgload import load_kg

            self._mappers["kg"] = load_kg()
        kg = self._mappers["kg"]
        regions, findings = self.region_set.ids, self.finding_set.ids
        targets["region_labels"] = torch.from_numpy(
            kg.propagate_labels(targets["region_labels"].numpy(), regions, findings))
        targets["image_labels"] = torch.from_numpy(
            kg.propagate_labels(targets["image_labels"].numpy(), None, findings))

    def ground(self, text: str):
        """Report text -> grounded sentences on this dataset's sets (see :mod:`.grounding`)."""
        from anatomy_vlm.data.datasets.grounding import ground_report

        return ground_report(text, mapper=self.mapper("report"), locator=self.locator())

    def locator(self):
        """A :class:`RegionLocator` for this dataset's region set (KG use follows ``hierarchy``)."""
        from anatomy_vlm.data.datasets.labels import kg_crosswalk
        from anatomy_vlm.data.datasets.regions import RegionLocator
        from anatomy_vlm.kgload import load_kg

        if "locator" not in self._mappers:
            self._mappers["locator"] = RegionLocator(
                region_ids=self.region_set.ids,
                crosswalk=self.crosswalk or kg_crosswalk(),
                graph=load_kg() if self.hierarchy == "kg" else None,
            )
        return self._mappers["locator"]

    def mapper(self, vocabulary: str):
        """A :class:`LabelMapper` from ``vocabulary`` onto this dataset's finding set."""
        from anatomy_vlm.data.datasets.labels import LabelMapper

        if vocabulary not in self._mappers:
            self._mappers[vocabulary] = LabelMapper(
                vocabulary=vocabulary,
                finding_ids=self.finding_set.ids,
                crosswalk=self.crosswalk,
                policy=self.uncertainty,
                hierarchy=self.hierarchy,
            )
        return self._mappers[vocabulary]
