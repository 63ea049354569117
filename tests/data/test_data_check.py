"""``anatomy-vlm data check``: what a loader keeps, how it splits, what its labels hold."""

from __future__ import annotations

import gzip
import json

import pytest

from anatomy_vlm.cli import main
from anatomy_vlm.data.check import check_dataset, parse_options
from anatomy_vlm.errors import ConfigError
from tests.data.fixtures_loaders import stub_crosswalk
from tests.data.fixtures_mimic import build_mimic


@pytest.fixture(scope="module")
def phantom_root(tmp_path_factory):
    from anatomy_vlm.data.phantom.generate import PhantomConfig, generate

    root = tmp_path_factory.mktemp("check") / "ph"
    generate(PhantomConfig(out=root, n=16, size=128, seed=5, workers=1))
    return root


def test_phantom_check_counts_everything_and_finds_no_problem(phantom_root, capsys):
    check = check_dataset("phantom", phantom_root)
    assert check.problems == [] and check.kept == 16 and check.skipped == {}
    assert sum(s["images"] for s in check.splits.values()) == 16
    assert set(check.splits) <= {"train", "valid", "test"} and not any(check.patients_shared.values())
    assert check.checked == 16 and check.unreadable == 0 and check.invalid == 0
    assert check.image_size == {"min": [128, 128], "max": [128, 128]}
    assert check.region_boxes["present"] == 1.0  # every cig29 region boxed; inside the image per validate
    for counts in check.findings.values():  # every decoded sample lands in exactly one column
        assert sum(counts.values()) == 16
    assert check.masks["left_lung"] == 16 and check.grounded_sentences > 0
    assert main(["data", "check", "phantom", str(phantom_root), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["findings"] == check.findings and printed["region_set"]["name"] == "cig29"
    truth = [json.loads(line) for line in (phantom_root / "phantom_truth.jsonl").read_text().splitlines()]
    text = json.dumps(printed)
    assert not any(str(t["subject_id"]) in text or t["dicom_id"] in text for t in truth)  # counts only


def test_limit_caps_decoding_but_not_the_index(phantom_root):
    check = check_dataset("phantom", phantom_root, limit=4)
    assert check.checked == 4 and sum(s["images"] for s in check.splits.values()) == 16


def test_skipped_files_and_a_patient_in_two_splits_are_reported(tmp_path, capsys):
    root = build_mimic(tmp_path, imagenome_splits=False)
    split_csv = root / "mimic-cxr-2.0.0-split.csv.gz"
    lines = gzip.decompress(split_csv.read_bytes()).decode().splitlines()
    lines = [line.replace("d2,50000001,10000001,train", "d2,50000001,10000001,test") for line in lines]
    split_csv.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    check = check_dataset("mimic", root, frontal_only=False, crosswalk=stub_crosswalk, hierarchy=None)
    assert check.skipped == {"malformed row": 1, "missing file": 1, "corrupt image": 1}
    assert check.patients_shared == {"test|train": 1, "test|valid": 0, "train|valid": 0}
    assert any("patients shared" in p for p in check.problems)
    assert main(["data", "check", "mimic", str(root), "--all-views"]) == 1
    out = capsys.readouterr().out
    assert "mimic: kept" in out and "patients shared between splits: 1" in out


def test_bad_input_is_one_line_and_exit_2(phantom_root, tmp_path, capsys):
    for argv in (["data", "check", "phantom", str(tmp_path / "missing")],
                 ["data", "check", "nonsense", str(phantom_root)],
                 ["data", "check", "phantom", str(phantom_root), "--option", "no-equals-sign"],
                 ["data", "check", "phantom", str(phantom_root), "--option", "not_an_option=1"],
                 ["data", "check", "phantom", str(phantom_root), "--policy", "lenient"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("anatomy-vlm: error:") and "\n" not in err and "Traceback" not in err


def test_options_stay_text_until_the_loader_types_them():
    assert parse_options(["a=1", "e=/data/x", "min-box-votes=2"]) == {
        "a": "1", "e": "/data/x", "min_box_votes": "2"}
    for bad in (["=1"], ["a=1", "a=2"]):
        with pytest.raises(ConfigError):
            parse_options(bad)
    from anatomy_vlm.data.datasets import dataset_class

    vindr = dataset_class("vindr")
    assert vindr.coerce_options({"min_box_votes": "2", "iou_threshold": "0.5", "verify": "false"}) == {
        "min_box_votes": 2, "iou_threshold": 0.5, "verify": False}


@pytest.mark.parametrize("name", ["chexpert", "nih", "rsna", "vindr", "padchest", "openi", "siim"])
def test_every_loader_can_be_checked(name, tmp_path):
    """The check runs on every registered loader's fixture: counts add up, nothing crashes, and
    the fixtures' deliberate bad files show up as skipped, not as contract breaks."""
    from tests.data import fixtures_datasets as fx

    builders = {"chexpert": fx.build_chexpert, "nih": fx.build_nih, "rsna": fx.build_rsna,
                "vindr": fx.build_vindr_kaggle, "padchest": fx.build_padchest, "openi": fx.build_openi,
                "siim": lambda root: fx.build_siim(root, "2 3 10 4", "5 2")}
    root = builders[name](tmp_path)
    check = check_dataset(name, root, crosswalk=stub_crosswalk, hierarchy=None)
    assert check.kept == sum(s["images"] for s in check.splits.values())
    assert check.checked == check.kept and check.invalid == 0
    for counts in check.findings.values():
        assert sum(counts.values()) == check.checked - check.unreadable
    assert not any(check.patients_shared.values())
    assert check.problems == []  # samples pass CXRSample.validate (boxes inside the image), splits disjoint


def test_strict_check_stops_at_the_first_bad_sample_with_exit_2(tmp_path, capsys):
    root = build_mimic(tmp_path, imagenome_splits=False)
    meta = root / "mimic-cxr-2.0.0-metadata.csv.gz"
    lines = [line for line in gzip.decompress(meta.read_bytes()).decode().splitlines()
             if not line.startswith(("broken-row", "d5,", "d6,"))]
    meta.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    (root / "scene_graph" / "d1_SceneGraph.json").write_text('{"objects": {"not": "a list"}}')
    assert main(["data", "check", "mimic", str(root), "--policy", "strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert "corrupt annotation" in err and "sample" in err and "\n" not in err and "d1" not in err
    assert main(["data", "check", "mimic", str(root)]) == 0  # skip: counted, the rest checked
    assert "1 corrupt annotation" in capsys.readouterr().out
