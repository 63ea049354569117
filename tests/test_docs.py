"""Design citations point into the repository: no code cites a design file that is not here,
and every ``docs/<page>.md#<anchor>`` cited in code, and every link between the docs pages,
names a heading that exists (GitHub-style anchors)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SCANNED = ("kg", "anatomy_vlm", "ontology", "tests", "benchmarks")
TEXT_SUFFIXES = {".py", ".md", ".ttl", ".tsv", ".json", ".txt", ".toml", ".cfg", ".ini", ".yaml", ".yml"}
SKIP_PARTS = {"__pycache__", ".git", ".venv", "node_modules"}

# Design files that lived outside the repository; their content is now in docs/.
DESIGN_FILES = ("ARCHITECTURE.md", "RADIOGRAPH_FACTS.md", "BRIEF.md", "KNOWLEDGE_SOURCES.md")
# Cited with or without ".md" ("KNOWLEDGE_SOURCES §4.5", "ARCHITECTURE steps 1-2").
DESIGN_CITATION = re.compile(r"\b(ARCHITECTURE|RADIOGRAPH_FACTS|BRIEF|KNOWLEDGE_SOURCES)\b(?:\.md)?")
DOCS_CITATION = re.compile(r"\bdocs/([\w.\-]+\.md)(?:#([\w\-]+))?")
MD_LINK = re.compile(r"\]\(([\w.\-]*\.md)?(?:#([\w\-]+))?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def scanned_files() -> list[Path]:
    """Text files under the scanned folders and the top-level README, this test excluded."""
    files = [REPO / "README.md"]
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*")):
            if (path.is_file() and path.suffix in TEXT_SUFFIXES and not SKIP_PARTS & set(path.parts)
                    and path.resolve() != Path(__file__).resolve()):
                files.append(path)
    return [p for p in files if p.is_file()]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip()).lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown page (duplicates get GitHub's ``-1``, ``-2`` …)."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            out.add(base if count == 0 else f"{base}-{count}")
    return frozenset(out)


def test_slug_matches_github():
    assert slug("Chest ImaGenome scene graphs") == "chest-imagenome-scene-graphs"
    assert slug("Identifiers: RadLex and UMLS") == "identifiers-radlex-and-umls"
    assert slug("Interpret output (planned)") == "interpret-output-planned"
    assert slug("Left-right pairs") == "left-right-pairs"
    assert slug("`metrics.json` format") == "metricsjson-format"
    assert slug("The cig38_text set") == "the-cig38_text-set"


def test_docs_pages_exist():
    for name in ("README.md", "architecture.md", "data_formats.md", "radiograph_facts.md"):
        assert (DOCS / name).is_file(), name


def test_no_citation_of_a_design_file_outside_the_repository():
    present = {name for name in DESIGN_FILES if (REPO / name).is_file() or (DOCS / name).is_file()}
    problems = []
    for path in scanned_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for match in DESIGN_CITATION.finditer(line):
                if f"{match.group(1)}.md" not in present:
                    problems.append(f"{path.relative_to(REPO)}:{number}: {match.group(0)}")
    assert not problems, "cites a design file that is not in the repository (cite docs/...):\n" + "\n".join(problems)


def test_every_cited_docs_anchor_exists():
    cited = 0
    problems = []
    for path in scanned_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for match in DOCS_CITATION.finditer(line):
                page, anchor = DOCS / match.group(1), match.group(2)
                cited += 1
                where = f"{path.relative_to(REPO)}:{number}: {match.group(0)}"
                if not page.is_file():
                    problems.append(f"{where} (no such page)")
                elif anchor is not None and anchor not in anchors(page):
                    problems.append(f"{where} (no such heading)")
    assert not problems, "\n".join(problems)
    assert cited > 0, "no docs/ citation found: the scan is looking in the wrong place"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_links_between_docs_pages_resolve(page):
    problems = []
    for number, line in enumerate((DOCS / page).read_text(encoding="utf-8").splitlines(), 1):
        for match in MD_LINK.finditer(line):
            target = DOCS / (match.group(1) or page)
            anchor = match.group(2)
            if not target.is_file():
                problems.append(f"{page}:{number}: {match.group(0)} (no such page)")
            elif anchor is not None and anchor not in anchors(target):
                problems.append(f"{page}:{number}: {match.group(0)} (no such heading)")
    assert not problems, "\n".join(problems)
