"""Ctrl-C / SIGTERM during a real ``anatomy-vlm train`` subprocess: checkpoint, then 130 / 143."""

import os
import signal
import subprocess
import sys
import time

import pytest

from anatomy_vlm.engine.checkpoint import list_checkpoints


def _interrupt(tiny_phantom, tiny_config, out, signum):
    argv = [sys.executable, "-m", "anatomy_vlm", "train", "--config", str(tiny_config),
            "--data", str(tiny_phantom), "--out", str(out), "--steps", "100000",
            "--checkpoint-every", "100000"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        for line in proc.stderr:  # the loop starts right after this line
            if b"images in memory" in line:
                break
        time.sleep(2.0)
        assert proc.poll() is None, "training ended before the signal"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err.decode()


@pytest.mark.parametrize(
    "signum, code",
    [(signal.SIGINT, 130), pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow)],
)
def test_a_signal_checkpoints_the_step_and_exits_cleanly(tiny_phantom, tiny_config, tmp_path,
                                                         signum, code):
    out = tmp_path / "run"
    returncode, err = _interrupt(tiny_phantom, tiny_config, out, signum)
    assert returncode == code, err
    steps = [step for step, _ in list_checkpoints(out)]
    assert len(steps) == 1 and steps[0] >= 1  # off the --checkpoint-every grid: the signal's
    assert f"after step {steps[0]}; checkpoint" in err and "Traceback" not in err
    assert (out / "metrics.csv").is_file() and not (out / "model.safetensors").exists()
