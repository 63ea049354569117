"""Anatomy-VLM: an anatomy-aware, knowledge-graph-driven vision-language model for chest radiographs.

The package is import-light: nothing here imports torch. Heavy pieces live in submodules.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
