"""`anatomy-vlm quickstart`: the embedded default, run through the real CLI at a tiny size."""

import json

import numpy as np

from anatomy_vlm.cli import main
from anatomy_vlm.quickstart.folder import MARKER_NAME


def test_quickstart_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "qs"
    code = main(["quickstart", "--out", str(out), "--n", "32", "--test-n", "24", "--size", "128",
                 "--steps", "2", "--workers", "1", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    for name in ("summary.json", "index.html", "prediction.json", "eval/metrics.json", "eval/scores.npz",
                 MARKER_NAME):
        assert (out / name).is_file(), name
    stages = summary["stages"]
    assert stages["kg"]["headline"]["resolve L CPA"] == "left_costophrenic_angle"
    top = [row["region"] for row in stages["kg"]["headline"]["locations_of pleural effusion"][:2]]
    assert set(top) == {"left_costophrenic_angle", "right_costophrenic_angle"}
    assert {name: info["n"] for name, info in stages["phantoms"].items()} == {
        "phantom": 32, "phantom_test_id": 24, "phantom_test_prior_shift": 24}
    assert sum(split["checked"] for split in stages["loader"].values()) == 32
    for split in stages["loader"].values():
        assert split["images_with_all_boxes_inside"] == split["checked"]
        assert split["true_findings_labelled_positive_or_uncertain"] == split["true_findings"]
    assert set(stages["train"]) == {"anatomy_vlm", "holistic", "prior"}
    for name in ("anatomy_vlm", "holistic", "prior"):
        assert (out / "runs" / name / "config.json").is_file()
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert set(metrics["models"]) == {"anatomy_vlm", "holistic", "prior"}
    assert set(metrics["results"]["anatomy_vlm"]) == {"id", "prior_shift"}
    scores = np.load(out / "eval" / "scores.npz", allow_pickle=False)
    assert scores["region_probs__anatomy_vlm"].shape[0] == 48
    page = (out / "index.html").read_text()
    assert "<pre>" not in page and "<table>" in page and "figures/prediction.png" in page
    assert (out / "figures" / "prediction.png").is_file()

    # a rerun replaces only what a quickstart wrote
    (out / "my_notes.txt").write_text("keep me")
    assert main(["quickstart", "--out", str(out), "--n", "24", "--test-n", "24", "--size", "128",
                 "--steps", "1", "--workers", "1", "--json"]) == 0
    assert (out / "my_notes.txt").read_text() == "keep me"


def test_quickstart_refuses_foreign_non_empty_folder(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    (tmp_path / "summary.json").write_text("{}")  # looks like ours, but no marker: still foreign
    assert main(["quickstart", "--out", str(tmp_path)]) == 2
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    assert (tmp_path / "summary.json").read_text() == "{}"
    err = capsys.readouterr().err
    assert "not a quickstart folder" in err and len(err.strip().splitlines()) == 1


def test_quickstart_out_that_is_a_file_exits_2(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("keep me")
    assert main(["quickstart", "--out", str(target)]) == 2
    assert target.read_text() == "keep me"
    assert "not a folder" in capsys.readouterr().err


def test_bad_flags_are_refused_before_anything_is_touched(tmp_path, capsys):
    """A bad flag on a quickstart folder must not delete its phantom first (it used to)."""
    out = tmp_path / "qs"
    out.mkdir()
    (out / MARKER_NAME).write_text(json.dumps({"format": "anatomy-vlm-quickstart/1",
                                                "entries": ["phantom"]}))
    (out / "phantom").mkdir()
    (out / "phantom" / "film.jpg").write_bytes(b"data")
    for flags in (["--size", "5"], ["--n", "3"], ["--test-n", "0"], ["--steps", "0"], ["--seed", "-1"]):
        assert main(["quickstart", "--out", str(out), *flags]) == 2, flags
        assert (out / "phantom" / "film.jpg").read_bytes() == b"data"
    assert len(capsys.readouterr().err.strip().splitlines()) == 5
