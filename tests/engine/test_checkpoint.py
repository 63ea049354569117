"""Checkpoints: bit-identical round trip, refusal of corrupt/truncated entries with fallback,
keep-K pruning, no temporaries left behind, signals during a save, the NaN/inf guard."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from anatomy_vlm.engine.checkpoint import (
    CheckpointError,
    CheckpointInterrupted,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    resume_latest,
    save_checkpoint,
    verify_checkpoint,
)
from anatomy_vlm.engine.guards import NonFiniteLossError, check_finite
from anatomy_vlm.engine.rng import capture_rng_state, seed_everything
from anatomy_vlm.engine.state_io import StateEncodingError, join_tensors, split_tensors


class TiedNet(torch.nn.Module):
    """Three layers plus a buffer; ``mirror`` shares ``hidden``'s weight (tied)."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(6, 5)
        self.hidden = torch.nn.Linear(5, 5)
        self.mirror = torch.nn.Linear(5, 5, bias=False)
        self.mirror.weight = self.hidden.weight
        self.out = torch.nn.Linear(5, 6)
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def forward(self, x):
        self.calls += 1
        return self.out(self.mirror(torch.relu(self.hidden(self.embed(x)))))


def _trained(seed: int = 0, steps: int = 3):
    torch.manual_seed(seed)
    model = TiedNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.95))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(4, 6)).pow(2).mean().backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler, scaler


def _save(run_dir, step, model, optimizer, scheduler=None, scaler=None, **kwargs):
    return save_checkpoint(run_dir, step, model=model, optimizer=optimizer, scheduler=scheduler,
                           scaler=scaler, rng_state=capture_rng_state(),
                           sampler_state={"epoch": 0, "global_position": step}, **kwargs)


