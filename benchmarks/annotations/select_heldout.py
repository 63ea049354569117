"""Draw the held-out assertion sentences from the Open-I *test* split (selection only, no labels).

Sentences come from FINDINGS + IMPRESSION of test-split reports (``splits.split_of == "test"``),
split with ``anatomy_vlm.report.split_sentences``, de-duplicated by lower-cased text, never a
sentence of the dev hand set, at most two per report. Each is put in the first cue class whose
pattern it matches (order below), and a fixed-seed sample is drawn per class. Labels are
written by hand afterwards (see README.md); this script never runs the parser's assertion logic.

Run: ``python -m benchmarks.annotations.select_heldout > candidates.jsonl``.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

from anatomy_vlm.report import split_sentences
from anatomy_vlm.report.splits import split_of

HERE = Path(__file__).resolve().parent
CLASSES: tuple[tuple[str, str, int], ...] = (
    ("versus", r"\b(versus|vs)\b", 22),
    ("post_hedge", r"\b(suspected|is possible|are possible|not excluded|cannot be excluded|"
                   r"not be excluded|is likely|are likely|questioned|is favored|not ruled out)\b", 22),
    ("resolution_removal", r"\b(resol\w*|clear(ed|ing)|remov\w*|no longer|interval (?:removal|"
                           r"resolution|clearing|improvement))\b", 30),
    ("hedge", r"\b(possib\w*|probab\w*|likely|may|might|could|suspic\w*|cannot|question\w*|"
              r"suggest\w*|concern\w*|worrisome|equivocal|borderline)\b", 40),
    ("negation_list", r"^(?:there is )?(?:no|without)\b[^.]*(?:,[^.]*){2,}", 40),
    ("device", r"\b(tube|catheter|line|pacemaker|picc|wires?|port|clips?|stent|pacer|lead|"
               r"drain|defibrillator|prosthe\w*)\b", 36),
    ("negation", r"\b(no|not|without|negative)\b", 20),
    ("random", r".", 30),
)


def main() -> None:
    from kg.sources.openi import iter_reports

    dev_rows = (HERE / "openi_dev_sentences.jsonl").read_text(encoding="utf-8").splitlines()
    seen = {json.loads(line)["sentence"].lower() for line in dev_rows if line.strip()}
    pools: dict[str, list[dict]] = {name: [] for name, _, _ in CLASSES}
    for report in iter_reports():
        if split_of(report.report_id) != "test":
            continue
        text = "\n\n".join(t for t in (report.findings, report.impression) if t)
        for sentence in split_sentences(text):
            key = sentence.text.lower()
            if key in seen or "xxxx" in key or len(sentence.text) < 12:
                continue
            seen.add(key)
            for name, pattern, _ in CLASSES:
                if re.search(pattern, key):
                    pools[name].append({"report_id": report.report_id, "sentence": sentence.text,
                                        "sample": name})
                    break
    rng = random.Random(20261205)
    per_report: dict[str, int] = {}
    for name, _, wanted in CLASSES:
        pool = pools[name]
        rng.shuffle(pool)
        taken = 0
        for row in pool:
            if taken == wanted:
                break
            if per_report.get(row["report_id"], 0) >= 2:
                continue
            per_report[row["report_id"]] = per_report.get(row["report_id"], 0) + 1
            taken += 1
            sys.stdout.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
