"""`anatomy-vlm quickstart`: the embedded default, run through the real CLI on a tiny size."""

import json

from anatomy_vlm.cli import main


def test_quickstart_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--n", "12", "--size", "128", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (out / "summary.json").is_file() and (out / "index.html").is_file()
    stages = summary["stages"]
    assert stages["kg"]["headline"]["resolve L CPA"] == "left_costophrenic_angle"
    top = [row["region"] for row in stages["kg"]["headline"]["locations_of pleural effusion"][:2]]
    assert set(top) == {"left_costophrenic_angle", "right_costophrenic_angle"}
    assert stages["phantom"]["n"] == 12
    loaded = sum(split["checked"] for split in stages["loader"].values())
    assert loaded == 12
    for split in stages["loader"].values():
        assert split["images_with_all_boxes_inside"] == split["checked"]
        # report-derived labels never contradict the truth: every rendered finding is
        # labelled positive or uncertain after going through report → parser → label files
        assert split["true_findings_labelled_positive_or_uncertain"] == split["true_findings"]


def test_quickstart_refuses_foreign_non_empty_folder(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["quickstart", "--out", str(tmp_path)]) == 2
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    assert "not a quickstart folder" in capsys.readouterr().err


def test_quickstart_out_that_is_a_file_exits_2(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("keep me")
    assert main(["quickstart", "--out", str(target)]) == 2
    assert target.read_text() == "keep me"
    assert "not a folder" in capsys.readouterr().err
