"""Result types of the kg API (plain frozen dataclasses, JSON-ready through ``to_json``)."""

from __future__ import annotations

from dataclasses import dataclass, field

NODE_TYPES = ("anatomy", "finding", "disease", "device", "qualifier")


@dataclass(frozen=True)
class Node:
    """One ontology class. ``type`` is one of :data:`NODE_TYPES`; ids are snake_case."""

    id: str
    label: str
    type: str
    radlex: str | None = None
    umls: str | None = None
    synonyms: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = ()
    definition: str | None = None
    xrefs: tuple[str, ...] = ()
    laterality: str | None = None
    cig_name: str | None = None
    cig_short: str | None = None
    unverified: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """The public JSON node: ``{"id","label","type","radlex","umls","synonyms"}``."""
        return {
            "id": self.id,
            "label": self.label,
            "type": self.type,
            "radlex": self.radlex,
            "umls": self.umls,
            "synonyms": list(self.synonyms),
        }

    @classmethod
    def from_record(cls, node_id: str, record: dict) -> Node:
        tuples = ("synonyms", "abbreviations", "xrefs", "unverified")
        kwargs = {k: (tuple(v) if k in tuples else v) for k, v in record.items()}
        return cls(id=node_id, **kwargs)


@dataclass(frozen=True)
class Match:
    """A node matched by free text. ``score`` in (0, 1]; ``matched_text`` is the key that hit.

    When the text combined a finding with where or how it was seen (``"bibasilar atelectasis"``,
    ``"small left pleural effusion"``, ``"opacity in the right lower lobe"``), ``node`` is the
    finding and the rest is reported apart: ``locations`` the anatomy ids it named (a side word
    alone gives the hemithorax, ``bibasilar`` both lung bases), ``qualifiers`` the qualifier ids
    (``left``, ``small``, ``subsegmental``…), ``location_text`` the normalised words of that part.
    All empty (``None``) when the text named the node alone.
    """

    node: Node
    score: float
    matched_text: str
    locations: tuple[str, ...] = ()
    qualifiers: tuple[str, ...] = ()
    location_text: str | None = None

    def to_json(self) -> dict:
        return {"node": self.node.to_json(), "score": round(self.score, 4), "matched_text": self.matched_text,
                "locations": list(self.locations), "qualifiers": list(self.qualifiers),
                "location_text": self.location_text}


@dataclass(frozen=True)
class Ranked:
    """A ranked answer of ``findings_at`` / ``locations_of``.

    ``count`` and ``sources`` are raw numbers of studies (reports for Open-I) per evidence source,
    never scaled by projection weights; when an answer gathers several evidence anatomies (parts,
    projections) they are the sum of the per-anatomy counts, so a study naming two of them counts
    twice; ``score`` in [0, 1] is the ranking score (for region-set
    answers: the projected score). ``via`` lists the evidence anatomy each count came through,
    with its projection weight: ``(anatomy_id, source, studies, weight)``.
    """

    node: Node
    relation: str
    count: int
    sources: dict[str, int]
    score: float
    via: tuple[tuple[str, str, int, float], ...] = field(default=())

    def to_json(self) -> dict:
        return {
            "node": self.node.to_json(),
            "relation": self.relation,
            "count": self.count,
            "sources": dict(self.sources),
            "score": round(self.score, 6),
            "via": [list(v) for v in self.via],
        }


@dataclass(frozen=True)
class Step:
    """One edge of a path, in walking order: ``source --relation--> target``.

    ``inverse`` is True when the stored edge points the other way (target --relation--> source).
    """

    source: str
    relation: str
    target: str
    inverse: bool = False

    def to_json(self) -> dict:
        return {"source": self.source, "relation": self.relation, "target": self.target, "inverse": self.inverse}


@dataclass(frozen=True)
class CrosswalkEntry:
    """One crosswalk row: a dataset label mapped to an ontology id (``None`` when unmapped)."""

    label: str
    ontology_id: str | None
    match: str
    note: str = ""

    def to_json(self) -> dict:
        return {"label": self.label, "ontology_id": self.ontology_id, "match": self.match, "note": self.note}
