"""The loop stops at the first non-finite loss term: one line, exit 2, good checkpoints kept."""

from anatomy_vlm.cli import main
from anatomy_vlm.engine.checkpoint import list_checkpoints
from anatomy_vlm.model import losses


def test_a_nan_concept_term_stops_the_run_naming_step_and_term(tiny_phantom, tiny_config,
                                                               tmp_path, monkeypatch, capsys):
    calls = {"n": 0}
    real = losses.concept_loss

    def nan_from_the_third_call(*args, **kwargs):
        calls["n"] += 1
        value = real(*args, **kwargs)
        return value * float("nan") if calls["n"] >= 3 else value

    monkeypatch.setattr(losses, "concept_loss", nan_from_the_third_call)
    out = tmp_path / "run"
    argv = ["train", "--config", str(tiny_config), "--data", str(tiny_phantom), "--out", str(out),
            "--quiet", "--steps", "5", "--checkpoint-every", "1", "--keep", "5"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "step 3" in err[0] and "'concept'" in err[0], err
    assert [step for step, _ in list_checkpoints(out)] == [1, 2]  # the last good ones stay
    assert not (out / "model.safetensors").exists()


def test_an_infinite_loss_weight_is_caught_at_the_first_step(tiny_phantom, tiny_config, tmp_path,
                                                             capsys):
    out = tmp_path / "run"
    argv = ["train", "--config", str(tiny_config), "--data", str(tiny_phantom), "--out", str(out),
            "--quiet", "--set", "loss_weights.box_l1=Infinity"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "step 1" in err[0] and "'loss'" in err[0], err


def test_tensorboard_without_the_package_is_one_line_exit_2(tiny_phantom, tiny_config, tmp_path,
                                                             monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    out = tmp_path / "run"
    argv = ["train", "--config", str(tiny_config), "--data", str(tiny_phantom), "--out", str(out),
            "--quiet", "--set", "tensorboard=true"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tensorboard package" in err[0], err


def test_tensorboard_logs_the_steps_config_and_kg_version(tiny_phantom, tiny_config, tmp_path):
    import pytest

    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    argv = ["train", "--config", str(tiny_config), "--data", str(tiny_phantom), "--out", str(out),
            "--quiet", "--set", "tensorboard=true"]
    assert main(argv) == 0
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"tensors": 0}).Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3]
    assert {"config/text_summary", "kg_version/text_summary"} <= set(events.Tags()["tensors"])
