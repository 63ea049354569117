"""Typed loader options: one converter per option, shared by the Python API and the CLI.

Every loader declares ``OPTIONS`` (option name -> converter). A converter takes the value as a
caller gives it — already typed from Python, or the text of ``--option KEY=VALUE`` — and
returns the typed value, or raises :class:`ConfigError` with one line saying what it expects.
``data check`` converts every option before it opens the dataset, so a bad value is exit 2 at
once, not a failure blamed on every sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

from anatomy_vlm.errors import ConfigError

__all__ = [
    "Converter",
    "boolean",
    "integer",
    "number",
    "choice",
    "existing_dir",
    "existing_path",
    "relative_path",
    "optional",
]

Converter = Callable[[Any], Any]
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def boolean(value: Any) -> bool:
    """``true`` / ``false`` (also yes/no, on/off, 1/0) or a bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ConfigError(f"expected true or false, got {value!r}")


def optional(convert: Converter) -> Converter:
    """``convert``, or None for None / ``none`` / ``auto``."""

    def converter(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in {"none", "auto"}):
            return None
        return convert(value)

    converter.__doc__ = f"{convert.__doc__} or none"
    return converter


def integer(minimum: int | None = None) -> Converter:
    """A whole number, at least ``minimum``."""

    def converter(value: Any) -> int:
        if isinstance(value, bool):
            raise ConfigError(f"expected a whole number, got {value!r}")
        try:
            number_ = int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            raise ConfigError(f"expected a whole number, got {value!r}") from None
        if minimum is not None and number_ < minimum:
            raise ConfigError(f"expected a whole number >= {minimum}, got {value!r}")
        return number_

    return converter


def number(low: float, high: float, *, low_open: bool = False) -> Converter:
    """A finite number in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    span = f"{'(' if low_open else '['}{low}, {high}]"

    def converter(value: Any) -> float:
        try:
            if isinstance(value, bool):
                raise ValueError
            got = float(str(value).strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"expected a number in {span}, got {value!r}") from None
        if not math.isfinite(got) or got > high or got < low or (low_open and got == low):
            raise ConfigError(f"expected a number in {span}, got {value!r}")
        return got

    return converter


def choice(*names: str) -> Converter:
    """One of ``names``."""

    def converter(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in names:
            raise ConfigError(f"expected one of {', '.join(names)}, got {value!r}")
        return text

    return converter


def existing_dir(value: Any) -> Path:
    """An existing folder."""
    path = Path(str(value)).expanduser()
    if not path.is_dir():
        raise ConfigError(f"no such folder: {path}")
    return path


def existing_path(value: Any) -> Path:
    """An existing file or folder."""
    path = Path(str(value)).expanduser()
    if not path.exists():
        raise ConfigError(f"no such file or folder: {path}")
    return path


def relative_path(value: Any) -> str:
    """A relative path that stays inside the dataset root (no ``..``, not absolute)."""
    text = str(value).strip()
    pure = PurePath(text)
    if not text or "\x00" in text or pure.is_absolute() or pure.anchor or ".." in pure.parts:
        raise ConfigError(f"expected a relative path inside the dataset root, got {value!r}")
    return text
