"""Session fixtures: one cache folder per test session; the real KG is built once."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

# pytest puts tests/ on sys.path (tests/conftest.py, no __init__.py), so ``import kg`` would find
# the namespace folder tests/kg before the editable install's finder; put the real package first.
_REPO = Path(__file__).resolve().parents[2]
if (_REPO / "kg" / "__init__.py").is_file() and "kg" not in sys.modules:
    sys.path.insert(0, str(_REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import write_corpora  # noqa: E402

MINI = Path(__file__).resolve().parent / "fixtures" / "mini"


@contextmanager
def environ(**values: str | None):
    """Set (or with None, unset) environment variables for a block, then restore them."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session", autouse=True)
def kg_cache(tmp_path_factory) -> Path:
    """Every kg build of the session goes to a fresh temporary cache."""
    folder = tmp_path_factory.mktemp("kg-cache")
    with environ(ANATOMY_VLM_CACHE=str(folder)):
        yield folder


@pytest.fixture(scope="session")
def xrv_data() -> Path:
    from kg.paths import xrv_data_dir

    folder = xrv_data_dir()
    if folder is None or not (folder / "NLMCXR_reports.tgz").is_file():
        pytest.skip("torchxrayvision data folder not installed")
    return folder


@pytest.fixture(scope="session")
def real_kg(kg_cache, xrv_data):
    """The project's KG: real ontology + real corpora, built once per session."""
    from kg import AnatomyKG

    return AnatomyKG.load()


@pytest.fixture(scope="session")
def mini_corpora(tmp_path_factory) -> Path:
    return write_corpora(tmp_path_factory.mktemp("corpora"))


@pytest.fixture(scope="session")
def mini_kg(kg_cache, mini_corpora):
    """The tiny fixture ontology with the synthetic corpora."""
    from kg import AnatomyKG

    return AnatomyKG.load(ontology=MINI, data=mini_corpora)


@pytest.fixture(scope="session")
def padchest_studies(xrv_data):
    from kg.sources.padchest import iter_studies

    return list(iter_studies())
