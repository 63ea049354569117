"""``kg resolve`` and the count flags under hostile input (issue 9): a count below 1 is refused
(it answered exit 0 with an empty or truncated answer, a false "no path"), and a property-based
fuzz of resolve raises nothing but the typed KGError and answers only valid node ids."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anatomy_vlm.cli import main
from kg import AnatomyKG
from kg.errors import KGError, QueryError, UnknownTermError

BAD_COUNTS = [
    ["resolve", "left lung", "--limit", "-5"],
    ["resolve", "left lung", "--limit", "0"],
    ["resolve", "left lung", "--limit", "two"],
    ["resolve", "left lung", "--limit", "1.5"],
    ["findings-at", "left lung", "--limit", "0"],
    ["findings-at", "left lung", "--limit", "-1"],
    ["locations-of", "pleural effusion", "--limit", "0"],
    ["locations-of", "pleural effusion", "--limit", "-20"],
    ["path", "pneumonia", "right lower lung zone", "-k", "0"],
    ["path", "pneumonia", "right lower lung zone", "-k", "-3"],
    ["path", "pneumonia", "right lower lung zone", "-k", "many"],
    ["sparql", "ASK { ?s ?p ?o }", "--max-rows", "0"],
    ["sparql", "ASK { ?s ?p ?o }", "--max-rows", "-1"],
    ["sparql", "ASK { ?s ?p ?o }", "--timeout", "0"],
    ["sparql", "ASK { ?s ?p ?o }", "--timeout", "-2"],
    ["sparql", "ASK { ?s ?p ?o }", "--timeout", "nan"],
    ["sparql", "ASK { ?s ?p ?o }", "--timeout", "inf"],
    ["sparql", "ASK { ?s ?p ?o }", "--timeout", "1e9"],
]


@pytest.fixture(scope="module")
def kg():
    return AnatomyKG.load()


def test_counts_below_one_are_refused(kg, capsys, tally):
    for argv in BAD_COUNTS:
        with pytest.raises(SystemExit) as stop:
            main(["kg", *argv])
        err = capsys.readouterr().err.strip().splitlines()
        assert stop.value.code == 2, argv
        assert len(err) == 1 and "error: argument" in err[0] and "Traceback" not in err[0], (argv, err)
    tally("kg CLI", "count flags out of range (--limit -5/0, -k 0, --max-rows 0, --timeout 0/nan/inf/1e9, "
          "non-numbers)", len(BAD_COUNTS), "one line, exit 2 (they exited 0 with empty answers before)")


def test_api_counts_below_one_are_refused(kg):
    for call in (lambda: kg.resolve("left lung", limit=0), lambda: kg.resolve("left lung", limit=-5),
                 lambda: kg.path("pneumonia", "right lower lung zone", k=0),
                 lambda: kg.path("pneumonia", "right lower lung zone", k=-1),
                 lambda: kg.resolve(None), lambda: kg.resolve(b"left lung")):
        with pytest.raises(QueryError):
            call()
    assert kg.path("pneumonia", "right lower lung zone", k=1)  # connected: k=1 gives a path


# ---------------------------------------------------------------------------- property-based fuzz
_WORDS = ["left", "right", "bilateral", "bibasilar", "retrocardiac", "perihilar", "apical", "basilar", "lower",
          "lobe", "pleural", "effusion", "effusions", "atelectasis", "opacity", "pneumothorax", "rib", "fracture",
          "L", "R", "CPA", "RLL", "ETT", "at", "the", "of", "small", "subsegmental", "hernias", "zone", "lung"]
_SEPARATORS = st.sampled_from([" ", "  ", "-", "/", ", ", "_", "\u2013", "\t", "'s ", "\u00a0"])
_phrases = st.lists(st.tuples(st.sampled_from(_WORDS), _SEPARATORS), min_size=1, max_size=14).map(
    lambda parts: "".join(w + s for w, s in parts))
_garbage = st.text(min_size=0, max_size=80)  # any unicode: controls, surrogates excluded by hypothesis, RTL…
_mutated = st.tuples(_phrases, _garbage, st.integers(0, 60)).map(lambda t: t[0][: t[2]] + t[1] + t[0][t[2]:])
_types = st.one_of(st.none(), st.sampled_from(["anatomy", "finding", "disease", "device", "qualifier"]),
                   st.lists(st.sampled_from(["anatomy", "finding", "device"]), min_size=1, max_size=3))

_SEEN = {"tried": 0, "answered": 0, "unknown": 0}


def _check(kg, text: str, types, limit: int) -> None:
    _SEEN["tried"] += 1
    try:
        matches = kg.resolve(text, types=types, limit=limit)
    except UnknownTermError as err:
        _SEEN["unknown"] += 1
        assert all(s in kg for s in err.suggestions)
        return
    except KGError:
        raise AssertionError(f"resolve raised a KGError other than UnknownTermError for {text!r}") from None
    _SEEN["answered"] += 1
    assert 1 <= len(matches) <= limit
    scores = [m.score for m in matches]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert len({m.node.id for m in matches}) == len(matches)
    wanted = None if types is None else ({types} if isinstance(types, str) else set(types))
    for m in matches:
        assert m.node.id in kg and kg.node(m.node.id) == m.node
        assert wanted is None or m.node.type in wanted
        assert all(nid in kg and kg.node(nid).type == "anatomy" for nid in m.locations)
        assert all(nid in kg and kg.node(nid).type == "qualifier" for nid in m.qualifiers)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(text=st.one_of(_phrases, _garbage, _mutated), types=_types, limit=st.integers(1, 8))
def _fuzz(kg, text, types, limit):
    _check(kg, text, types, limit)


def test_resolve_fuzz(kg, tally):
    """200 Hypothesis examples, the whole property under 20 s; records the tally."""
    _SEEN.update(tried=0, answered=0, unknown=0)
    start = time.monotonic()
    _fuzz(kg)
    elapsed = time.monotonic() - start
    assert _SEEN["tried"] >= 100
    assert elapsed < 20, elapsed
    assert _SEEN["answered"] > 0 and _SEEN["unknown"] > 0  # both outcomes were exercised
    tally("kg resolve", "Hypothesis fuzz (vocabulary phrases with odd separators, arbitrary unicode, phrases "
          "with garbage spliced in; random type filters and limits)", _SEEN["tried"],
          f"{_SEEN['answered']} answered with valid node ids, {_SEEN['unknown']} UnknownTermError; "
          f"no other exception; {elapsed:.1f} s")


def test_repeated_words_score_at_most_one(kg):
    """Found by the fuzz: "left left" scored 1.2 (a partial match counted the repeated word twice)."""
    for text in ("left left ", "lung lung lung", "effusion effusion"):
        assert all(0 < m.score <= 1 for m in kg.resolve(text, limit=8))
