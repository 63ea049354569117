"""Property-based fuzz of ``parse_report`` (issue 9): on any text it returns, never raises; every
span lies inside the text and matches the echoed words; statuses are valid."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anatomy_vlm.report import parse_report
from anatomy_vlm.report.kgsource import lexicon_of
from anatomy_vlm.report.parse import SENTENCE_ECHO_CHARS

WORDS = ["No", "no", "pneumothorax", "effusion", "effusions", "left", "right", "bibasilar", "versus",
         "vs.", "or", "and", ",", ".", ";", ":", "possible", "suspected", "resolved", "removed",
         "cannot be excluded", "not seen", "heart", "is", "enlarged", "size", "normal", "chest tube",
         "mass lesion", "RLL", "L CPA", "FINDINGS:", "IMPRESSION:", "1.", "2)", "e.g.", "approx.",
         "XXXX", "\n", "\n\n", "  ", "-", "/", "calcified granuloma", "no longer", "clearing of",
         "atelectasis", "consolidation", "infiltrate", "the", "in", "of", "with", "é", "\u2013", "\u0000"]

report_like = st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join)
any_text = st.text(max_size=300)
mixed = st.tuples(any_text, report_like, any_text).map("".join)


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(report_like, any_text, mixed))
def test_parse_report_never_raises_and_stays_consistent(tally, text):
    mentions = parse_report(text, lexicon=lexicon_of())
    for m in mentions:
        start, end = m.span
        assert 0 <= start < end <= len(text)
        assert text[start:end] == m.text
        assert not (m.negated and m.uncertain)
        assert isinstance(m.negated, bool) and isinstance(m.uncertain, bool)
        assert m.sentence_index >= 0
        assert len(m.sentence) <= SENTENCE_ECHO_CHARS + 2
        assert set(m.sides) <= {"left", "right"}
        assert isinstance(m.to_json(), dict)
    tally("report", "fuzz: generated text (report words, any unicode, mixed)", 1,
          "returned; spans inside the text, statuses valid")
