"""``anatomy-vlm train --checkpoint-every N --keep K --resume`` on the tiny phantom."""

import shutil

import pytest
from safetensors.torch import load_file

from anatomy_vlm.cli import main
from anatomy_vlm.engine.checkpoint import list_checkpoints


def _train(data, out, config, *extra):
    argv = ["train", "--config", str(config), "--data", str(data), "--out", str(out),
            "--model", "anatomy_vlm", "--quiet", "--steps", "4", *extra]
    return main(argv)


@pytest.mark.slow  # three training runs (~20 s warm; more when the KG cache is cold)
def test_resumed_cli_run_ends_with_the_weights_of_an_uninterrupted_one(tiny_phantom, tiny_config,
                                                                        tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert _train(tiny_phantom, straight, tiny_config) == 0
    assert _train(tiny_phantom, resumed, tiny_config, "--checkpoint-every", "1", "--keep", "2") == 0
    assert [step for step, _ in list_checkpoints(resumed)] == [3, 4]
    # as if killed right after step 3 was saved: the later checkpoint and the outputs are gone
    shutil.rmtree(resumed / "checkpoints" / "step-000004")
    for name in ("model.safetensors", "config.json"):
        (resumed / name).unlink()
    assert _train(tiny_phantom, resumed, tiny_config, "--resume") == 0
    reference = load_file(straight / "model.safetensors")
    after = load_file(resumed / "model.safetensors")
    assert reference.keys() == after.keys()
    for name, tensor in reference.items():
        assert (tensor == after[name]).all(), name


def test_resume_with_another_config_is_one_line_exit_2(tiny_phantom, tiny_config, tmp_path,
                                                       capsys):
    out = tmp_path / "run"
    assert _train(tiny_phantom, out, tiny_config, "--checkpoint-every", "2") == 0
    capsys.readouterr()
    assert _train(tiny_phantom, out, tiny_config, "--resume", "--set", "lr=0.5") == 2
    err = capsys.readouterr().err.strip()
    assert "another training config" in err and "\n" not in err


def test_a_fresh_run_discards_the_checkpoints_of_the_previous_one(tiny_phantom, tiny_config,
                                                                  tmp_path):
    out = tmp_path / "run"
    assert _train(tiny_phantom, out, tiny_config, "--checkpoint-every", "2") == 0
    assert [step for step, _ in list_checkpoints(out)] == [2, 4]
    assert _train(tiny_phantom, out, tiny_config) == 0  # no --resume: a new run
    assert list_checkpoints(out) == []


def test_bad_checkpoint_flags_are_one_line_exit_2(tiny_phantom, tiny_config, tmp_path, capsys):
    for flags in (["--checkpoint-every", "-1"], ["--keep", "0"]):
        assert _train(tiny_phantom, tmp_path / "run", tiny_config, *flags) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
