"""``benchmarks/bench_ablations.py --smoke``: five variants trained, scored and tabled."""

import json

import pytest


@pytest.mark.slow  # five 2-step trainings and one evaluation (~50 s on 2 cores)
def test_ablation_smoke_writes_table_and_plot(tmp_path):
    from benchmarks.bench_ablations import VARIANTS, main

    assert main(["--smoke", "--work", str(tmp_path)]) == 0
    results = tmp_path / "results"
    payload = json.loads((results / "ablations.json").read_text())
    assert set(payload["table"]) == set(VARIANTS) and payload["setup"]["steps"] == 2
    for variant, row in payload["table"].items():
        region = row["region_auroc_macro"]
        assert region["n"] == 1 and 0.0 <= region["mean"] <= 1.0, variant
    markdown = (results / "ablations.md").read_text()
    assert "SMOKE" in markdown and markdown.count("\n| ") == 1 + len(VARIANTS)
    assert (results / "ablations.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_switches_default_to_the_full_model():
    from anatomy_vlm.errors import ConfigError
    from anatomy_vlm.model.config import ModelConfig

    default = ModelConfig()
    assert (default.query_init, default.fusion, default.shuffle_knowledge) == ("kg", True, False)
    for bad in ({"query_init": "none"}, {"fusion": "off"}, {"shuffle_knowledge": 1}):
        with pytest.raises(ConfigError):
            ModelConfig(**bad)
