"""torchrun helpers, the batch rule, the resumable sampler, seeding, and DDP (2 gloo processes)
against a single process on the same global batch."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from anatomy_vlm.engine.distributed import (
    ResumableDistributedSampler,
    all_reduce_mean,
    gather_rng_states,
    init_distributed,
    is_main,
    plan_batches,
)
from anatomy_vlm.engine.rng import (
    RNGState,
    capture_rng_state,
    derive_seed,
    make_worker_init_fn,
    restore_rng_state,
    sample_rng,
)
from anatomy_vlm.errors import ConfigError

# --- the batch rule -------------------------------------------------------------------------


@pytest.mark.parametrize(("global_batch", "world", "cap", "micro", "accum"), [
    (32, 1, None, 32, 1), (32, 4, None, 8, 1), (32, 4, 3, 2, 4), (24, 2, 5, 4, 3), (8, 8, 1, 1, 1),
])
def test_batch_plan_keeps_the_global_batch(global_batch, world, cap, micro, accum):
    plan = plan_batches(global_batch, world, max_micro_batch=cap)
    assert (plan.micro_batch, plan.accumulation_steps) == (micro, accum)
    assert plan.micro_batch * plan.accumulation_steps * plan.world_size == global_batch


def test_batch_plan_refuses_a_global_batch_that_does_not_split():
    expected = r"does not split over 4 ranks; use a multiple of 4 \(8 or 12\)"
    with pytest.raises(ConfigError, match=expected):
        plan_batches(10, 4)


# --- the sampler ----------------------------------------------------------------------------


def _rank_streams(n, world, *, global_batch, epoch=0, drop_last=False):
    streams = []
    for rank in range(world):
        sampler = ResumableDistributedSampler(n, num_replicas=world, rank=rank, seed=11,
                                              global_batch=global_batch, drop_last=drop_last)
        sampler.set_epoch(epoch)
        streams.append(list(sampler))
    return streams


@pytest.mark.parametrize("drop_last", [False, True])
def test_every_optimizer_step_sees_the_single_process_global_batch(drop_last):
    single = _rank_streams(37, 1, global_batch=8, epoch=2, drop_last=drop_last)[0]
    for world in (2, 4, 8):
        streams = _rank_streams(37, world, global_batch=8, epoch=2, drop_last=drop_last)
        share = 8 // world
        assert {len(s) for s in streams} == {len(single) // world}
        for step in range(len(single) // 8):
            together = sorted(i for s in streams for i in s[step * share:(step + 1) * share])
            assert together == sorted(single[step * 8:(step + 1) * 8]), (world, step)
    assert len(single) == (32 if drop_last else 40)
    assert len(set(single)) == 32 if drop_last else set(single) == set(range(37))


def test_epochs_differ_and_are_reproducible():
    a = _rank_streams(50, 1, global_batch=1, epoch=0)[0]
    b = _rank_streams(50, 1, global_batch=1, epoch=1)[0]
    assert sorted(a) == sorted(b) == list(range(50)) and a != b
    assert a == _rank_streams(50, 1, global_batch=1, epoch=0)[0]


def test_sampler_resumes_with_the_exact_next_sample_even_on_another_world_size():
    reference = ResumableDistributedSampler(30, num_replicas=1, rank=0, seed=4, global_batch=6)
    reference.set_epoch(3)
    order = list(reference)
    running = [ResumableDistributedSampler(30, num_replicas=2, rank=r, seed=4, global_batch=6)
               for r in range(2)]
    for sampler in running:
        sampler.set_epoch(3)
        sampler.advance(6)  # two optimizer steps of 3 samples per rank
    state = running[0].state_dict()
    assert state["epoch"] == 3 and state["global_position"] == 12
    for world in (1, 2, 3):
        resumed = [ResumableDistributedSampler(30, num_replicas=world, rank=r, seed=4,
                                               global_batch=6) for r in range(world)]
        for sampler in resumed:
            sampler.load_state_dict(json.loads(json.dumps(state)))
            sampler.set_epoch(3)  # the loop re-announcing the current epoch keeps the position
        rest = [list(s) for s in resumed]
        interleaved = [rest[i % world][i // world] for i in range(sum(map(len, rest)))]
        assert interleaved == order[12:], world


def test_sampler_refuses_another_dataset_or_an_unreachable_position():
    sampler = ResumableDistributedSampler(30, num_replicas=1, rank=0, seed=4)
    sampler.advance(5)
    with pytest.raises(ConfigError, match="num_samples was 30, now 31"):
        other = ResumableDistributedSampler(31, num_replicas=1, rank=0, seed=4)
        other.load_state_dict(sampler.state_dict())
    with pytest.raises(ConfigError, match="global position 5 with 2 ranks"):
        two_ranks = ResumableDistributedSampler(30, num_replicas=2, rank=1, seed=4, global_batch=2)
        two_ranks.load_state_dict({**sampler.state_dict(), "unit": 2})
    with pytest.raises(ValueError, match="cannot advance"):
        sampler.advance(26)


class _Noisy(Dataset):
    """Each item draws from its per-sample generator, so prefetching workers replay exactly."""

    def __len__(self):
        return 20

    def __getitem__(self, index):
        return index, float(sample_rng(5, epoch=0, index=index).normal())


def test_dataloader_with_prefetching_workers_resumes_at_the_consumed_sample():
    def loader(sampler):
        return DataLoader(_Noisy(), batch_size=2, sampler=sampler, num_workers=2,
                          worker_init_fn=make_worker_init_fn(5, rank=0), prefetch_factor=2)

    sampler = ResumableDistributedSampler(20, num_replicas=1, rank=0, seed=5)
    full = [(int(i), float(v)) for batch in loader(sampler) for i, v in zip(*batch, strict=True)]
    consumed = []
    for index, value in loader(sampler):
        consumed += list(zip(index.tolist(), value.tolist(), strict=True))
        sampler.advance(len(index))
        if len(consumed) == 6:
            state = sampler.state_dict()  # workers have already prefetched past this point
            break
    resumed = ResumableDistributedSampler(20, num_replicas=1, rank=0, seed=5)
    resumed.load_state_dict(state)
    rest = [(int(i), float(v)) for batch in loader(resumed) for i, v in zip(*batch, strict=True)]
    assert consumed + rest == full


# --- seeding and RNG state ------------------------------------------------------------------


def test_derived_seeds_are_distinct_per_rank_epoch_and_worker_and_stable():
    seeds = {derive_seed(0, rank=r, epoch=e, stream=w)
             for r in range(4) for e in range(3) for w in range(3)}
    assert len(seeds) == 36
    assert derive_seed(0, rank=1, stream=2) == derive_seed(0, rank=1, stream=2)
    make_worker_init_fn(9, rank=1)(0)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    make_worker_init_fn(9, rank=1)(0)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    make_worker_init_fn(9, rank=2)(0)
    assert random.random() != first[0]


def test_rng_state_bytes_round_trip():
    state = capture_rng_state()
    expected = (random.random(), np.random.normal(), torch.randn(2))
    restore_rng_state(RNGState.from_bytes(state.to_bytes()))
    again = (random.random(), np.random.normal(), torch.randn(2))
    assert again[:2] == expected[:2] and torch.equal(again[2], expected[2])


# --- process group --------------------------------------------------------------------------


def test_single_process_is_a_no_op(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    ctx = init_distributed()
    assert (ctx.rank, ctx.world_size, ctx.backend) == (0, 1, None) and is_main()
    value = torch.tensor([1.5, 2.0])
    assert torch.equal(all_reduce_mean(value), value)
    assert len(gather_rng_states(capture_rng_state())) == 1


@pytest.mark.parametrize(("env", "message"), [
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, "do not describe a process"),
    ({"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": ""}, "MASTER_ADDR is not set"),
])
def test_inconsistent_torchrun_environment_is_one_config_error(monkeypatch, env, message):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        init_distributed()


DDP_SCRIPT = textwrap.dedent('''
    """Train a small MLP for a few steps; DDP when WORLD_SIZE > 1. argv: OUT_DIR MAX_MICRO."""
    import json, sys
    from pathlib import Path

    import torch
    from torch.nn.parallel import DistributedDataParallel

    from anatomy_vlm.engine.distributed import (ResumableDistributedSampler, all_reduce_mean,
        cleanup, gather_rng_states, init_distributed, plan_batches)
    from anatomy_vlm.engine.guards import NonFiniteLossError, check_finite
    from anatomy_vlm.engine.rng import capture_rng_state, seed_everything

    torch.set_num_threads(1)
    out_dir, max_micro = Path(sys.argv[1]), int(sys.argv[2])
    ctx = init_distributed()
    plan = plan_batches(8, ctx.world_size, max_micro_batch=max_micro)
    data = torch.Generator().manual_seed(0)
    inputs = torch.randn(40, 5, generator=data)
    targets = (inputs @ torch.randn(5, 1, generator=data)).tanh()
    torch.manual_seed(123)  # the same initial weights on every rank
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    model = DistributedDataParallel(net) if ctx.world_size > 1 else net
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=7)
    sampler = ResumableDistributedSampler(len(inputs), seed=3, global_batch=8, drop_last=True)
    seed_everything(0, rank=ctx.rank)
    losses, stream = [], iter(sampler)
    for step in range(7):  # 5 steps per epoch: crosses an epoch boundary
        if sampler.epoch_finished:
            sampler.set_epoch(sampler.epoch + 1)
            stream = iter(sampler)
        optimizer.zero_grad()
        step_loss = torch.zeros(())
        for micro in range(plan.accumulation_steps):
            index = torch.tensor([next(stream) for _ in range(plan.micro_batch)])
            loss = torch.nn.functional.mse_loss(model(inputs[index]), targets[index])
            last = micro == plan.accumulation_steps - 1
            if ctx.world_size > 1 and not last:
                with model.no_sync():
                    (loss / plan.accumulation_steps).backward()
            else:
                (loss / plan.accumulation_steps).backward()
            step_loss += loss.detach() / plan.accumulation_steps
            sampler.advance(plan.micro_batch)
        check_finite({"mse": step_loss}, step)
        optimizer.step()
        scheduler.step()
        losses.append(all_reduce_mean(step_loss).item())
    rng = gather_rng_states(capture_rng_state())
    try:  # rank 1 (or the single process) reports a NaN; every rank must stop
        last_rank = ctx.rank == ctx.world_size - 1
        check_finite({"mse": torch.tensor(float("nan") if last_rank else 1.0)}, 7)
        nan_term = "not raised"
    except NonFiniteLossError as err:
        nan_term = err.term
    with torch.no_grad():
        final = torch.nn.functional.mse_loss(net(inputs), targets).item()
    result = {"plan": [plan.micro_batch, plan.accumulation_steps], "losses": losses,
              "final_loss": final,
              "weights": torch.cat([p.flatten() for p in net.parameters()]).tolist(),
              "rng_ranks": len(rng), "rng_distinct": len({bytes(s.torch_cpu.numpy()) for s in rng}),
              "nan_term": nan_term, "position": sampler.state_dict()["global_position"]}
    (out_dir / f"rank{ctx.rank}.json").write_text(json.dumps(result))
    cleanup()
''')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(script, out_dir, max_micro, *, world_size, rank=0, port=0):
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    if world_size > 1:  # what torchrun sets for each worker
        env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    out_dir.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, str(script), str(out_dir), str(max_micro)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow  # three torch processes: ~25 s on two shared cores
def test_ddp_on_two_gloo_processes_matches_one_process_on_the_same_global_batch(tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(DDP_SCRIPT)
    port = _free_port()
    processes = [_launch(script, tmp_path / "single", 8, world_size=1)]
    processes += [_launch(script, tmp_path / "ddp", 2, world_size=2, rank=r, port=port)
                  for r in (0, 1)]
    for process in processes:
        output, _ = process.communicate(timeout=240)
        assert process.returncode == 0, output[-3000:]
    single = json.loads((tmp_path / "single" / "rank0.json").read_text())
    ddp = [json.loads((tmp_path / "ddp" / f"rank{r}.json").read_text()) for r in (0, 1)]

    assert single["plan"] == [8, 1] and ddp[0]["plan"] == [2, 2]  # 2 ranks x 2 micro x 2 = 8
    # stated tolerance: float32 sums in another order; 1e-5 relative on every step's loss
    np.testing.assert_allclose(ddp[0]["losses"], single["losses"], rtol=1e-5)
    np.testing.assert_allclose(ddp[0]["final_loss"], single["final_loss"], rtol=1e-5)
    np.testing.assert_allclose(ddp[0]["weights"], single["weights"], rtol=1e-4, atol=1e-6)
    assert single["losses"][-1] < single["losses"][0]  # it did train
    assert ddp[0]["weights"] == ddp[1]["weights"]  # DDP keeps the replicas identical
    assert ddp[0]["losses"] == ddp[1]["losses"]
    assert ddp[0]["rng_ranks"] == 2 and ddp[0]["rng_distinct"] == 2
    assert ddp[0]["position"] == single["position"] == 16  # 7 steps = 5 (epoch 0) + 2 in epoch 1
    assert single["nan_term"] == "mse" and ddp[1]["nan_term"] == "mse"
    assert ddp[0]["nan_term"] is None  # stopped by the other rank's NaN, not left hanging
