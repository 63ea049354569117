"""Typed errors of the anatomy_vlm package. The CLI turns each into one line on stderr and exit 2."""


class AnatomyVLMError(Exception):
    """Base class of every error a user can cause with bad input."""


class DataError(AnatomyVLMError):
    """A dataset file is missing, corrupt or in the wrong format."""


class ConfigError(AnatomyVLMError):
    """A configuration or command-line value is invalid."""
