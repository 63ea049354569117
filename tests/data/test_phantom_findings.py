"""One source of truth per concept (issue 6 §5): the finding table, the KG's sets, one KG
accessor, a frozen run context and no import cycle inside the phantom package."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import anatomy_vlm.data.phantom as phantom_pkg
from anatomy_vlm.data import region_truth
from anatomy_vlm.data.phantom import devices, findings, lesions, regions, reports, sampler, vocab
from anatomy_vlm.data.phantom.context import RunContext
from kg.sets import finding_set, region_set


def test_the_phantom_sets_are_the_kgs_sets():
    assert findings.CORE_FINDINGS == finding_set("core").ids
    assert findings.CIG36 == region_set("cig36").ids
    assert regions.CIG36 == region_set("cig36").ids and lesions.CORE == finding_set("core").ids
    assert sampler.CORE_FINDINGS == finding_set("core").ids
    assert set(findings.RULES) == set(finding_set("core").ids)  # one rule per core finding, no more


def test_every_rule_names_real_regions_and_a_renderer():
    known = set(region_set("cig36").ids) | set(region_set("cig38_text").ids)
    for finding, rule in findings.RULES.items():
        assert rule.truth in (findings.COVERAGE, findings.FIXED, findings.TIP), finding
        for side in ("right", "left", None):
            assert rule.candidate_regions(side) and set(rule.candidate_regions(side)) <= set(findings.CIG36)
            assert set(rule.default_regions(side)) <= known
            assert set(findings.expand(rule.side_regions, side)) <= known
        assert (finding in devices._DEVICE_DRAW) == rule.device and (finding in lesions._DRAW) != rule.device
        assert rule.prevalence > 0 and 0.0 <= rule.p_bilateral <= 1.0
        assert rule.sided or rule.p_bilateral == 0.0
        assert rule.imagenome, finding


def test_everyone_reads_the_table():
    """Region truth, reports and label maps answer from the rows, not from copies."""
    rule = findings.RULES["pleural_effusion"]
    assert region_truth.candidate_regions("pleural_effusion", "left") == rule.candidate_regions("left")
    assert region_truth.default_regions("pleural_effusion") == ("right_lung", "left_lung")
    assert region_truth.LUNG_FINDINGS == findings.LUNG_FINDINGS
    assert region_truth.DEVICE_FINDINGS == set(findings.DEVICES)
    assert reports._ORDER == tuple(findings.RULES) and set(reports._NOUNS) == set(vocab._NOUN_FINDINGS)
    assert all(vocab._BUILTIN_IMAGENOME[f] == r.imagenome for f, r in findings.RULES.items())
    with pytest.raises(KeyError, match="no phantom rule"):
        region_truth.candidate_regions("unicorn")


def test_region_truth_has_no_fallback_table_and_raises_when_the_kg_fails(monkeypatch):
    from anatomy_vlm import kgload
    from kg.errors import OntologyError

    assert not hasattr(region_truth, "load_kg") and not hasattr(region_truth, "_STATIC_PARENTS")

    def broken():
        raise OntologyError("ontology folder missing")

    monkeypatch.setattr(kgload, "load_kg", broken)
    with pytest.raises(OntologyError):
        region_truth.region_hierarchy(("left_lung", "left_apical_zone"))
    with pytest.raises(OntologyError):
        sampler.build_priors()
    with pytest.raises(OntologyError):
        vocab.build_label_maps()


def test_the_hierarchy_comes_from_the_kg():
    from anatomy_vlm.kgload import load_kg

    hierarchy = region_truth.region_hierarchy(findings.CIG36, graph=load_kg())
    assert hierarchy["left_apical_zone"] == ("left_lung",)
    assert "upper_mediastinum" in hierarchy["carina"] and "mediastinum" in hierarchy["carina"]


def test_workers_get_a_frozen_context_not_module_state():
    from anatomy_vlm.data.phantom import generate, image_job

    assert dataclasses.is_dataclass(RunContext) and RunContext.__dataclass_params__.frozen
    assert not hasattr(generate, "_STATE") and not hasattr(image_job, "_STATE")
    assert list(image_job.make_image.__code__.co_varnames[:2]) == ["context", "job"]


def _phantom_imports(path: Path) -> set[str]:
    """Phantom modules ``path`` imports at run time (lazy imports included; ``if TYPE_CHECKING:``
    blocks, which only name types, left out)."""
    names: set[str] = set()
    stack = [ast.parse(path.read_text())]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "anatomy_vlm.data.phantom":
                names.update(a.name for a in node.names)
            elif node.module.startswith("anatomy_vlm.data.phantom."):
                names.add(node.module.rsplit(".", 1)[1])
        stack.extend(ast.iter_child_nodes(node))
    return names


def test_no_import_cycle_inside_the_phantom_package():
    folder = Path(phantom_pkg.__file__).parent
    graph = {p.stem: _phantom_imports(p) - {p.stem} for p in folder.glob("*.py") if p.stem != "__init__"}
    state: dict[str, int] = {}

    def visit(module: str, path: tuple[str, ...]) -> None:
        if state.get(module) == 2:
            return
        assert state.get(module) != 1, f"import cycle: {' -> '.join((*path, module))}"
        state[module] = 1
        for other in sorted(graph.get(module, ())):
            visit(other, (*path, module))
        state[module] = 2

    for module in sorted(graph):
        visit(module, ())
    assert "generate" not in graph["image_job"] | graph["dataset_files"]
