"""Evidence queries: ``findings_at``, ``locations_of`` (raw or in region-set terms) and ``paths``.

Ranking score (in [0, 1]): a reliability-weighted pooled share. ``locations_of``: the weighted
studies naming this anatomy for the finding over the finding's weighted localized studies,
``sum_s w_s n_s(f, a) / sum_s w_s L_s(f)``; ``findings_at``: over all weighted studies,
``sum_s w_s n_s(f, a) / sum_s w_s N_s``. Weights ``w_s``: ``info()["source_weights"]`` (the
model-labelled PadChest studies count half). Region-set answers multiply each count by its
``projects_onto`` weight. Curated ``has_finding_site`` axioms add :data:`CURATED_BONUS`.
Raw counts (``count``, ``sources``) are never scaled.
"""

from __future__ import annotations

from collections import defaultdict

from kg.errors import QueryError
from kg.sets import region_set as named_region_set
from kg.types import Ranked, Step

CURATED_BONUS = 0.05
FINDING_TYPES = ("finding", "disease", "device")
MIN_PATH_STUDIES = 5  # located_in evidence edges used by paths need this many studies


def _weights(kg) -> dict[str, float]:
    return kg.raw.get("evidence", {}).get("source_weights", {})


def project(kg, anatomy: str, targets) -> dict[str, float]:
    """Weights with which evidence at ``anatomy`` reaches the ``targets`` regions (any id collection).

    Order: the anatomy itself when a target; its ``projects_onto`` rows (recursively); an equal
    split over its lateral variants; its nearest ``part_of`` ancestor among the targets.
    Memoised per (anatomy, targets); a projection cycle contributes nothing.
    """
    if not isinstance(targets, frozenset):
        targets = frozenset(targets)
    cache = kg._cache.setdefault("project", {})
    key = (anatomy, targets)
    if key not in cache:
        cache[key] = {}  # cycle guard while computing
        cache[key] = _project(kg, anatomy, targets)
    return cache[key]


def _project(kg, anatomy: str, targets: frozenset[str]) -> dict[str, float]:
    if anatomy in targets:
        return {anatomy: 1.0}
    out: dict[str, float] = {}
    for dst, weight in kg._projects.get(anatomy, []):
        for region, w in project(kg, dst, targets).items():
            out[region] = out.get(region, 0.0) + weight * w
    if out:
        return out
    variants = _lateral_variants(kg, anatomy)
    for variant in variants:
        for region, w in project(kg, variant, targets).items():
            out[region] = out.get(region, 0.0) + w / len(variants)
    if out:
        return out
    nearest = next((a for a in kg.ancestors(anatomy, "part_of") if a in targets), None)
    return {nearest: 1.0} if nearest else {}


def _lateral_variants(kg, anatomy: str) -> tuple[str, ...]:
    cache = kg._cache.setdefault("variants", {})
    if anatomy not in cache:
        found = [c for rel in ("is_a", "part_of") for c in kg.children(anatomy, rel)
                 if kg.node(c).laterality in ("left", "right")]
        cache[anatomy] = tuple(dict.fromkeys(found))
    return cache[anatomy]


def _reachable(kg) -> dict[str, set[str]]:
    """For every node, the evidence anatomies whose ``projects_onto`` rows reach it (transitively)."""
    if "reachable" in kg._cache:
        return kg._cache["reachable"]
    reverse: dict[str, set[str]] = defaultdict(set)
    for source in kg._by_anatomy:
        stack, seen = [source], {source}
        while stack:
            for dst, _w in kg._projects.get(stack.pop(), []):
                if dst not in seen:
                    seen.add(dst)
                    reverse[dst].add(source)
                    stack.append(dst)
    kg._cache["reachable"] = reverse
    return reverse


def _target_ids(kg, region_set) -> tuple[str, ...] | None:
    if region_set is None or region_set in ("raw", "none"):
        return None
    if isinstance(region_set, str):
        return named_region_set(region_set).ids
    return tuple(region_set)


