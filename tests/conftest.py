"""Shared pytest set-up: offline, one KG cache for the whole session, markers, the `gpu` skip.

Every test package shares one cache folder, so the real knowledge graph is built at most once
per test session. CI passes its own ``ANATOMY_VLM_CACHE``; otherwise a temporary folder is
used, so a user's own cache is neither read nor written by the tests.
"""

import os
import shutil
import tempfile

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_OWN_CACHE = None
if not os.environ.get("ANATOMY_VLM_CACHE"):
    _OWN_CACHE = tempfile.mkdtemp(prefix="anatomy-vlm-test-cache-")
    os.environ["ANATOMY_VLM_CACHE"] = _OWN_CACHE


def pytest_sessionfinish(session, exitstatus):
    if _OWN_CACHE is not None:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # torch missing or broken: no GPU tests
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
