"""Text for the model: node text for embeddings and graph-enriched (finding, region) prompts."""

from __future__ import annotations

from kg.types import Node


def _clause(definition: str | None) -> str:
    """A definition as a lower-case clause without the final period (acronyms kept)."""
    text = (definition or "").strip().rstrip(".")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        text = text[0].lower() + text[1:]
    return text


def node_text(node: Node) -> str:
    """``"<label>: <definition> Synonyms: a, b."`` — the text embedded as the node's input feature."""
    definition = (node.definition or "").strip()
    text = f"{node.label}: {definition}" if definition else node.label
    names = [s for s in (*node.synonyms, *node.abbreviations) if s.lower() != node.label.lower()]
    if names:
        text = f"{text.rstrip('.')}. Synonyms: {', '.join(dict.fromkeys(names))}."
    return text


def prompt(finding: Node, region: Node | None = None, *, negated: bool = False) -> str:
    """Graph-enriched prompt for a finding at a region (or the whole image when None).

    ``"left costophrenic angle: pleural effusion — fluid in the pleural space, …"``;
    negated: ``"left costophrenic angle: no pleural effusion"``.
    """
    head = f"{region.label}: " if region is not None else ""
    if negated:
        return f"{head}no {finding.label}"
    clause = _clause(finding.definition)
    return f"{head}{finding.label} — {clause}" if clause else f"{head}{finding.label}"