def locations_of(kg, finding: str, *, region_set=None) -> list[Ranked]:
    """Anatomy where a finding occurs, best first.

    Args:
        finding: id or free text (resolved among findings, diseases and devices).
        region_set: None → the anatomy the sources name (PadChest/Open-I terms mapped to
            ontology ids); a set name (``cig29``, ``cig36``, ``cig38_text``) or an id list →
            Chest ImaGenome regions reached through weighted ``projects_onto`` edges.
    Returns: :class:`~kg.types.Ranked` with relation ``located_in`` (evidence) or
        ``has_finding_site`` (curated only); ``sources`` = raw studies per source.
    """
    fid = kg.to_id(finding, types=FINDING_TYPES)
    targets = _target_ids(kg, region_set)
    return _rank(kg, _finding_scores(kg, fid, None if targets is None else frozenset(targets)))


def _finding_scores(kg, fid: str, targets: frozenset[str] | None) -> dict[str, dict]:
    evidence = kg.raw.get("evidence", {})
    weights = _weights(kg)
    localized = {s: evidence.get("localized_studies", {}).get(s, {}).get(fid, 0) for s in weights}
    pooled = sum(weights[s] * n for s, n in localized.items()) or 1.0
    acc: dict[str, dict] = defaultdict(lambda: {"score": 0.0, "sources": defaultdict(int), "via": [], "curated": False})
    for anatomy, source, count in kg._by_finding.get(fid, []):
        share = weights.get(source, 0.0) * count / pooled
        for region, w in _reach(kg, anatomy, targets).items():
            slot = acc[region]
            slot["score"] += share * w
            slot["sources"][source] += count
            slot["via"].append((anatomy, source, count, round(w, 4)))
    for site in kg.parents(fid, "has_finding_site"):
        for region, w in _reach(kg, site, targets).items():
            acc[region]["score"] += CURATED_BONUS * w
            acc[region]["curated"] = True
    return acc


def _reach(kg, anatomy: str, targets: frozenset[str] | None) -> dict[str, float]:
    return {anatomy: 1.0} if targets is None else project(kg, anatomy, targets)


def _rank(kg, acc: dict[str, dict]) -> list[Ranked]:
    out = []
    for nid, slot in acc.items():
        sources = dict(sorted(slot["sources"].items()))
        relation = "located_in" if sources else "has_finding_site"
        out.append(Ranked(node=kg.node(nid), relation=relation, count=sum(sources.values()), sources=sources,
                          score=min(1.0, slot["score"]), via=tuple(slot["via"])))
    return sorted(out, key=lambda r: (-r.score, -r.count, r.node.id))


def findings_at(kg, anatomy: str, *, include_parts: bool = True) -> list[Ranked]:
    """Findings seen at an anatomy (and its ``part_of``/``is_a`` descendants), best first.

    Evidence at other anatomy counts through its ``projects_onto`` weight into this anatomy
    (e.g. evidence at a lobe reaches the lung zones it projects onto).
    """
    aid = kg.to_id(anatomy, types=("anatomy",))
    targets = {aid}
    if include_parts:
        targets |= set(kg.descendants(aid, "part_of")) | set(kg.descendants(aid, "is_a"))
    contributors = _contributors(kg, frozenset(targets))
    evidence = kg.raw.get("evidence", {})
    weights = _weights(kg)
    pooled = sum(weights.get(s, 0.0) * n for s, n in evidence.get("studies", {}).items()) or 1.0
    acc: dict[str, dict] = defaultdict(lambda: {"score": 0.0, "sources": defaultdict(int), "via": [], "curated": False})
    for source_anatomy, w in contributors.items():
        for fid, source, count in kg._by_anatomy.get(source_anatomy, []):
            slot = acc[fid]
            slot["score"] += weights.get(source, 0.0) * count / pooled * w
            slot["sources"][source] += count
            slot["via"].append((source_anatomy, source, count, round(w, 4)))
    for target in targets:
        for fid in kg.children(target, "has_finding_site"):
            acc[fid]["score"] += CURATED_BONUS * (1.0 if target == aid else 0.5)
            acc[fid]["curated"] = True
    return _rank(kg, acc)


