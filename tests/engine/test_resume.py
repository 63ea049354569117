"""Kill-and-resume on a real process: SIGKILL after a checkpoint, resume, same final weights."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from safetensors.torch import load_file

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
