"""Shared helpers of the robustness tests (hostile inputs, every area).

- ``no_hang(seconds)``: a context manager that turns a hang (a read blocked on a named pipe, a
  runaway loop) into a test failure after ``seconds`` (SIGALRM; the main thread only).
- ``tally(area, input_class, tried, outcome)``: records how many inputs of a class a test tried
  and how they ended. When ``ANATOMY_VLM_ROBUSTNESS_LOG`` names a file, each record is
  appended to it as one JSON line (the source of ``benchmarks/results/robustness*.md``);
  otherwise records are kept in memory only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal

import pytest


class Hang(Exception):
    """Raised by :func:`no_hang` when its time is up."""


@contextlib.contextmanager
def _no_hang(seconds: int):
    def expire(_signum, _frame):
        raise Hang(f"still running after {seconds} s (a hang)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def no_hang():
    return _no_hang


_RECORDS: list[dict] = []


def _tally(area: str, input_class: str, tried: int, outcome: str) -> None:
    record = {"area": area, "class": input_class, "tried": int(tried), "outcome": outcome}
    _RECORDS.append(record)
    target = os.environ.get("ANATOMY_VLM_ROBUSTNESS_LOG")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


@pytest.fixture
def tally():
    return _tally
