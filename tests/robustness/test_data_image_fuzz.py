"""Mutation fuzz of the image readers (issue 9): byte flips, cuts and insertions in small PNG
(8/16-bit), JPEG and DICOM files. Every call of ``probe_image``, ``read_image`` and
``read_mask`` returns, or raises a typed DataError; never another exception (pydicom and PIL
raise many types on hostile bytes). Seeded, bounded: 150 mutants per format."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np

from anatomy_vlm.data.io import probe_image, read_image, read_mask
from anatomy_vlm.errors import DataError
from tests.data.fixtures_loaders import phantom_like_image, write_dicom, write_jpeg, write_png


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 2, 4, 16])):
        at, op = rng.randrange(len(out)), rng.random()
        if op < 0.6:
            out[at] = rng.randrange(256)
        elif op < 0.8:
            del out[at:at + rng.randrange(1, 40)]
        else:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    return bytes(out)


def test_mutated_images_read_or_raise_a_data_error(tmp_path, tally):
    pixels = phantom_like_image(24, 24)
    sources = {"png": write_png(tmp_path / "a.png", pixels),
               "png16": write_png(tmp_path / "b.png", pixels.astype(np.uint16) * 200),
               "jpeg": write_jpeg(tmp_path / "a.jpg", pixels),
               "dicom": write_dicom(tmp_path / "a.dcm", pixels.astype(np.uint16))}
    rng = random.Random(9)
    outcomes: Counter = Counter()
    for kind, source in sources.items():
        data = source.read_bytes()
        for i in range(150):
            path = tmp_path / f"m_{kind}_{i}{source.suffix}"
            path.write_bytes(_mutate(data, rng))
            problem = probe_image(path)
            assert problem is None or isinstance(problem, DataError)
            for read in (read_image, read_mask):
                try:
                    image = read(path)
                except DataError as err:
                    outcomes[err.reason] += 1
                    continue
                assert image.ndim == 2 and image.shape[0] > 0
                if read is read_image:
                    assert np.isfinite(image).all() and 0.0 <= image.min() and image.max() <= 1.0
                outcomes["read"] += 1
    assert outcomes["read"] > 0 and outcomes["corrupt image"] > 0  # both ends reached
    tally("data", "mutated PNG/JPEG/DICOM bytes (600 files x 3 readers)", 1800,
          ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())) + " (+600 probes); 0 other exceptions")
