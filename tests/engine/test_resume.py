"""Kill-and-resume on a real process: SIGKILL after a checkpoint, resume, same final weights."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field

import pytest
import torch
from safetensors.torch import load_file

from anatomy_vlm.engine.checkpoint import discard_checkpoints, list_checkpoints
from anatomy_vlm.engine.resume import resume_train_state, save_train_state
from anatomy_vlm.engine.rng import seed_everything
from anatomy_vlm.errors import ConfigError

TRAIN_SCRIPT = textwrap.dedent('''
    """A small MLP on synthetic data. argv: RUN_DIR STEPS CHECKPOINT_EVERY HANG_AFTER RESTORE_RNG.

    Dropout (torch RNG), input noise (numpy RNG) and a jitter (Python random.gauss) make every
    generator matter; HANG_AFTER > 0 sleeps after that many checkpoints so it can be killed."""
    import random, sys, time
    from pathlib import Path

    import numpy as np
    import torch
    from safetensors.torch import save_file

    from anatomy_vlm.engine.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
    from anatomy_vlm.engine.distributed import ResumableDistributedSampler
    from anatomy_vlm.engine.guards import check_finite
    from anatomy_vlm.engine.rng import capture_rng_state, seed_everything

    torch.set_num_threads(1)
    run_dir = Path(sys.argv[1])
    steps, every, hang_after, restore_rng = (int(a) for a in sys.argv[2:6])
    data = torch.Generator().manual_seed(0)
    inputs = torch.randn(48, 6, generator=data)
    targets = inputs.sum(1, keepdim=True).sin()
    seed_everything(1)
    model = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                torch.nn.Linear(32, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    sampler = ResumableDistributedSampler(len(inputs), num_replicas=1, rank=0, seed=2,
                                          global_batch=8)
    step = 0
    latest = latest_checkpoint(run_dir)
    if latest is not None:
        state = load_checkpoint(latest, model=model, optimizer=optimizer, scheduler=scheduler,
                                restore_rng=bool(restore_rng))
        sampler.load_state_dict(state.sampler_state)
        step = state.step
        print(f"resumed from step {step}", flush=True)
    saved, stream = 0, iter(sampler)
    while step < steps:
        if sampler.epoch_finished:  # 6 steps per epoch
            sampler.set_epoch(sampler.epoch + 1)
            stream = iter(sampler)
        index = torch.tensor([next(stream) for _ in range(8)])
        noise = torch.from_numpy(np.random.normal(0.0, 0.05, size=(8, 6)).astype(np.float32))
        loss = torch.nn.functional.mse_loss(model(inputs[index] + noise + random.gauss(0, 0.05)),
                                            targets[index])
        check_finite({"mse": loss}, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        sampler.advance(len(index))
        step += 1
        if step % every == 0:
            save_checkpoint(run_dir, step, model=model, optimizer=optimizer, scheduler=scheduler,
                            rng_state=capture_rng_state(), sampler_state=sampler.state_dict(),
                            keep=2)
            saved += 1
            if saved == hang_after:
                time.sleep(600)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(run_dir / "final.safetensors"))
''')

STEPS, EVERY, KILL_AFTER = "17", "4", 2  # killed once step 8 is saved; resumed mid-epoch 1


def _start(script, run_dir, *, hang_after=0, restore_rng=1):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen([sys.executable, str(script), str(run_dir), STEPS, EVERY,
                             str(hang_after), str(restore_rng)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finish(process) -> str:
    output, _ = process.communicate(timeout=240)
    assert process.returncode == 0, output[-3000:]
    return output


def _weights(run_dir):
    return load_file(str(run_dir / "final.safetensors"))


@pytest.mark.slow  # four torch processes: ~20-30 s on two shared cores
def test_killed_run_resumes_to_the_same_weights_bit_for_bit(tmp_path):
    script = tmp_path / "train_tiny.py"
    script.write_text(TRAIN_SCRIPT)
    straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
    control_dir = tmp_path / "control"
    straight = _start(script, straight_dir)
    victim = _start(script, killed_dir, hang_after=KILL_AFTER)
    saved = killed_dir / "checkpoints" / "step-000008"
    deadline = time.monotonic() + 240
    while not saved.is_dir():
        assert victim.poll() is None, victim.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "no second checkpoint"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    assert not (killed_dir / "final.safetensors").exists()

    shutil.copytree(killed_dir, control_dir)
    resumed = _start(script, killed_dir)
    control = _start(script, control_dir, restore_rng=0)  # same resume without the RNG states
    _finish(straight)
    assert "resumed from step 8" in _finish(resumed)
    _finish(control)

    reference, after_kill = _weights(straight_dir), _weights(killed_dir)
    assert reference.keys() == after_kill.keys()
    for name in reference:
        assert torch.equal(reference[name], after_kill[name]), name
    # the check can fail: without the RNG states the resumed run drifts away
    assert not all(torch.equal(reference[n], _weights(control_dir)[n]) for n in reference)


# --- the loop adapter (engine.resume), in process -----------------------------------------

@dataclass
class LoopState:
    """Shaped like the loop's TrainState: what changes while training."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    step: int = 0
    best_score: float = -float("inf")
    best_step: int = -1
    best_weights: dict | None = None
    history: list = field(default_factory=list)


