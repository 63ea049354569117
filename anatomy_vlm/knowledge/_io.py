"""Atomic file writes and checked JSON reads shared by the knowledge package (no pickle)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from anatomy_vlm.knowledge.errors import KnowledgeFileError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(payload, indent=1) + "\n").encode("utf-8"))


def read_json(path: Path, *, expect_format: str) -> dict:
    """Read a JSON object whose ``"format"`` must be ``expect_format``; KnowledgeFileError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise KnowledgeFileError(f"{path.name} not found in {path.parent}")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KnowledgeFileError(f"{path.name}: not valid JSON ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != expect_format:
        raise KnowledgeFileError(f"{path.name}: not an {expect_format} file")
    return payload


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(texts: list[str]) -> str:
    """Order-sensitive hash (16 hex chars) of a list of strings."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def read_verified(path: Path, expected_sha256: str | None, *, described_by: str) -> bytes:
    """The bytes of ``path``, checked against the SHA-256 its JSON companion recorded.

    Raises :class:`KnowledgeFileError` when the file is missing or its contents were corrupted
    or replaced (``described_by`` names the companion file in the message).
    """
    try:
        blob = path.read_bytes()
    except OSError:
        raise KnowledgeFileError(f"{path.name} not found in {path.parent}") from None
    if sha256_bytes(blob) != expected_sha256:
        raise KnowledgeFileError(f"{path.name}: contents do not match {described_by} (corrupt or replaced)")
    return blob
