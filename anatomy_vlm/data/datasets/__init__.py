"""Real chest-radiograph dataset loaders, one module per dataset, behind one registry.

``open_dataset(name, root, **kw)`` returns a map-style dataset of
:class:`anatomy_vlm.data.types.CXRSample`; ``kw`` are those of
:class:`anatomy_vlm.data.datasets.base.CXRDataset` plus the dataset's own. The policies every
loader applies (bad input, uncertainty, splits, frontal views) are declared in
:mod:`.base` and :mod:`.labels`. Modules are imported on first use (torch stays off light paths).

Example::

    from torch.utils.data import DataLoader
    from anatomy_vlm.data.datasets import open_dataset
    from anatomy_vlm.data.types import collate

    train = open_dataset("mimic", "/data/mimic-cxr-jpg", imagenome_root="/data/chest-imagenome",
                         split="train", image_size=512, uncertainty="ignore")
    print(train.report.summary())      # "mimic: kept … images, skipped … (…)"
    batch = next(iter(DataLoader(train, batch_size=8, collate_fn=collate)))
    batch.images        # [8, 1, 512, 512]; batch.region_labels [8, 29, 17] (cig29 x core)
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from anatomy_vlm.errors import ConfigError

__all__ = ["DATASETS", "open_dataset", "dataset_names", "dataset_class"]

DATASETS: dict[str, str] = {
    "mimic": "anatomy_vlm.data.datasets.mimic:MimicImaGenome",
    "phantom": "anatomy_vlm.data.datasets.mimic:Phantom",
    "chexpert": "anatomy_vlm.data.datasets.chexpert:CheXpert",
    "nih": "anatomy_vlm.data.datasets.nih:ChestXray14",
    "rsna": "anatomy_vlm.data.datasets.rsna:RSNAPneumonia",
    "siim": "anatomy_vlm.data.datasets.siim:SIIMPneumothorax",
    "vindr": "anatomy_vlm.data.datasets.vindr:VinDrCXR",
    "padchest": "anatomy_vlm.data.datasets.padchest:PadChest",
    "openi": "anatomy_vlm.data.datasets.openi:OpenI",
}
_ALIASES = {"mimic-cxr": "mimic", "imagenome": "mimic", "chest-imagenome": "mimic",
            "chestx-ray14": "nih", "chestxray14": "nih", "vinbigdata": "vindr",
            "vindr-cxr": "vindr", "siim-acr": "siim", "open-i": "openi", "iu-xray": "openi"}


def dataset_names() -> list[str]:
    """Registered dataset names."""
    return sorted(DATASETS)


def dataset_class(name: str) -> type:
    """The loader class registered as ``name`` (or an alias); ConfigError on unknown names."""
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}")
    module, cls = DATASETS[key].split(":")
    return getattr(importlib.import_module(module), cls)


def open_dataset(name: str, root: str | Path, **kwargs: Any):
    """Open dataset ``name`` (see :data:`DATASETS`) at ``root``; ConfigError on unknown names
    and bad option values, a typed DataError on missing or malformed files."""
    return dataset_class(name)(root, **kwargs)
