"""``anatomy-vlm evaluate`` end to end on a tiny phantom: a ``prior`` run and a fake image model
(registered in ``LOADERS`` for the test), metrics.json against the docs/architecture.md#evaluation-output schema,
scores.npz without pickle, and bad input -> exit 2 with one line."""

import json
from pathlib import Path

import numpy as np
import pytest

from anatomy_vlm.cli import main
from anatomy_vlm.eval import EvalTruth, evaluate, evaluate_scores
from anatomy_vlm.eval.truth import phantom_targets, read_phantom_truth
from anatomy_vlm.model import run as run_module
from anatomy_vlm.model.prior import train_prior

RESULT_KEYS = {
    "n_images",
    "region_auroc_macro",
    "region_auroc_pooled",
    "image_auroc_macro",
    "box_iou_mean",
    "ece_region",
    "ece_image",
    "per_finding",
    "per_region_iou",
}
FINDING_KEYS = {"region_auroc", "ci95", "n_pos", "n_cells", "image_auroc"}
FAKE_SIZE = 64


class FakePredictor:
    """A deterministic image model: scores from pixel means, every box the image's top-left
    quarter (so boxes in original pixels are known)."""

    kind = "fake"

    def __init__(self, config):
        from kg.sets import finding_set, region_set

        self.config, self.name, self.image_size = config, config["name"], config["image_size"]
        self.region_set, self.finding_set = region_set("cig29"), finding_set("core")

    def predict(self, images):
        images = images.numpy()
        assert images.shape[-2:] == (self.image_size, self.image_size)
        b, r, f = len(images), len(self.region_set), len(self.finding_set)
        mean = images.reshape(b, -1).mean(axis=1)
        region = np.clip(mean[:, None, None] + np.linspace(0, 0.3, r * f).reshape(1, r, f), 0, 1)
        half = self.image_size / 2
        boxes = np.tile(np.array([0, 0, half, half], np.float32), (b, r, 1))
        return {
            "region_probs": region.astype(np.float32),
            "image_probs": region.max(axis=1),
            "boxes": boxes,
        }


def load_fake(run_dir, config, *, device="cpu"):
    return FakePredictor(config)


def _write_fake_run(path: Path, *, name="anatomy_vlm", region_set=("cig29", None)) -> Path:
    from kg.sets import finding_set
    from kg.sets import region_set as named_region_set

    regions = named_region_set(region_set[0])
    path.mkdir(parents=True)
    config = {
        "format": run_module.RUN_FORMAT,
        "kind": "fake",
        "name": name,
        "steps": 3,
        "train_s": 1.5,
        "image_size": FAKE_SIZE,
        "kg_version": "test",
        "region_set": {"name": regions.name, "hash": region_set[1] or regions.hash},
        "finding_set": {"name": "core", "hash": finding_set("core").hash},
    }
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def fake_kind(monkeypatch):
    monkeypatch.setitem(run_module.LOADERS, "fake", f"{__name__}:load_fake")


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "phantom"
    argv = [
        "data",
        "phantom",
        "--out",
        str(out),
        "--n",
        "60",
        "--size",
        "128",
        "--seed",
        "5",
        "--workers",
        "1",
    ]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def prior_run(phantom, tmp_path_factory) -> Path:
    return train_prior(data=phantom, out=tmp_path_factory.mktemp("runs") / "prior")


