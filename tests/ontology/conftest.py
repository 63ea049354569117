"""Session fixtures for the ontology tests (helpers live in onto_support.py)."""

from __future__ import annotations

import json

import pytest
import rdflib

from tests.ontology.onto_support import (
    ONTOLOGY_DIR,
    VOCABULARIES,
    OntNode,
    load_nodes,
    read_crosswalk,
    read_tsv,
)


@pytest.fixture(scope="session")
def graph() -> rdflib.Graph:
    g = rdflib.Graph()
    for path in sorted(ONTOLOGY_DIR.glob("*.ttl")):
        g.parse(path, format="turtle")
    return g


@pytest.fixture(scope="session")
def nodes(graph) -> dict[str, OntNode]:
    return load_nodes(graph)


@pytest.fixture(scope="session")
def sets() -> dict:
    return json.loads((ONTOLOGY_DIR / "sets.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def crosswalks() -> dict[str, list[dict[str, str]]]:
    return {name: read_crosswalk(name) for name in VOCABULARIES}


@pytest.fixture(scope="session")
def projections() -> list[dict[str, str]]:
    return read_tsv(ONTOLOGY_DIR / "projections.tsv")
