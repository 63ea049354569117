"""kg test fixtures. The session-wide cache comes from tests/conftest.py, so the real KG is
built at most once per test session; the tiny fixture ontology has its own cache key."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from .synthetic import write_corpora

MINI = Path(__file__).resolve().parent / "fixtures" / "mini"


@contextmanager
def environ(**values: str | None):
    """Set (or with None, unset) environment variables for a block, then restore them."""
    old = {k: os.environ.get(k) for k in values}
    try:
        _put(values)
        yield
    finally:
        _put(old)


def _put(values: dict[str, str | None]) -> None:
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def kg_cache() -> Path:
    """The session's cache folder (set by tests/conftest.py)."""
    from kg.paths import cache_dir

    return cache_dir()


@pytest.fixture(scope="session")
def xrv_data() -> Path:
    from kg.paths import xrv_data_dir

    folder = xrv_data_dir()
    if folder is None or not (folder / "NLMCXR_reports.tgz").is_file():  # a hard dependency: fail, never skip
        pytest.fail("torchxrayvision's data folder (with NLMCXR_reports.tgz) not found; install torchxrayvision")
    return folder


@pytest.fixture(scope="session")
def real_kg(xrv_data):
    """The project's KG: real ontology + real corpora, built once per session."""
    from kg import AnatomyKG

    return AnatomyKG.load()


@pytest.fixture(scope="session")
def mini_corpora(tmp_path_factory) -> Path:
    return write_corpora(tmp_path_factory.mktemp("corpora"))


@pytest.fixture(scope="session")
def mini_kg(mini_corpora):
    """The tiny fixture ontology with the synthetic corpora."""
    from kg import AnatomyKG

    return AnatomyKG.load(ontology=MINI, data=mini_corpora)


@pytest.fixture(scope="session")
def padchest_studies(xrv_data):
    from kg.sources.padchest import iter_studies

    return list(iter_studies())
