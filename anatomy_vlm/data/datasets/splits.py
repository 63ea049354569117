"""Split names, frontal views and the patient-level hash split every loader shares."""

from __future__ import annotations

import hashlib

from anatomy_vlm.errors import ConfigError

__all__ = ["normalise_split", "is_frontal", "hash_split"]

_FRONTAL = {"PA", "AP", "POSTEROANTERIOR", "ANTEROPOSTERIOR", "FRONTAL", "AP_HORIZONTAL",
            "AP_SUPINE", "AP SUPINE", "AP UPRIGHT"}
_SPLIT_ALIASES = {"train": "train", "training": "train", "valid": "valid", "validate": "valid",
                  "validation": "valid", "val": "valid", "dev": "valid", "test": "test"}


def normalise_split(name: str) -> str:
    """``validate`` / ``val`` / ``validation`` -> ``valid``; raises ConfigError on unknown names."""
    key = str(name).strip().lower()
    if key not in _SPLIT_ALIASES:
        raise ConfigError(f"unknown split {name!r} (expected train, valid or test)")
    return _SPLIT_ALIASES[key]


def is_frontal(view: str) -> bool:
    """True for PA / AP films (DICOM ViewPosition, CheXpert Frontal, PadChest Projection)."""
    return str(view).strip().upper() in _FRONTAL


def hash_split(
    subject_id: str, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), salt: str = "anatomy-vlm"
) -> str:
    """Deterministic patient-level split from a salted sha256 of the patient id."""
    digest = hashlib.sha256(f"{salt}:{subject_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "valid" if u < fractions[0] + fractions[1] else "test"
