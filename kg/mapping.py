"""Map corpus terms (PadChest labels/localizations, Open-I MeSH parts) to ontology ids.

Combines laterality with sites inside one scope (a report sentence, a MeSH term): a side
(`loc left`) plus a site (`loc basal` → lung base) gives the site's lateral variant
(left lung base); ``bilateral`` splits into both sides. Within a scope only the most
specific sites are kept (PadChest annotates a child localization together with its parent).
"""

from __future__ import annotations

from collections import defaultdict

SIDES = ("left", "right")
FINDING_TYPES = ("finding", "disease", "device")
# Negative findings ("heart size normal" → normal + loc cardiac) are not located_in evidence.
NORMAL_IDS = frozenset({"normal", "no_finding", "normal_study"})


class TermMapper:
    """Crosswalk lookups plus the ontology structure needed to compose sides and sites.

    Args:
        nodes: ``{id: record}`` as read by :func:`kg.ontology.read_classes`.
        edges: ``[[source, relation, target], ...]`` axiom edges.
        crosswalks: ``{vocabulary: [[label, id, match, note], ...]}``.
    """

    def __init__(self, *, nodes: dict[str, dict], edges: list[list[str]], crosswalks: dict[str, list[list[str]]]):
        self.nodes = nodes
        self.up: dict[str, set[str]] = defaultdict(set)  # is_a + part_of parents
        self.sites: dict[str, list[str]] = defaultdict(list)  # finding -> has_finding_site
        for src, rel, dst in edges:
            if rel in ("is_a", "part_of"):
                self.up[src].add(dst)
            elif rel == "has_finding_site":
                self.sites[src].append(dst)
        self.tables = {
            vocab: _table(rows) for vocab, rows in crosswalks.items()
        }
        self._lateral = self._lateral_index()
        self._base_of = {variant: base for (base, _side), variant in self._lateral.items()}
        self._ancestors: dict[str, set[str]] = {}

    def _lateral_index(self) -> dict[tuple[str, str], str]:
        index: dict[tuple[str, str], str] = {}
        ranked: list[tuple[int, str, str, str]] = []
        for nid, rec in self.nodes.items():
            side = rec.get("laterality")
            if side not in SIDES:
                continue
            base = nid[len(side) + 1:] if nid.startswith(side + "_") else None
            if base in self.nodes and self.nodes[base].get("laterality") not in SIDES:
                ranked.append((0, base, side, nid))
            for parent in self.up.get(nid, ()):
                if self.nodes.get(parent, {}).get("laterality") not in SIDES:
                    ranked.append((1, parent, side, nid))
        for _, base, side, nid in sorted(ranked):
            index.setdefault((base, side), nid)
        return index

    def lateral(self, node_id: str, side: str) -> str | None:
        """The ``side`` variant of a non-lateral node (``lung_base``, left → ``left_lung_base``)."""
        return self._lateral.get((node_id, side))

    def side_of(self, node_id: str) -> tuple[str, ...]:
        """Sides a laterality qualifier stands for: ``left`` → (left,), ``bilateral`` → (left, right)."""
        rec = self.nodes.get(node_id, {})
        side = rec.get("laterality") if rec.get("type") == "qualifier" else None
        side = side or (node_id if node_id in ("left", "right", "bilateral") else None)
        if side == "bilateral":
            return SIDES
        return (side,) if side in SIDES else ()

    def ancestors(self, node_id: str) -> set[str]:
        """All is_a / part_of ancestors of a node (cached)."""
        if node_id not in self._ancestors:
            seen: set[str] = set()
            stack = list(self.up.get(node_id, ()))
            while stack:
                cur = stack.pop()
                if cur not in seen:
                    seen.add(cur)
                    stack.extend(self.up.get(cur, ()))
            self._ancestors[node_id] = seen
        return self._ancestors[node_id]

    def ids(self, vocabulary: str, term: str) -> list[str]:
        """Ontology ids a vocabulary term maps to (case-insensitive; unmapped → [])."""
        return self.tables.get(vocabulary, {}).get(term.strip().lower(), [])

    def findings(self, vocabulary: str, terms) -> list[str]:
        """Finding/disease/device ids of terms, normal-type ids excluded, order kept."""
        out: dict[str, None] = {}
        for term in terms:
            for nid in self.ids(vocabulary, term):
                if self.nodes.get(nid, {}).get("type") in FINDING_TYPES and nid not in NORMAL_IDS:
                    out[nid] = None
        return list(out)

    def compose(self, vocabulary: str, finding_ids: list[str], location_terms) -> set[tuple[str, str]]:
        """(finding, anatomy) pairs of one scope, sides combined with sites.

        A side with no site falls back to the finding's typical site (``has_finding_site``)
        on that side, else the side's lung.
        """
        sites: list[str] = []
        sides: set[str] = set()
        for term in location_terms:
            for nid in self.ids(vocabulary, term):
                kind = self.nodes.get(nid, {}).get("type")
                if kind == "anatomy":
                    sites.append(nid)
                else:
                    sides.update(self.side_of(nid))
        pairs: set[tuple[str, str]] = set()
        for finding in finding_ids:
            for site in self._place(self._specific(sites), sides, finding):
                pairs.add((finding, site))
        return pairs

    def _place(self, sites: list[str], sides: set[str], finding: str) -> list[str]:
        if not sides:
            return sites
        if not sites:
            typical = [s for s in self.sites.get(finding, []) if self.nodes[s].get("type") == "anatomy"]
            sites = typical or ["lung"]
        out: list[str] = []
        for site in sites:
            if self.nodes.get(site, {}).get("laterality") in SIDES:
                out.append(site)
                continue
            variants = [v for v in (self.lateral(site, side) for side in sorted(sides)) if v]
            out.extend(variants or [site])
        return [s for s in dict.fromkeys(out) if s in self.nodes]

    def _specific(self, sites: list[str]) -> list[str]:
        unique = list(dict.fromkeys(sites))
        covered: set[str] = set()
        for site in unique:
            covered |= self.ancestors(site)
            if site in self._base_of:
                covered.add(self._base_of[site])
        return [s for s in unique if s not in covered]


def _table(rows: list[list[str]]) -> dict[str, list[str]]:
    table: dict[str, list[str]] = defaultdict(list)
    for label, oid, match, _note in rows:
        if match != "unmapped" and oid and oid not in table[label.lower()]:
            table[label.lower()].append(oid)
    return dict(table)
