"""Assertion status on the error classes an independent review found (issue 6 §2), on the real
graph's vocabulary. Sentences here are written for the tests (not from any benchmark set)."""

import pytest

from anatomy_vlm.report import parse_report


def statuses(text: str) -> dict[str, str]:
    """finding id → present | absent | uncertain (asserted beats uncertain beats absent)."""
    found: dict[str, set[str]] = {}
    for m in parse_report(text):
        found.setdefault(m.finding, set()).add("absent" if m.negated else "uncertain" if m.uncertain else "present")
    return {f: next(s for s in ("present", "uncertain", "absent") if s in v) for f, v in found.items()}


@pytest.mark.parametrize("text, expected", [
    ("No consolidation, effusion, pneumothorax, nodules or masses.",
     {"consolidation": "absent", "pleural_effusion": "absent", "pneumothorax": "absent",
      "nodule": "absent", "mass": "absent"}),
    ("Pneumothorax, effusion, or consolidation is not seen.",
     {"pneumothorax": "absent", "pleural_effusion": "absent", "consolidation": "absent"}),
    ("There is no pneumothorax, large pleural effusion, or focal consolidation.",
     {"pneumothorax": "absent", "pleural_effusion": "absent", "consolidation": "absent"}),
])
def test_coordinated_negation_lists_keep_every_item(text, expected):
    assert statuses(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Unchanged cardiomegaly with left base atelectasis versus pneumonia.",
     {"cardiomegaly": "present", "atelectasis": "uncertain", "pneumonia": "uncertain"}),
    ("Mild left basilar consolidation, which may represent atelectasis versus infection.",
     {"consolidation": "present", "atelectasis": "uncertain", "pneumonia": "uncertain"}),
    ("Enlarged heart with bibasilar infiltrates vs atelectasis.",
     {"cardiomegaly": "present", "infiltration": "uncertain", "atelectasis": "uncertain"}),
    ("Left basilar airspace opacity, atelectasis versus pneumonia.",
     {"airspace_opacity": "present", "atelectasis": "uncertain", "pneumonia": "uncertain"}),
])
def test_versus_hedges_only_the_alternatives(text, expected):
    assert statuses(text) == expected


@pytest.mark.parametrize("text, finding", [
    ("Small right effusion suspected.", "pleural_effusion"),
    ("Tiny left apical pneumothorax is questioned.", "pneumothorax"),
    ("Right lower lobe pneumonia considered less likely.", "pneumonia"),
    ("Left basilar consolidation possible on the lateral view.", "consolidation"),
])
def test_post_posed_hedges(text, finding):
    assert statuses(text)[finding] == "uncertain"


def test_a_hedge_after_a_comma_does_not_reach_back():
    found = statuses("Moderate cardiomegaly, possibly accentuated by technique.")
    assert found == {"cardiomegaly": "present"}


@pytest.mark.parametrize("text, expected", [
    ("Interval clearing of right basilar opacity.", {"lung_opacity": "absent"}),
    ("Interval removal of the left chest tube.", {"chest_tube": "absent"}),
    ("The left chest tube has been removed, no pneumothorax.",
     {"chest_tube": "absent", "pneumothorax": "absent"}),
    ("Previously seen right pneumothorax is no longer visualized.", {"pneumothorax": "absent"}),
    ("Cleared right lower lobe consolidation.", {"consolidation": "absent"}),
    ("The left effusion has resolved and the atelectasis persists.",
     {"pleural_effusion": "absent", "atelectasis": "present"}),
    ("Resolving right lower lobe pneumonia.", {"pneumonia": "present"}),
])
def test_resolution_and_removal_are_absent(text, expected):
    assert statuses(text) == expected


def test_removed_device_has_no_generic_tube_beside_it():
    found = statuses("Interval removal of the left chest tube.")
    assert "tube" not in found and found["chest_tube"] == "absent"


def test_mass_lesion_is_one_mass_mention():
    assert statuses("A mass lesion cannot be excluded.") == {"mass": "uncertain"}


def test_ordinary_statuses_stay():
    assert statuses("Small left pleural effusion. No pneumothorax. Possible right basilar atelectasis.") == {
        "pleural_effusion": "present", "pneumothorax": "absent", "atelectasis": "uncertain"}
    assert statuses("Cardiomegaly with no acute osseous abnormality.") == {"cardiomegaly": "present"}
    assert statuses("Opacity in the right base, likely atelectasis.") == {
        "lung_opacity": "present", "atelectasis": "uncertain"}
