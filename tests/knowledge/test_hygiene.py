"""Hygiene: no unpickling in the knowledge package, lazy imports, and kg / light paths never import it."""

from __future__ import annotations

from pathlib import Path

import anatomy_vlm.knowledge as knowledge

FORBIDDEN = ("import pickle", "torch.load(", "allow_pickle=True", "np.load(", "joblib")


def test_sources_never_unpickle():
    root = Path(knowledge.__file__).parent
    for source in root.glob("*.py"):
        text = source.read_text(encoding="utf-8")
        for pattern in FORBIDDEN:
            assert pattern not in text, f"{source.name} uses {pattern}"


def test_package_import_is_lazy():
    import subprocess
    import sys

    code = "import sys, anatomy_vlm.knowledge; print('torch' in sys.modules, 'faiss' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_kg_and_light_paths_never_import_the_knowledge_package():
    repo = Path(knowledge.__file__).parents[2]
    light = [*sorted((repo / "kg").rglob("*.py")), repo / "anatomy_vlm" / "cli.py",
             *sorted((repo / "anatomy_vlm" / "report").glob("*.py"))]
    for source in light:
        assert "anatomy_vlm.knowledge" not in source.read_text(encoding="utf-8"), source.name
