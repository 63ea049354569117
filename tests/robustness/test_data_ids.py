"""No identifier in any message (issue 9): ``data check`` and the loaders' logs name the table,
the row number, the sample number and the reason, never a patient, study or image id.

Each fixture carries bad rows and files keyed by a recognisable fake id (malformed rows,
contradicting targets, a missing image, a truncated image, a corrupt scene graph, an XML that
does not parse); the id must appear nowhere in stdout, stderr or the log, under the skip
policy (counts) and the strict policy (the first error, one line).
"""

from __future__ import annotations

import logging

import pytest

from anatomy_vlm.cli import main
from anatomy_vlm.data.datasets import open_dataset
from anatomy_vlm.errors import DataError
from tests.data.fixtures_crafted import FAKE_ID, leaky_mimic, leaky_rsna, leaky_tables
from tests.data.fixtures_loaders import stub_crosswalk

LOADERS = ["mimic", "rsna", "nih", "siim", "vindr", "chexpert", "padchest", "openi"]


def _build(name, tmp_path):
    if name == "mimic":
        return leaky_mimic(tmp_path)
    if name == "rsna":
        return leaky_rsna(tmp_path)
    return leaky_tables(name, tmp_path)


@pytest.mark.parametrize("name", LOADERS)
def test_data_check_never_prints_an_id(name, tmp_path, capsys, caplog, tally):
    root = _build(name, tmp_path)
    caplog.set_level(logging.DEBUG)
    ds = open_dataset(name, root, crosswalk=stub_crosswalk, hierarchy=None, frontal_only=False)
    bad = sum(ds.report.skipped.values())
    decoded = [ds[i] for i in range(len(ds))]
    assert sum(ds.report.skipped.values()) >= 1  # the fixture's bad inputs were met and counted
    assert any(s is not None for s in decoded)
    codes = [main(["data", "check", name, str(root), "--all-views"]),
             main(["data", "check", name, str(root), "--all-views", "--json"]),
             main(["data", "check", name, str(root), "--all-views", "--policy", "strict"])]
    out, err = capsys.readouterr()
    assert codes[2] == 2 and codes[0] in (0, 1)  # strict stops at the first bad input: one line
    assert "skipped" in out and "error:" in err
    for text, where in ((out, "stdout"), (err, "stderr"), (caplog.text, "log")):
        assert FAKE_ID not in text, f"{name}: an id reached {where}"
    assert any(word in caplog.text for word in ("row ", "sample ", "report "))  # says where instead
    tally("data", f"fake ids in bad rows/files ({name})", bad + 3,
          "counted by reason; no id in stdout, stderr or log (skip, --json and strict runs)")


def test_strict_error_names_row_and_reason_not_the_id(tmp_path):
    root = leaky_rsna(tmp_path)
    with pytest.raises(DataError) as err:
        open_dataset("rsna", root, crosswalk=stub_crosswalk, hierarchy=None, policy="strict", frontal_only=False)
    text = str(err.value)
    assert FAKE_ID not in text and "row 5" in text and "malformed row" in text  # row 5 contradicts row 4


def test_sample_contract_message_has_no_id():
    import torch

    from anatomy_vlm.data.types import CXRSample, SampleContractError
    from kg.sets import finding_set, region_set

    regions, findings = region_set("cig29"), finding_set("core")
    r, f = len(regions.ids), len(findings.ids)
    sample = CXRSample(image=torch.zeros(1, 8, 8), image_id=FAKE_ID, study_id=FAKE_ID, subject_id=FAKE_ID,
                       view="PA", region_set=regions, finding_set=findings,
                       boxes=torch.full((r, 4), float("nan")), region_labels=torch.full((r, f), 2.0),
                       region_uncertain=torch.zeros(r, f, dtype=torch.bool),
                       image_labels=torch.full((f,), float("nan")), image_uncertain=torch.zeros(f, dtype=torch.bool))
    with pytest.raises(SampleContractError) as err:
        sample.validate()
    assert FAKE_ID not in str(err.value) and "region_labels" in str(err.value)
