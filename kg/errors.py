"""Typed errors of the kg package (bad input a user can cause)."""

from __future__ import annotations


class KGError(Exception):
    """Base class of kg errors; the CLI prints one line and exits 2."""


class OntologyError(KGError):
    """The ontology (Turtle/OWL) or a crosswalk file is missing or malformed."""


class UnknownTermError(KGError):
    """Free text or an id that resolves to no node."""

    def __init__(self, term: str, suggestions: list[str] | None = None):
        self.term = term
        self.suggestions = list(suggestions or [])
        hint = f"; did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown term {term!r}{hint}")


class QueryError(KGError):
    """A malformed SPARQL query or an unsupported export request."""


class QueryLimitError(QueryError):
    """A SPARQL query ran past a limit. ``reason``: ``"rows"``, ``"timeout"`` or ``"memory"``."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)
