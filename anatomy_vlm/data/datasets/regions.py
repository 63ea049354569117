"""Localization terms (PadChest ``loc …``, Open-I MeSH qualifiers) -> region-set ids.

Rule (declared; conservative, since a positive region label is a claim):

1. Each term goes through its crosswalk (``padchest_localizations``, ``openi_mesh``); targets
   that are laterality qualifiers (``left``, ``right``, ``bilateral``) give the sides, anatomy
   targets give the sites (other targets — findings, severities — are ignored).
2. With sides, a site becomes its lateral variant (``left`` + ``costophrenic_angle`` ->
   ``left_costophrenic_angle``; ``left`` + ``lung_base`` -> ``left_lung_base``).
3. A node in the region set names itself. Otherwise, with the KG: a paired structure whose side
   is unknown (``lung`` with no side) names nothing; any other node names its nearest
   ``part_of`` ancestor in the set and the regions its weighted ``projects_onto`` mapping
   sends at least ``min_weight`` (default 0.5) of it to (``heart`` -> cardiac_silhouette,
   ``left_lung_base`` -> left_lower_lung_zone). Without the KG only steps 1–2 and set members.

The graph is an argument (``graph="kg"`` loads the default through
:func:`anatomy_vlm.kgload.load_kg`, which raises when the KG cannot be built): a broken KG is
an error, never a silent switch to the KG-free rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["RegionLocator", "located_regions"]

SIDES = {"left": ("left",), "right": ("right",), "bilateral": ("left", "right")}


def located_regions(anatomy_ids: Iterable[str], region_ids: Iterable[str]) -> list[str]:
    """Steps 1–3 without a KG: set members, and side + site combined into ``side_site``."""
    allowed = set(region_ids)
    ids = list(dict.fromkeys(anatomy_ids))
    sides = [s for i in ids for s in SIDES.get(i, ())]
    found = [i for i in ids if i in allowed]
    for site in ids:
        if site in SIDES:
            continue
        for side in sides:
            lateral = f"{side}_{site}"
            if lateral in allowed and lateral not in found:
                found.append(lateral)
    return found


class RegionLocator:
    """Maps bags of localization terms to region-set ids (module docstring).

    Args:
        region_ids: the region set's ids.
        crosswalk: ``(vocabulary, label) -> [(ontology_id, match)]``.
        graph: an ``AnatomyKG``, ``"kg"`` for :func:`anatomy_vlm.kgload.load_kg` (raises when
            the KG cannot be built), or None for the KG-free rule.
        min_weight: least ``projects_onto`` weight that names a region.
    """

    def __init__(
        self,
        *,
        region_ids: Iterable[str],
        crosswalk: Callable[[str, str], list[tuple[str, str]]],
        graph=None,
        min_weight: float = 0.5,
    ) -> None:
        self.region_ids = tuple(region_ids)
        self._allowed = frozenset(self.region_ids)
        self._crosswalk = crosswalk
        if isinstance(graph, str):
            if graph != "kg":
                raise ValueError(f"graph must be an AnatomyKG, 'kg' or None, got {graph!r}")
            from anatomy_vlm.kgload import load_kg

            graph = load_kg()
        self._graph = graph
        self.min_weight = min_weight
        self._cache: dict[str, list[str]] = {}

    def regions(self, vocabulary: str, terms: Iterable[str]) -> list[str]:
        """Region ids named by ``terms`` (one sentence's / one MeSH term's localizations)."""
        ids = [t for term in terms for t, m in self._crosswalk(vocabulary, term)
               if m in {"exact", "broad", "narrow"}]
        if self._graph is None:
            return located_regions(ids, self.region_ids)
        sides = [s for i in ids for s in SIDES.get(i, ())]
        sites = [i for i in dict.fromkeys(ids) if i not in SIDES and self._is_anatomy(i)]
        found: list[str] = []
        for site in sites:
            for node in self._lateral(site, sides):
                for region in self.named_by(node):
                    if region not in found:
                        found.append(region)
        return found

    def _is_anatomy(self, node_id: str) -> bool:
        return node_id in self._graph and self._graph.node(node_id).type == "anatomy"

    def _lateral(self, site: str, sides: list[str]) -> list[str]:
        if not sides:
            return [site]
        out = []
        for side in dict.fromkeys(sides):
            variant = f"{side}_{site}"
            out.append(variant if variant in self._allowed or self._is_anatomy(variant) else site)
        return list(dict.fromkeys(out))

    def named_by(self, node: str) -> list[str]:
        """Region-set ids one anatomy node names (step 3 of the module rule)."""
        if self._graph is None:
            return [node] if node in self._allowed else []
        if node in self._cache:
            return self._cache[node]
        if node in self._allowed:
            found = [node]
        elif node not in self._graph or self._paired_without_side(node):  # unknown: names nothing
            found = []
        else:
            found = [a for a in self._graph.ancestors(node, "part_of") if a in self._allowed][:1]
            found += [r for r, w in sorted(self._project(node).items(), key=lambda x: -x[1])
                      if w >= self.min_weight and r not in found]
        self._cache[node] = found
        return found

    def _paired_without_side(self, node: str) -> bool:
        if self._graph.node(node).laterality in ("left", "right"):
            return False
        children = [c for rel in ("is_a", "part_of") for c in self._graph.children(node, rel)]
        return any(self._graph.node(c).laterality in ("left", "right") for c in children)

    def _project(self, node: str) -> dict[str, float]:
        from kg.query import project  # the KG's weighted projects_onto walk

        return project(self._graph, node, self._allowed)
