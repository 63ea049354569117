"""The quickstart's output folder: recognised only by the marker it wrote, never by guessing.

``DIR/.anatomy-vlm-quickstart.json`` holds ``{"format": MARKER_FORMAT, "entries": [...]}``,
the names (directly under ``DIR``) that a quickstart wrote. A rerun replaces exactly those
entries and leaves everything else in the folder alone; a non-empty folder without the marker
is refused before anything is touched.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from anatomy_vlm.errors import ConfigError

__all__ = ["MARKER_NAME", "MARKER_FORMAT", "OutputFolder"]

MARKER_NAME = ".anatomy-vlm-quickstart.json"
MARKER_FORMAT = "anatomy-vlm-quickstart/1"


class OutputFolder:
    """A folder the quickstart may write into.

    Args:
        path: the ``--out`` folder.
        entries: every name this run will write directly under ``path``.
    """

    def __init__(self, path: Path, entries: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.entries = tuple(entries)

    def check(self) -> tuple[str, ...]:
        """Raise :class:`ConfigError` unless the folder is absent, empty or ours; touches nothing.
        Returns the entries a previous quickstart recorded (to be replaced)."""
        path = self.path
        if path.is_symlink() and not path.exists():
            raise ConfigError(f"--out {path} is a dangling symbolic link")
        if path.exists() and not path.is_dir():
            raise ConfigError(f"--out {path} exists and is not a folder")
        if not path.exists():
            parent = _existing_parent(path)
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ConfigError(f"--out {path}: cannot create it ({parent} is not writable)")
            return ()
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"--out {path} is not writable")
        try:
            names = [entry.name for entry in path.iterdir()]
        except OSError as err:
            raise ConfigError(f"--out {path}: cannot list it ({err.strerror})") from None
        if not names:
            return ()
        previous = self._read_marker()
        if previous is None:
            raise ConfigError(f"--out {path} exists, is not empty and is not a quickstart folder "
                              f"(no {MARKER_NAME}); choose an empty or new folder")
        return previous

    def prepare(self, previous: tuple[str, ...]) -> None:
        """Create the folder, remove what a previous quickstart wrote there (only that), and
        record this run's entries in the marker before writing any of them."""
        self.path.mkdir(parents=True, exist_ok=True)
        for name in previous:
            target = self.path / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
        self._write_marker(tuple(sorted(set(previous) | set(self.entries))))

    def _read_marker(self) -> tuple[str, ...] | None:
        marker = self.path / MARKER_NAME
        if not marker.is_file():
            return None
        try:
            payload = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(payload, dict) or payload.get("format") != MARKER_FORMAT:
            return None
        entries = payload.get("entries")
        if not isinstance(entries, list) or not all(_plain_name(e) for e in entries):
            return None
        return tuple(entries)

    def _write_marker(self, entries: tuple[str, ...]) -> None:
        from anatomy_vlm.knowledge._io import atomic_write_json

        atomic_write_json(self.path / MARKER_NAME, {"format": MARKER_FORMAT, "entries": list(entries)})


def _plain_name(name: object) -> bool:
    """A single path component we could have written (no separators, no ``..``, no marker)."""
    return (isinstance(name, str) and name not in ("", ".", "..", MARKER_NAME)
            and "/" not in name and "\\" not in name and "\0" not in name)


def _existing_parent(path: Path) -> Path:
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent
