"""`anatomy-vlm kg …`: every subcommand in-process, bad inputs, and one real subprocess call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anatomy_vlm.cli import main

from .conftest import MINI, environ


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["kg", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_info(real_kg, capsys):
    info = run_json(capsys, "info")
    assert info["version"] == real_kg.version
    assert info["nodes"]["anatomy"] > 0 and "part_of" in info["edges"] and "located_in" in info["edges"]
    assert info["missing"] == []
    code, out, _ = run(capsys, "info")
    assert code == 0 and "nodes:" in out


def test_resolve_l_cpa(real_kg, capsys):
    payload = run_json(capsys, "resolve", "L CPA")
    assert payload["matches"][0]["node"]["id"] == "left_costophrenic_angle"
    assert set(payload["matches"][0]["node"]) == {"id", "label", "type", "radlex", "umls", "synonyms"}
    code, out, _ = run(capsys, "resolve", "plueral efusion")
    assert code == 0 and out.split()[1] == "pleural_effusion"


def test_findings_at_cardiac_silhouette(real_kg, capsys):
    payload = run_json(capsys, "findings-at", "cardiac silhouette")
    ids = [r["node"]["id"] for r in payload["results"]]
    assert "cardiomegaly" in ids
    cardio = payload["results"][ids.index("cardiomegaly")]
    assert cardio["relation"] in ("located_in", "has_finding_site") and "sources" in cardio


def test_locations_of_pleural_effusion(real_kg, capsys):
    payload = run_json(capsys, "locations-of", "pleural effusion")
    assert payload["region_set"] == "cig29" and payload["region_set_hash"]
    top = [r["node"]["id"] for r in payload["results"][:4]]
    assert all("costophrenic_angle" in rid or "lower_lung_zone" in rid for rid in top), top
    first = payload["results"][0]
    assert first["sources"] and all(isinstance(n, int) and n > 0 for n in first["sources"].values())
    assert {"padchest_physician", "padchest_model"} <= set(first["sources"])
    raw = run_json(capsys, "locations-of", "pleural effusion", "--region-set", "raw")
    assert raw["region_set"] is None and raw["results"]


def test_path_pneumonia_to_right_lower_lung_zone(real_kg, capsys):
    payload = run_json(capsys, "path", "pneumonia", "right lower lung zone")
    steps = payload["paths"][0]
    assert steps[0]["source"] == "pneumonia" and steps[-1]["target"] == "right_lower_lung_zone"
    assert all(s["relation"] and s["source_label"] and s["target_label"] for s in steps)
    code, out, _ = run(capsys, "path", "pneumonia", "right lower lung zone", "-k", "2")
    assert code == 0 and len(out.strip().splitlines()) == 2


def test_sparql_query_and_file(real_kg, capsys, tmp_path):
    query = "SELECT ?part WHERE { ?part avlm:part_of avlm:left_lung }"
    rows = run_json(capsys, "sparql", query)["rows"]
    assert {"part": "avlm:left_lower_lung_zone"} in rows
    file = tmp_path / "q.rq"
    file.write_text("SELECT ?f ?n WHERE { ?e a avlm:LocatedInEvidence ; avlm:finding ?f ; avlm:studies ?n } LIMIT 3")
    rows = run_json(capsys, "sparql", str(file))["rows"]
    assert len(rows) == 3 and all(isinstance(r["n"], int) for r in rows)


def test_sparql_long_one_line_query_is_text(real_kg, capsys):
    query = "SELECT ?part WHERE { ?part avlm:part_of avlm:left_lung } " + "#" * 300  # longer than a file name
    rows = run_json(capsys, "sparql", query)["rows"]
    assert {"part": "avlm:left_lower_lung_zone"} in rows


def test_export_all_formats(mini_kg, mini_corpora, capsys, tmp_path):
    # the tiny ontology keeps this fast; the real graph's exports are the same code
    with environ(ANATOMY_VLM_ONTOLOGY=str(MINI), ANATOMY_VLM_XRV_DATA=str(mini_corpora)):
        for fmt, name in (("ttl", "kg.ttl"), ("graphml", "kg.graphml"), ("pyg", "sub/kg")):
            payload = run_json(capsys, "export", "--format", fmt, "--out", str(tmp_path / name))
            assert all(Path(f).is_file() and Path(f).stat().st_size > 0 for f in payload["files"])
        code, _, err = run(capsys, "export", "--format", "ttl", "--out", str(tmp_path))
    assert (tmp_path / "sub" / "kg.safetensors").is_file() and (tmp_path / "sub" / "kg.mapping.json").is_file()
    assert code == 2 and "is a folder" in err


@pytest.mark.parametrize(
    "argv",
    [
        ("resolve", "xqzlorp"),
        ("findings-at", "xqzlorp"),
        ("locations-of", "plural efusionnnn qqq"),
        ("path", "pneumonia", "xqzlorp"),
        ("sparql", "SELEC ?x WHERE {"),
        ("sparql", "missing/query.rq"),
        ("locations-of", "pleural effusion", "--region-set", "cig30"),
    ],
)
def test_bad_input_exits_2_with_one_line(real_kg, capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("anatomy-vlm: error: ")


def test_unknown_term_suggests(real_kg, capsys):
    code, _, err = run(capsys, "resolve", "pleural effusionxx zzzz")
    assert code == 2 and "did you mean" in err


def test_malformed_turtle_exits_2(tmp_path, capsys):
    broken = tmp_path / "onto"
    broken.mkdir()
    for item in MINI.iterdir():
        if item.is_file():
            (broken / item.name).write_bytes(item.read_bytes())
    (broken / "broken.ttl").write_text("@prefix avlm: <x#> .\navlm:a a avlm:b ;;; ] .\n")
    with environ(ANATOMY_VLM_ONTOLOGY=str(broken)):
        code, _, err = run(capsys, "info")
    assert code == 2 and "malformed Turtle in broken.ttl" in err and len(err.strip().splitlines()) == 1


def test_builds_without_corpora(capsys):
    with environ(ANATOMY_VLM_XRV_DATA=""):
        info = run_json(capsys, "info")
    assert info["evidence_studies"] == {} and info["edges"]["located_in"] == 0
    assert any("padchest" in m for m in info["missing"]) and any("openi" in m for m in info["missing"])
    assert info["nodes"]["anatomy"] > 0


def test_real_subprocess_never_imports_torch(real_kg):
    code = ("import sys, json; import kg; heavy = sorted({'torch', 'rdflib', 'networkx', 'numpy'} & set(sys.modules)); "
            "from anatomy_vlm.cli import main; rc = main(['kg', 'resolve', 'RLL', '--json']); "
            "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules, 'import_kg_heavy': heavy}))")
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo,
                          env=dict(os.environ), timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"rc": 0, "torch": False, "import_kg_heavy": []}
    assert json.loads("\n".join(lines[:-1]))["matches"][0]["node"]["id"] == "right_lower_lobe"
