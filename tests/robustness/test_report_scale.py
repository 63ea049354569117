"""Report parsing scales linearly and its output stays bounded (issue 9).

Before: sentence splitting was quadratic (100 KB 4.6 s, 200 KB 17.7 s, 1 MB > 120 s) and each
mention reprinted its whole sentence (18 KB in, 36 MB out). Bounds here have wide margins
(a 1 MB report takes about 6.5 s of CPU). Times are CPU seconds of this process
(``time.process_time``), so other work on a shared machine does not make them fail.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from anatomy_vlm.report import parse_report, split_sentences
from anatomy_vlm.report.kgsource import lexicon_of
from anatomy_vlm.report.parse import SENTENCE_ECHO_CHARS
from anatomy_vlm.report.sentences import MAX_SENTENCE_CHARS

REPORT = ("FINDINGS: No pneumothorax. Small left pleural effusion, e.g. 2.5 cm. Approx. 3 cm nodule "
          "in the RLL, possibly atelectasis versus pneumonia. 1. The heart is enlarged.\n")


def sized(unit: str, n_bytes: int) -> str:
    return (unit * (n_bytes // len(unit) + 1))[:n_bytes]


def test_a_one_megabyte_report_parses_in_seconds(tally):
    lexicon = lexicon_of()
    text = sized(REPORT, 1 << 20)
    started = time.process_time()
    mentions = parse_report(text, lexicon=lexicon)
    seconds = time.process_time() - started
    assert len(mentions) > 10_000
    assert seconds < 60, f"1 MB took {seconds:.1f} CPU s"
    tally("report", "1 MB realistic report", 1, f"parsed in {seconds:.1f} CPU s")


@pytest.mark.parametrize("name, unit", [
    ("periods then a lower-case letter", "." * 5000 + "a"),
    ("one endless word", "a"),
    ("blanks", " \t"),
    ("abbreviations", "approx. e.g. no. etc. "),
    ("enumerators", "\n 1. "),
    ("comma list", "effusion, "),
    ("negated or-list", "no effusion or pneumothorax or, "),
    ("places and findings", "left effusion in the right base, "),
])
def test_pathological_text_is_linear(name, unit, tally):
    """256 KB of each: the old splitter took about 30 s on such sizes and grew quadratically."""
    lexicon = lexicon_of()
    text = sized(unit, 256 * 1024)
    started = time.process_time()
    sentences = split_sentences(text)
    parse_report(text, lexicon=lexicon)
    seconds = time.process_time() - started
    assert seconds < 30, f"{name}: {seconds:.1f} CPU s"
    assert all(s.end - s.start <= MAX_SENTENCE_CHARS for s in sentences)
    tally("report", f"256 KB pathological: {name}", 1, f"split and parsed in {seconds:.1f} CPU s")


def test_sentence_pieces_cover_a_long_sentence_in_order():
    text = "word " * 1000 + "and a left pleural effusion."
    sentences = split_sentences(text)
    assert len(sentences) >= 5
    assert all(a.end <= b.start for a, b in zip(sentences, sentences[1:], strict=False))
    assert all(s.end - s.start <= MAX_SENTENCE_CHARS for s in sentences)
    found = parse_report(text, lexicon=lexicon_of())
    assert [m.finding for m in found] == ["pleural_effusion"]


def test_each_mention_echoes_a_bounded_window():
    text = "Stable " + "x " * 400 + "small left effusion " + "y " * 400 + "."
    (mention,) = parse_report(text, lexicon=lexicon_of())
    assert len(mention.sentence) <= SENTENCE_ECHO_CHARS + 2
    assert "small left effusion" in mention.sentence
    assert mention.sentence.startswith("…") and mention.sentence.endswith("…")
    short = parse_report("Small left effusion.", lexicon=lexicon_of())[0]
    assert short.sentence == "Small left effusion."


@pytest.mark.parametrize("unit", ["effusion, ", "no effusion or pneumothorax or, "])
def test_cli_output_stays_proportional_to_input(tmp_path, unit, tally):
    """18 KB of dense mentions once printed 36 MB (2,000x); now well under 100x."""
    path = tmp_path / "dense.txt"
    path.write_text(sized(unit, 18 * 1024), encoding="utf-8")
    for flags in (["--json"], []):
        done = subprocess.run([sys.executable, "-m", "anatomy_vlm.cli", "report", "parse", str(path), *flags],
                              capture_output=True, timeout=300)
        assert done.returncode == 0
        assert len(done.stdout) < 100 * 18 * 1024, len(done.stdout)
    tally("report", "18 KB dense mentions through the CLI", 2, "output < 100x input")