def _fresh_state() -> LoopState:
    seed_everything(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3),
                                torch.nn.Linear(16, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.02)
    warmup_cosine = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 3))
    return LoopState(model, optimizer, warmup_cosine, torch.Generator().manual_seed(0))


def _run(state: LoopState, until: int, order: torch.Tensor, run_dir=None, every=0):
    inputs = torch.linspace(-1, 1, 44).reshape(11, 4)
    targets = inputs.prod(1, keepdim=True)
    while state.step < until:
        if len(order) < 3:  # the loop's own epoch order, drawn from its generator
            order = torch.cat([order, torch.randperm(len(inputs), generator=state.generator)])
        index, order = order[:3], order[3:]
        jitter = torch.rand(3, 4, generator=state.generator) * 0.1  # "augmentation"
        loss = torch.nn.functional.mse_loss(state.model(inputs[index] + jitter), targets[index])
        state.optimizer.zero_grad()
        loss.backward()
        state.optimizer.step()
        state.scheduler.step()
        state.step += 1
        state.history.append({"step": state.step, "loss": loss.item(), "val": float("nan")})
        if -loss.item() > state.best_score:
            state.best_score, state.best_step = -loss.item(), state.step
            state.best_weights = {k: v.clone() for k, v in state.model.state_dict().items()}
        if every and state.step % every == 0:
            save_train_state(run_dir, state, loop={"order": order}, config={"lr": 0.02}, keep=2)
    return order


def test_loop_state_resumes_exactly_in_process(tmp_path):
    straight = _fresh_state()
    _run(straight, 12, torch.empty(0, dtype=torch.long))

    first = _fresh_state()
    _run(first, 7, torch.empty(0, dtype=torch.long), run_dir=tmp_path, every=5)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [5]
    resumed = _fresh_state()
    restored = resume_train_state(tmp_path, resumed, config={"lr": 0.02})
    assert restored["step"] == 5 and resumed.step == 5 and len(resumed.history) == 5
    _run(resumed, 12, restored["order"])

    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    assert resumed.best_step == straight.best_step and resumed.best_score == straight.best_score
    for name, tensor in straight.best_weights.items():
        assert torch.equal(tensor, resumed.best_weights[name]), name
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]


def test_resume_refuses_another_config_and_a_fresh_run_discards_old_checkpoints(tmp_path):
    state = _fresh_state()
    _run(state, 4, torch.empty(0, dtype=torch.long), run_dir=tmp_path, every=2)
    with pytest.raises(ConfigError, match="another training config"):
        resume_train_state(tmp_path, _fresh_state(), config={"lr": 0.5})
    assert discard_checkpoints(tmp_path) == 2
    assert resume_train_state(tmp_path, _fresh_state()) is None