def _contributors(kg, targets: frozenset[str]) -> dict[str, float]:
    """Evidence anatomies reaching ``targets``, with the weight they project into them (max 1)."""
    reachable = _reachable(kg)
    out = {a: 1.0 for a in targets if a in kg._by_anatomy}
    candidates = {x for t in targets for x in reachable.get(t, ())} - targets
    for anatomy in candidates:
        weight = sum(project(kg, anatomy, targets).values())
        if weight > 0:
            out[anatomy] = min(1.0, weight)
    return out


# ---------------------------------------------------------------------------- paths
def _adjacency(kg) -> dict[str, list[tuple[str, str, bool]]]:
    if "adjacency" in kg._cache:
        return kg._cache["adjacency"]
    adj: dict[str, list[tuple[str, str, bool]]] = defaultdict(list)

    def link(src: str, rel: str, dst: str) -> None:
        adj[src].append((dst, rel, False))
        adj[dst].append((src, rel, True))

    for src, rel, dst in kg.raw["edges"]:
        link(src, rel, dst)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for finding, anatomy, _source, count in kg.raw.get("evidence", {}).get("located_in", []):
        totals[(finding, anatomy)] += count
    for (finding, anatomy), count in sorted(totals.items(), key=lambda kv: -kv[1]):
        if count >= MIN_PATH_STUDIES:
            link(finding, "located_in", anatomy)
    for src, dst, _weight, _note in kg.raw.get("projections", []):
        link(src, "projects_onto", dst)
    kg._cache["adjacency"] = adj
    return adj


def paths(kg, a: str, b: str, *, k: int = 1) -> list[list[Step]]:
    """Up to ``k`` shortest labelled paths from ``a`` to ``b`` (ids or free text).

    Edges: ontology axioms, ``located_in`` evidence with at least :data:`MIN_PATH_STUDIES`
    studies, and ``projects_onto``; walked in either direction (``Step.inverse``). [] when
    the two nodes are not connected.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise QueryError(f"k must be a positive whole number of paths, not {k!r}")
    src, dst = kg.to_id(a), kg.to_id(b)
    adj = _adjacency(kg)
    if src == dst:
        return [[]]
    component = _components(kg, adj)
    if component.get(src, src) != component.get(dst, dst):
        return []
    found = _bfs_paths(adj, src, dst, k)
    return [[Step(source=u, relation=rel, target=v, inverse=inv) for u, v, rel, inv in p] for p in found]


def _components(kg, adj) -> dict[str, str]:
    """Connected-component label of every linked node (unreachable pairs answer at once)."""
    if "components" in kg._cache:
        return kg._cache["components"]
    label: dict[str, str] = {}
    for start in adj:
        if start in label:
            continue
        label[start] = start
        stack = [start]
        while stack:
            for other, _rel, _inv in adj.get(stack.pop(), []):
                if other not in label:
                    label[other] = start
                    stack.append(other)
    kg._cache["components"] = label
    return label


def _bfs_paths(adj, src: str, dst: str, k: int) -> list[list[tuple[str, str, str, bool]]]:
    """k shortest simple paths by increasing length (breadth-first over partial paths)."""
    results: list[list[tuple[str, str, str, bool]]] = []
    frontier: list[tuple[str, list]] = [(src, [])]
    depth_seen: dict[str, int] = {src: 0}
    depth = 0
    while frontier and len(results) < k and depth < 12:
        depth += 1
        nxt = []
        for node, path in frontier:
            visited = {src} | {step[1] for step in path}
            for other, rel, inv in adj.get(node, []):
                if other in visited:
                    continue
                step = (node, other, rel, inv)
                if other == dst:
                    results.append([*path, step])
                    if len(results) >= k:
                        return results
                elif depth_seen.get(other, depth) >= depth - (k > 1):
                    depth_seen.setdefault(other, depth)
                    nxt.append((other, [*path, step]))
        frontier = nxt[:20000]
    return results