def _leftovers(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").iterdir() if p.name.startswith("."))


def _assert_same_tree(a, b):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for key in a:
            _assert_same_tree(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same_tree(x, y)
    else:
        assert type(a) is type(b) and (a == b or (a != a and b != b)), (a, b)


def test_round_trip_restores_model_optimizer_scheduler_scaler_and_rng_bit_identically(tmp_path):
    model, optimizer, scheduler, scaler = _trained()
    seed_everything(7)
    path = _save(tmp_path, 3, model, optimizer, scheduler, scaler, extra={"kg_version": "x"})
    expected_draws = (random.random(), np.random.rand(), torch.rand(3))

    fresh, fresh_opt, fresh_sched, fresh_scaler = _trained(seed=1, steps=1)
    seed_everything(99)
    state = load_checkpoint(path, model=fresh, optimizer=fresh_opt, scheduler=fresh_sched,
                            scaler=fresh_scaler)
    draws = (random.random(), np.random.rand(), torch.rand(3))

    assert state.step == 3 and state.extra == {"kg_version": "x"} and state.rng_restored
    assert state.sampler_state == {"epoch": 0, "global_position": 3}
    _assert_same_tree(model.state_dict(), fresh.state_dict())
    _assert_same_tree(optimizer.state_dict(), fresh_opt.state_dict())
    _assert_same_tree(scheduler.state_dict(), fresh_sched.state_dict())
    _assert_same_tree(scaler.state_dict(), fresh_scaler.state_dict())
    assert draws[:2] == expected_draws[:2] and torch.equal(draws[2], expected_draws[2])
    # the tie survives: one tensor on disk, one shared parameter after loading
    assert fresh.mirror.weight is fresh.hidden.weight
    stored = json.loads((path / "manifest.json").read_text())["files"]
    assert set(stored) == {"model.safetensors", "optimizer.safetensors", "optimizer.json",
                           "scheduler.json", "scaler.json", "state.safetensors", "state.json"}


def test_resumed_optimizer_steps_match_uninterrupted_steps(tmp_path):
    model, optimizer, scheduler, _ = _trained()
    path = _save(tmp_path, 3, model, optimizer, scheduler)
    batch = torch.randn(4, 6)

    def one_step(m, opt, sched):
        opt.zero_grad()
        m(batch).pow(2).mean().backward()
        opt.step()
        sched.step()

    fresh, fresh_opt, fresh_sched, _ = _trained(seed=5, steps=2)
    load_checkpoint(path, model=fresh, optimizer=fresh_opt, scheduler=fresh_sched)
    one_step(model, optimizer, scheduler)
    one_step(fresh, fresh_opt, fresh_sched)
    _assert_same_tree(model.state_dict(), fresh.state_dict())
    assert scheduler.get_last_lr() == fresh_sched.get_last_lr()


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_newest_entry_is_refused_with_one_warning_and_previous_used(tmp_path, caplog,
                                                                           damage):
    model, optimizer, _, _ = _trained()
    older = _save(tmp_path, 10, model, optimizer)
    newest = _save(tmp_path, 20, model, optimizer)
    target = newest / "model.safetensors"
    blob = bytearray(target.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0xFF
        target.write_bytes(bytes(blob))
    elif damage == "truncate":
        target.write_bytes(bytes(blob[: len(blob) - 7]))
    else:
        target.unlink()
    with caplog.at_level(logging.WARNING, logger="anatomy_vlm.engine.checkpoint"):
        assert latest_checkpoint(tmp_path) == older
    refusals = [r.getMessage() for r in caplog.records]
    assert len(refusals) == 1 and "step-000020" in refusals[0] and "\n" not in refusals[0]
    with pytest.raises(CheckpointError, match="step-000020"):
        verify_checkpoint(newest)


def test_resume_latest_restores_the_previous_entry_when_the_newest_is_corrupt(tmp_path, caplog):
    model, optimizer, scheduler, _ = _trained()
    _save(tmp_path, 10, model, optimizer, scheduler, extra={"which": "older"})
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    newest = _save(tmp_path, 20, *_trained(seed=4)[:3], extra={"which": "newest"})
    (newest / "state.json").write_bytes(b"{")  # truncated
    fresh, fresh_opt, fresh_sched, _ = _trained(seed=2)
    with caplog.at_level(logging.WARNING, logger="anatomy_vlm.engine.checkpoint"):
        state = resume_latest(tmp_path, model=fresh, optimizer=fresh_opt, scheduler=fresh_sched)
    assert state.step == 10 and state.extra == {"which": "older"}
    assert len(caplog.records) == 1 and "step-000020" in caplog.records[0].getMessage()
    _assert_same_tree(expected, fresh.state_dict())
    assert resume_latest(tmp_path / "empty", model=fresh) is None


@pytest.mark.gpu
def test_cuda_weights_optimizer_and_generators_round_trip(tmp_path):
    torch.manual_seed(0)
    model = TiedNet().cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.randn(4, 6, device="cuda")).sum().backward()
    optimizer.step()
    rng = capture_rng_state()
    assert len(rng.torch_cuda) == torch.cuda.device_count()
    path = save_checkpoint(tmp_path, 1, model=model, optimizer=optimizer, rng_state=rng)
    expected = torch.rand(5, device="cuda")
    fresh = TiedNet().cuda()
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-2)
    torch.cuda.manual_seed_all(123)
    load_checkpoint(path, model=fresh, optimizer=fresh_opt)
    assert torch.equal(torch.rand(5, device="cuda"), expected)
    _assert_same_tree(model.state_dict(), fresh.state_dict())
    moments = fresh_opt.state[fresh.embed.weight]["exp_avg"]
    assert moments.is_cuda and torch.equal(moments, optimizer.state[model.embed.weight]["exp_avg"])


def test_refused_checkpoint_leaves_the_model_untouched(tmp_path):
    model, optimizer, _, _ = _trained()
    path = _save(tmp_path, 1, model, optimizer)
    (path / "optimizer.json").write_text("{}")  # same JSON, wrong bytes: sha256 mismatch
    fresh, fresh_opt, _, _ = _trained(seed=3)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(CheckpointError, match="optimizer.json"):
        load_checkpoint(path, model=fresh, optimizer=fresh_opt)
    _assert_same_tree(before, fresh.state_dict())


def test_checkpoint_of_another_architecture_is_refused_in_one_line(tmp_path):
    model, optimizer, _, _ = _trained()
    path = _save(tmp_path, 1, model, optimizer)
    other = torch.nn.Linear(6, 6)
    with pytest.raises(CheckpointError, match="does not fit") as err:
        load_checkpoint(path, model=other)
    assert "\n" not in str(err.value)


def test_every_entry_damaged_means_no_checkpoint(tmp_path, caplog):
    model, optimizer, _, _ = _trained()
    for step in (1, 2):
        (_save(tmp_path, step, model, optimizer) / "manifest.json").write_text("not json")
    with caplog.at_level(logging.WARNING, logger="anatomy_vlm.engine.checkpoint"):
        assert latest_checkpoint(tmp_path) is None
    assert len(caplog.records) == 2
    assert latest_checkpoint(tmp_path / "no-such-run") is None


def test_keep_k_prunes_oldest_entries(tmp_path):
    model, optimizer, _, _ = _trained()
    for step in (5, 10, 15, 20, 25):
        _save(tmp_path, step, model, optimizer, keep=2)
    assert [step for step, _ in list_checkpoints(tmp_path)] == [20, 25]
    assert _leftovers(tmp_path) == []


def test_saving_the_same_step_again_replaces_the_entry(tmp_path):
    model, optimizer, _, _ = _trained()
    first = _save(tmp_path, 4, model, optimizer, extra={"attempt": 1})
    second = _save(tmp_path, 4, model, optimizer, extra={"attempt": 2})
    assert first == second and _leftovers(tmp_path) == []
    assert load_checkpoint(second, model=model).extra == {"attempt": 2}


def test_failed_save_leaves_no_temporary_and_no_entry(tmp_path):
    model, optimizer, _, _ = _trained()
    _save(tmp_path, 1, model, optimizer)
    with pytest.raises(StateEncodingError, match="extra.callback"):
        _save(tmp_path, 2, model, optimizer, extra={"callback": print})
    assert [s for s, _ in list_checkpoints(tmp_path)] == [1] and _leftovers(tmp_path) == []


def test_write_error_midway_removes_the_temporary(tmp_path, monkeypatch):
    import anatomy_vlm.engine.checkpoint as checkpoint

    model, optimizer, _, _ = _trained()
    _save(tmp_path, 1, model, optimizer)
    calls = []

    def failing_write(path, data):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        Path(path).write_bytes(data)

    monkeypatch.setattr(checkpoint, "write_durable", failing_write)
    with pytest.raises(OSError, match="No space"):
        _save(tmp_path, 2, model, optimizer)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [1] and _leftovers(tmp_path) == []


def test_leftovers_of_a_killed_save_are_removed_by_the_next_save(tmp_path):
    model, optimizer, _, _ = _trained()
    folder = tmp_path / "checkpoints"
    (folder / ".tmp-step-000007-4242").mkdir(parents=True)
    (folder / ".tmp-step-000007-4242" / "model.safetensors").write_bytes(b"partial")
    kept = _save(tmp_path, 3, model, optimizer)
    os.replace(kept, folder / ".old-step-000003-4242")  # killed between the two renames
    assert latest_checkpoint(tmp_path) is None  # neither leftover counts as an entry
    _save(tmp_path, 8, model, optimizer)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [3, 8] and _leftovers(tmp_path) == []
    verify_checkpoint(folder / "step-000003")


def test_sigterm_during_a_save_is_held_until_the_entry_is_finished(tmp_path, monkeypatch):
    import anatomy_vlm.engine.checkpoint as checkpoint

    model, optimizer, _, _ = _trained()
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    real_write = checkpoint.write_durable

    def write_then_signal(path, data):
        real_write(path, data)
        if path.name == "optimizer.json":
            os.kill(os.getpid(), signal.SIGTERM)
            assert received == []  # held: the previous handler has not run yet

    monkeypatch.setattr(checkpoint, "write_durable", write_then_signal)
    try:
        path = _save(tmp_path, 5, model, optimizer)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == [signal.SIGTERM]  # re-delivered once the entry was in place
    assert verify_checkpoint(path) == 5 and _leftovers(tmp_path) == []


def test_second_signal_abandons_the_save_and_cleans_up(tmp_path, monkeypatch):
    import anatomy_vlm.engine.checkpoint as checkpoint

    model, optimizer, _, _ = _trained()
    received = []

    def handler(signum, frame):
        received.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    real_write = checkpoint.write_durable

    def write_then_signal_twice(path, data):
        real_write(path, data)
        if path.name == "optimizer.json":
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(checkpoint, "write_durable", write_then_signal_twice)
    try:
        with pytest.raises(CheckpointInterrupted):
            _save(tmp_path, 5, model, optimizer)
        assert signal.getsignal(signal.SIGINT) is handler  # the caller's handler is back
    finally:
        signal.signal(signal.SIGINT, previous)
    assert received == [signal.SIGINT]  # the first signal reaches the caller's handler
    assert list_checkpoints(tmp_path) == [] and _leftovers(tmp_path) == []


def test_state_encoding_round_trips_tuples_int_keys_and_non_finite_floats():
    state = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.arange(4.0)}},
             "param_groups": [{"betas": (0.9, 0.999), "lr": 0.1 + 0.2, "params": [0],
                               "nan": math.nan, "inf": -math.inf, "foreach": None}]}
    tree, tensors = split_tensors(state, "optimizer")
    decoded = join_tensors(json.loads(json.dumps(tree, allow_nan=False)), tensors)
    _assert_same_tree(state, decoded)
    assert set(tensors) == {"optimizer.state.0.step", "optimizer.state.0.exp_avg"}


def test_check_finite_names_step_and_term():
    check_finite({"image": torch.tensor(0.5), "box": 1.0}, step=3)
    with pytest.raises(NonFiniteLossError, match=r"step 12: loss term 'region'") as err:
        check_finite({"image": torch.tensor(0.5), "region": torch.tensor([1.0, math.nan])}, 12)
    assert err.value.step == 12 and err.value.term == "region" and math.isnan(err.value.value)
    with pytest.raises(NonFiniteLossError, match="'box' is inf"):
        check_finite({"box": float("inf")}, step=0)


def test_checkpoint_modules_never_unpickle():
    import anatomy_vlm.engine.checkpoint as checkpoint

    folder = Path(checkpoint.__file__).parent
    for name in ("checkpoint", "state_io", "rng", "distributed", "resume", "guards"):
        text = (folder / f"{name}.py").read_text(encoding="utf-8")
        for pattern in ("import pickle", "torch.load(", "allow_pickle=True", "np.load(",
                        "all_gather_object", "broadcast_object_list"):
            assert pattern not in text, f"{name}.py uses {pattern}"
