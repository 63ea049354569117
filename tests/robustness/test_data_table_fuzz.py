"""Mutation fuzz of the loaders' label tables (issue 9): byte flips, cuts and insertions of
separators, quotes, ``../``, ``/``, NUL, ``nan``, ``1e999`` in each loader's main CSV. Opening
the dataset and decoding every sample, under the skip and the strict policy, ends in samples
and counted skips, or in a typed DataError / ConfigError; never another exception. Seeded,
bounded: 12 mutants per loader. Every DataError raised is a typed subclass with its reason."""

from __future__ import annotations

import gzip
import logging
import random
import zipfile
from collections import Counter

import pytest

from anatomy_vlm.data.datasets import open_dataset
from anatomy_vlm.errors import ConfigError, DataError
from tests.data import fixtures_datasets as fx
from tests.data.fixtures_loaders import stub_crosswalk
from tests.data.fixtures_mimic import build_mimic

TABLES = {
    "mimic": (lambda root: build_mimic(root, imagenome_splits=False), "mimic-cxr-2.0.0-metadata.csv.gz"),
    "chexpert": (fx.build_chexpert, "train.csv"),
    "nih": (fx.build_nih, "Data_Entry_2017_v2020.csv.gz"),
    "vindr": (fx.build_vindr_kaggle, "train.csv"),
    "padchest": (fx.build_padchest, "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz"),
    "siim": (lambda root: fx.build_siim(root, "2 3 10 4", "5 2"), "train-rle.csv"),
    "rsna": (fx.build_rsna, "stage_2_train_labels.csv"),
}
INSERTS = [b"../", b"/", b",", b"\n", b'"', b"nan", b"1e999", b"-1", b"\x00"]


def _mutate(text: bytes, rng: random.Random) -> bytes:
    out = bytearray(text)
    for _ in range(rng.choice([1, 3, 8])):
        at, op = rng.randrange(len(out)), rng.random()
        if op < 0.4:
            out[at] = rng.choice(b',\n"/.\\x0 -9a\x00\xff')
        elif op < 0.6:
            del out[at:at + rng.randrange(1, 10)]
        elif op < 0.8:
            out[at:at] = rng.choice(INSERTS)
        else:
            out[at:at] = bytes(rng.randrange(256) for _ in range(3))
    return bytes(out)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_mutated_tables_end_in_samples_skips_or_typed_errors(name, tmp_path, tally):
    logging.disable(logging.WARNING)
    try:
        build, table = TABLES[name]
        root = build(tmp_path / "ds")
        if name == "rsna":  # the fixture zips its table: mutate the plain CSV instead
            archive = root / "stage_2_train_labels.csv.zip"
            (root / table).write_bytes(zipfile.ZipFile(archive).read(table))
            archive.unlink()
        path = root / table
        raw = path.read_bytes()
        packed = raw[:2] == b"\x1f\x8b"
        text = gzip.decompress(raw) if packed else raw
        rng, outcomes = random.Random(name), Counter()
        for _ in range(12):
            mutant = _mutate(text, rng)
            path.write_bytes(gzip.compress(mutant) if packed else mutant)
            for policy in ("skip", "strict"):
                try:
                    ds = open_dataset(name, root, crosswalk=stub_crosswalk, hierarchy=None, policy=policy,
                                      frontal_only=False)
                    kept = [ds[i] for i in range(len(ds))]
                    outcomes["opened"] += 1
                    outcomes["samples"] += sum(s is not None for s in kept)
                    outcomes["skips"] += sum(ds.report.skipped.values())
                except (DataError, ConfigError) as err:
                    assert getattr(err, "reason", "config") != DataError.reason  # a typed subclass
                    outcomes[f"raised {getattr(err, 'reason', 'config')}"] += 1
        assert outcomes["opened"] > 0
    finally:
        logging.disable(logging.NOTSET)
    tally("data", f"mutated label table ({name}, skip+strict)", 24,
          ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items())) + "; 0 other exceptions")