def _run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["evaluate", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_end_to_end(phantom, prior_run, tmp_path, capsys):
    fake = _write_fake_run(tmp_path / "fake")
    out = tmp_path / "eval"
    code, stdout, _ = _run_cli(
        capsys,
        "--checkpoint",
        fake,
        "--checkpoint",
        prior_run,
        "--data",
        phantom,
        "--split",
        "test",
        "--out",
        out,
        "--json",
        "--n-boot",
        "50",
    )
    assert code == 0
    metrics = json.loads(stdout)
    assert metrics == json.loads((out / "metrics.json").read_text())
    assert {
        "schema",
        "kg_version",
        "region_set",
        "finding_set",
        "protocol",
        "models",
        "results",
        "comparisons",
    } <= set(metrics)
    assert metrics["schema"] == "anatomy-vlm-eval/1"
    assert metrics["protocol"]["min_positives"] == 20 and metrics["protocol"]["n_boot"] == 50
    assert metrics["models"]["anatomy_vlm"] == {
        "run_dir": str(fake),
        "kind": "fake",
        "steps": 3,
        "train_s": 1.5,
        "image_size": FAKE_SIZE,
        "kg_version": "test",
    }
    assert metrics["models"]["prior"]["kind"] == "prior"
    truth = read_phantom_truth(phantom)
    test_ids = {k for k, r in truth.items() if r["split"] == "test"}
    for name in ("anatomy_vlm", "prior"):
        result = metrics["results"][name]["id"]
        assert set(result) >= RESULT_KEYS
        assert result["n_images"] == len(test_ids)
        for finding in result["per_finding"].values():
            assert set(finding) >= FINDING_KEYS
        # 60 films: no cell reaches 20 positives -> nulls, never missing keys
        assert result["region_auroc_macro"] == {"value": None, "ci95": None, "n_findings": 0}
    assert metrics["results"]["prior"]["id"]["box_iou_mean"] == {"value": None, "ci95": None}
    iou = metrics["results"]["anatomy_vlm"]["id"]["per_region_iou"]
    assert len(iou) == 29 and all(v is None or 0 <= v <= 1 for v in iou.values())
    assert metrics["results"]["prior"]["id"]["per_region_iou"] is None
    assert set(metrics["comparisons"]["id"]) == {"anatomy_vlm_minus_prior"}
    assert set(metrics["comparisons"]["id"]["anatomy_vlm_minus_prior"]) >= {"value", "ci95"}

    scores = np.load(out / "scores.npz", allow_pickle=False)
    assert set(scores.files) >= {
        "image_ids",
        "region_ids",
        "finding_ids",
        "region_probs__prior",
        "image_probs__prior",
        "boxes__prior",
        "region_probs__anatomy_vlm",
    }
    assert scores["image_ids"].dtype.kind == "U" and set(scores["image_ids"]) == test_ids
    assert scores["region_probs__prior"].shape == (len(test_ids), 29, 17)
    assert np.isnan(scores["boxes__prior"]).all()
    # fake boxes: the top-left quarter of a 64 px film -> of the 128 px original
    assert np.allclose(scores["boxes__anatomy_vlm"], [0, 0, 64, 64])


def test_api_results_match_protocol_on_the_written_scores(phantom, prior_run, tmp_path):
    """Scores and truth stay aligned: re-scoring scores.npz against phantom_truth.jsonl gives
    metrics.json's results (a low cell threshold so values are not null)."""
    fake = _write_fake_run(tmp_path / "fake")
    metrics = evaluate(
        [fake, prior_run],
        [phantom],
        split="all",
        out=tmp_path / "eval",
        progress=False,
        n_boot=30,
        min_positives=3,
    )
    scores = np.load(tmp_path / "eval" / "scores.npz", allow_pickle=False)
    records = read_phantom_truth(phantom)
    regions, findings = tuple(scores["region_ids"]), tuple(scores["finding_ids"])
    targets = [phantom_targets(records[i], regions, findings) for i in scores["image_ids"]]
    n = len(targets)
    truth = EvalTruth(
        image_ids=scores["image_ids"],
        patients=scores["image_patients"],
        domains=scores["image_domains"],
        region_ids=regions,
        finding_ids=findings,
        region_truth=np.stack([t[0] for t in targets]),
        image_truth=np.stack([t[1] for t in targets]),
        boxes=np.full((n, len(regions), 4), np.nan, np.float32),
    )
    by_model = {
        name: {k: scores[f"{k}__{name}"] for k in ("region_probs", "image_probs", "boxes")}
        for name in ("anatomy_vlm", "prior")
    }
    again = evaluate_scores(truth, by_model, n_boot=30, min_positives=3)
    for name in by_model:
        got, want = metrics["results"][name]["id"], again["results"][name]["id"]
        assert got["region_auroc_macro"]["n_findings"] > 0
        assert got["region_auroc_macro"] == want["region_auroc_macro"]
        assert got["image_auroc_macro"] == want["image_auroc_macro"]
    prior_cells = [
        f["region_auroc"]
        for f in metrics["results"]["prior"]["id"]["per_finding"].values()
        if f["region_auroc"] is not None
    ]
    assert prior_cells and all(v == 0.5 for v in prior_cells)  # one table for every film
    assert metrics["results"]["anatomy_vlm"]["id"]["n_images"] == 60


def test_prior_scores_are_its_table(phantom, prior_run, tmp_path):
    from anatomy_vlm.model.run import load_run

    evaluate([prior_run], [phantom], split="validate", out=tmp_path / "e", progress=False, n_boot=0)
    scores = np.load(tmp_path / "e" / "scores.npz", allow_pickle=False)
    table = load_run(prior_run).region_prevalence
    assert np.array_equal(
        scores["region_probs__prior"], np.broadcast_to(table, scores["region_probs__prior"].shape)
    )


def test_plain_output_is_a_table(phantom, prior_run, tmp_path, capsys):
    code, stdout, _ = _run_cli(
        capsys,
        "--checkpoint",
        prior_run,
        "--data",
        phantom,
        "--out",
        tmp_path / "e",
        "--n-boot",
        "0",
    )
    assert code == 0
    assert stdout.splitlines()[0].startswith("model") and "prior" in stdout


def _one_error_line(capsys, *argv) -> str:
    code, stdout, stderr = _run_cli(capsys, *argv)
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anatomy-vlm: error:"), stderr
    return lines[0]


def test_missing_run_dir_exits_2(phantom, tmp_path, capsys):
    line = _one_error_line(
        capsys, "--checkpoint", tmp_path / "nope", "--data", phantom, "--out", tmp_path / "e"
    )
    assert "not a run directory" in line


def test_foreign_run_config_exits_2(phantom, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text('{"format": "something-else"}')
    assert "run config" in _one_error_line(
        capsys, "--checkpoint", tmp_path / "run", "--data", phantom, "--out", tmp_path / "e"
    )


def test_foreign_data_folder_exits_2(prior_run, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.txt").write_text("meow")
    _one_error_line(capsys, "--checkpoint", prior_run, "--data", folder, "--out", tmp_path / "e")
    _one_error_line(
        capsys, "--checkpoint", prior_run, "--data", tmp_path / "missing", "--out", tmp_path / "e"
    )


def test_mismatched_sets_exit_2(phantom, prior_run, tmp_path, capsys):
    other = _write_fake_run(tmp_path / "fake", region_set=("cig36", None))
    line = _one_error_line(
        capsys,
        "--checkpoint",
        prior_run,
        "--checkpoint",
        other,
        "--data",
        phantom,
        "--out",
        tmp_path / "e",
    )
    assert "different region sets" in line
    changed = _write_fake_run(
        tmp_path / "fake2", name="x", region_set=("cig29", "0000000000000000")
    )
    assert "different region sets" in _one_error_line(
        capsys,
        "--checkpoint",
        prior_run,
        "--checkpoint",
        changed,
        "--data",
        phantom,
        "--out",
        tmp_path / "e",
    )


def test_duplicate_model_names_exit_2(phantom, tmp_path, capsys):
    a = _write_fake_run(tmp_path / "a", name="same")
    b = _write_fake_run(tmp_path / "b", name="same")
    assert "named 'same'" in _one_error_line(
        capsys, "--checkpoint", a, "--checkpoint", b, "--data", phantom, "--out", tmp_path / "e"
    )


def test_out_is_a_file_exits_2(phantom, prior_run, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _one_error_line(capsys, "--checkpoint", prior_run, "--data", phantom, "--out", blocker)


def _copy(phantom: Path, to: Path, *, domain: str | None = None, drop_truth: bool = False) -> Path:
    import shutil

    shutil.copytree(phantom, to)
    truth = to / "phantom_truth.jsonl"
    if drop_truth:
        truth.unlink()
    elif domain is not None:
        records = [json.loads(line) for line in truth.read_text().splitlines()]
        truth.write_text("".join(json.dumps({**r, "domain": domain}) + "\n" for r in records))
    return to


def test_repeated_data_scored_per_domain(phantom, prior_run, tmp_path):
    shifted = _copy(phantom, tmp_path / "shifted", domain="low_dose")
    metrics = evaluate(
        [prior_run], [phantom, shifted], split="test", out=tmp_path / "e", progress=False, n_boot=0
    )
    n_test = sum(r["split"] == "test" for r in read_phantom_truth(phantom).values())
    assert set(metrics["results"]["prior"]) == {"id", "low_dose"}
    assert (
        metrics["domains"]["id"]["n_images"] == metrics["domains"]["low_dose"]["n_images"] == n_test
    )
    assert metrics["protocol"]["data"] == ["phantom", "shifted"]
    scores = np.load(tmp_path / "e" / "scores.npz", allow_pickle=False)
    assert len(scores["image_ids"]) == 2 * n_test
    # the same subject ids in both folders are different patients
    assert len(set(scores["image_patients"])) == 2 * len(set(scores["image_patients"][:n_test]))


def test_real_data_truth_is_the_dataset_labels(phantom, prior_run, tmp_path):
    """Without phantom_truth.jsonl the truth is the loader's own labels, hedged ones left out,
    and the domain is ``id``."""
    from anatomy_vlm.data.datasets import open_dataset

    real = _copy(phantom, tmp_path / "real", drop_truth=True)
    metrics = evaluate(
        [prior_run],
        [real],
        split="all",
        out=tmp_path / "e",
        progress=False,
        n_boot=0,
        min_positives=1,
    )
    assert metrics["protocol"]["truth"] == ["dataset_labels"]
    assert set(metrics["results"]["prior"]) == {"id"}
    dataset = open_dataset("mimic", real, region_set="cig29", finding_set="core", load_masks=False)
    samples = [dataset[i] for i in range(len(dataset))]
    firm = np.stack([(s.region_labels.numpy() == 1) & ~s.region_uncertain.numpy() for s in samples])
    negative = np.stack(
        [(s.region_labels.numpy() == 0) & ~s.region_uncertain.numpy() for s in samples]
    )
    cells = metrics["domains"]["id"]["cells"]
    assert any(cells.values())
    for j, finding in enumerate(dataset.finding_set.ids):
        expected = [
            r
            for i, r in enumerate(dataset.region_set.ids)
            if firm[:, i, j].any() and negative[:, i, j].any()
        ]
        assert cells[finding] == expected
        per = metrics["results"]["prior"]["id"]["per_finding"][finding]
        used = [dataset.region_set.ids.index(r) for r in cells[finding]]
        assert per["n_pos"] == int(firm[:, used, j].sum())


def test_package_api_is_light_and_callable():
    import subprocess
    import sys

    code = (
        "import sys, anatomy_vlm.eval.evaluator, anatomy_vlm.eval.cli\n"
        "from anatomy_vlm.eval import evaluate, evaluate_scores\n"
        "assert callable(evaluate) and callable(evaluate_scores)\n"
        "assert 'torch' not in sys.modules, 'importing anatomy_vlm.eval imported torch'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


class NanPredictor(FakePredictor):
    def predict(self, images):
        out = super().predict(images)
        out["region_probs"][0, 0, 0] = np.nan
        return out


def load_nan(run_dir, config, *, device="cpu"):
    return NanPredictor(config)


def test_nan_probabilities_refused(phantom, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(run_module.LOADERS, "fake", f"{__name__}:load_nan")
    fake = _write_fake_run(tmp_path / "fake")
    line = _one_error_line(capsys, "--checkpoint", fake, "--data", phantom, "--out", tmp_path / "e")
    assert "NaN" in line
