"""Procedural phantom chest radiographs written in the MIMIC-CXR-JPG + Chest ImaGenome layout.

``generate_phantom(PhantomConfig(...))`` (``anatomy-vlm data phantom``) samples findings
(:mod:`.sampler`), renders films (:mod:`.render`), decides region truth
(:mod:`anatomy_vlm.data.region_truth`), writes reports (:mod:`.reports`) and files
(:mod:`.writer`). Import-light: importing this package imports neither torch nor the renderer.
"""

from __future__ import annotations

import importlib

__all__ = ["PhantomConfig", "PhantomResult", "generate_phantom"]

_EXPORTS = {"PhantomConfig": "PhantomConfig", "PhantomResult": "PhantomResult", "generate_phantom": "generate"}


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module("anatomy_vlm.data.phantom.generate")
        return getattr(module, _EXPORTS[name])
    raise AttributeError(name)
