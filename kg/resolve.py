"""Free text → ontology nodes: case, punctuation, plurals, abbreviations, laterality, misspellings.

Strategy, first hit wins (scores in (0, 1]):

1. exact key: id, label, Chest ImaGenome name (1.0); synonym, abbreviation, short code,
   RadLex/UMLS id (0.95); same words in another order (0.9);
2. location: a finding named with where or how it was seen: the longest span naming a
   finding, disease or device, the words around it all naming anatomy or qualifiers (``bibasilar atelectasis``,
   ``small left pleural effusion``, ``opacity in the RLL``) (0.9); the location part is
   reported apart on the :class:`~kg.types.Match` (``locations``, ``qualifiers``);
3. abbreviations expanded (``L CPA`` → ``left costophrenic angle``, ``RLL`` → ``right lower lobe``) (0.9);
4. laterality: a side word plus a non-lateral concept gives its lateral variant
   (``left`` + ``costophrenic angle`` → ``left_costophrenic_angle``) (0.9); a side word on a
   concept without sides is dropped (``left pleural effusion`` → ``pleural_effusion``) (0.85);
5. misspelt words corrected against the vocabulary (edit distance ≤ 2, ≤ 1 for short words),
   then steps 1–4 again (≤ 0.85);
6. partial: every query word inside a longer name (≤ 0.6).

No hit raises :class:`~kg.errors.UnknownTermError` with "did you mean" suggestions.
"""

from __future__ import annotations

from collections import defaultdict

from kg.errors import UnknownTermError
from kg.normalise import normalise_term
from kg.types import Match

SIDE_WORDS = {"left": "left", "l": "left", "lt": "left", "right": "right", "r": "right", "rt": "right",
              "bilateral": "bilateral", "bilat": "bilateral", "bil": "bilateral", "both": "bilateral", "bl": "bilateral"}
ABBREVIATIONS = {
    "cpa": "costophrenic angle", "cp": "costophrenic", "rul": "right upper lobe", "rml": "right middle lobe",
    "rll": "right lower lobe", "lul": "left upper lobe", "lll": "left lower lobe", "ett": "endotracheal tube",
    "et": "endotracheal", "ngt": "nasogastric tube", "ng": "nasogastric", "ogt": "orogastric tube",
    "cvc": "central venous catheter", "cvl": "central venous catheter", "ptx": "pneumothorax",
    "copd": "chronic obstructive pulmonary disease", "chf": "congestive heart failure", "ild": "interstitial lung disease",
    "picc": "peripherally inserted central catheter", "ij": "internal jugular", "icd": "implantable cardioverter defibrillator",
    "pa": "pulmonary artery", "luz": "left upper zone", "ruz": "right upper zone", "lz": "lung zone",
    "tb": "tuberculosis", "gg": "ground glass", "ggo": "ground glass opacity",
}
FINDING_TYPES = ("finding", "disease", "device")
# Words that only join a location phrase to its finding ("effusion at the left base").
_GLUE = frozenset({"the", "at", "in", "of", "on", "within", "involving", "and", "with", "a", "an", "to",
                   "over", "sided", "side", "predominantly", "predominant", "mainly", "greater", "than"})
_MAX_LOCATED_WORDS = 12
class Resolver:
    """Index of every node's names; built once per :class:`~kg.graph.AnatomyKG` (milliseconds)."""

    def __init__(self, *, kg):
        self.kg = kg
        self.keys: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
        self.sorted_keys: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
        for node in kg.nodes():
            names = [(node.id.replace("_", " "), 1.0), (node.label, 1.0)]
            names += [(s, 0.95) for s in (*node.synonyms, *node.abbreviations)]
            names += [(s, 0.95) for s in (node.radlex, node.umls, node.cig_short) if s]
            if node.cig_name:
                names.append((node.cig_name, 1.0))
            for name, score in names:
                self._add(name, node.id, score)
        self.vocab = {w for key in self.keys for w in key.split()}
        self._token_keys: dict[str, set[str]] | None = None
        self._deletes: dict[str, set[str]] | None = None

    def _add(self, name: str, node_id: str, score: float) -> None:
        key = normalise_term(name)
        if not key:
            return
        entry = (node_id, score, name)
        if all(e[0] != node_id for e in self.keys[key]):
            self.keys[key].append(entry)
        skey = " ".join(sorted(key.split()))
        if all(e[0] != node_id for e in self.sorted_keys[skey]):
            self.sorted_keys[skey].append(entry)

    # ------------------------------------------------------------------ public
    def resolve(self, text: str, *, types=None, limit: int = 5) -> list[Match]:
        """Best matches for ``text`` (at most ``limit``); UnknownTermError when none."""
        wanted = None if types is None else ((types,) if isinstance(types, str) else tuple(types))
        query = normalise_term(text or "")
        hits: dict[str, tuple[float, str]] = {}
        where: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {}
        if query:
            for strategy in (lambda: self._exact(query, hits, wanted),
                             lambda: self._located(query, hits, wanted, where),
                             lambda: self._expanded(query, hits, wanted),
                             lambda: self._corrected(query, hits, wanted, where)):
                strategy()
                if hits:
                    break
            if len(hits) < limit:
                self._partial(query, hits, wanted, limit)
        if not hits:
            raise UnknownTermError(text, self.suggest(query, wanted))
        ranked = sorted(hits.items(), key=lambda kv: (-kv[1][0], len(self.kg.node(kv[0]).label), kv[0]))
        out = []
        for nid, (score, matched) in ranked[:limit]:
            locations, qualifiers, location_text = where.get(nid, ((), (), None))
            out.append(Match(node=self.kg.node(nid), score=score, matched_text=matched, locations=locations,
                             qualifiers=qualifiers, location_text=location_text))
        return out

    def suggest(self, query: str, wanted=None, n: int = 3) -> list[str]:
        """Ids whose names are closest to the normalised query (for "did you mean")."""
        import difflib

        close = difflib.get_close_matches(query, list(self.keys), n=n * 3, cutoff=0.6)
        if not close:  # fall back to any name sharing a word, then to looser similarity
            words = set(query.split())
            close = sorted((k for k in self.keys if words & set(k.split())), key=len)[: n * 3]
            close = close or difflib.get_close_matches(query, list(self.keys), n=n * 3, cutoff=0.4)
        out: list[str] = []
        for key in close:
            for nid, _score, _name in self.keys[key]:
                if nid not in out and self._ok(nid, wanted):
                    out.append(nid)
        return out[:n]

    # ------------------------------------------------------------------ strategies
    def _ok(self, node_id: str, wanted) -> bool:
        return wanted is None or self.kg.node(node_id).type in wanted

    def _put(self, hits: dict, entries, wanted, factor: float = 1.0) -> None:
        for nid, score, name in entries:
            if self._ok(nid, wanted) and score * factor > hits.get(nid, (0.0, ""))[0]:
                hits[nid] = (round(score * factor, 4), name)

    def _lookup(self, query: str, hits: dict, wanted, factor: float = 1.0) -> bool:
        before = len(hits)
        self._put(hits, self.keys.get(query, ()), wanted, factor)
        if len(hits) == before:
            self._put(hits, self.sorted_keys.get(" ".join(sorted(query.split())), ()), wanted, 0.9 * factor)
        return len(hits) > before

    def _exact(self, query: str, hits: dict, wanted) -> None:
        self._lookup(query, hits, wanted)

    def _expanded(self, query: str, hits: dict, wanted, factor: float = 0.9) -> None:
        words = []
        for w in query.split():
            words.extend(ABBREVIATIONS.get(w, w).split() if w not in self.vocab else [w])
        expanded = " ".join(words)
        if expanded != query and self._lookup(expanded, hits, wanted, factor):
            return
        self._lateral(expanded.split(), hits, wanted, factor)

    def _lateral(self, words: list[str], hits: dict, wanted, factor: float) -> None:
        sides = [SIDE_WORDS[w] for w in words if w in SIDE_WORDS]
        rest = [w for w in words if w not in SIDE_WORDS]
        if not sides or not rest:
            return
        base: dict[str, tuple[float, str]] = {}
        self._lookup(" ".join(rest), base, None)
        if not base:
            return
        side = sides[0]
        for nid, (score, name) in base.items():
            variants = self._variants(nid, side)
            if variants:
                self._put(hits, [(v, score, f"{side} {name}") for v in variants], wanted, factor)
            elif self.kg.node(nid).laterality in (None, "bilateral", "midline") or side == "bilateral":
                self._put(hits, [(nid, score, name)], wanted, factor * 0.95)

    def _variants(self, node_id: str, side: str) -> list[str]:
        sides = ("left", "right") if side == "bilateral" else (side,)
        out = []
        for s in sides:
            cand = f"{s}_{node_id}"
            if cand not in self.kg:
                cand = next((c for rel in ("is_a", "part_of") for c in self.kg.children(node_id, rel)
                             if self.kg.node(c).laterality == s), None)
            if cand and cand in self.kg and self.kg.node(cand).laterality == s:
                out.append(cand)
        return out

    def _corrected(self, query: str, hits: dict, wanted, where: dict) -> None:
        words, distance = [], 0
        for w in query.split():
            if w in self.vocab or w in SIDE_WORDS or w in ABBREVIATIONS or not w.isalpha():
                words.append(w)
                continue
            fixed, d = self._correct(w)
            words.append(fixed)
            distance += d
        if distance == 0:
            return
        fixed_query = " ".join(words)
        factor = max(0.5, 0.9 - 0.05 * distance)
        if not self._lookup(fixed_query, hits, wanted, factor):
            self._located(fixed_query, hits, wanted, where, factor)
        if not hits:
            self._expanded(fixed_query, hits, wanted, factor * 0.95)

    def _correct(self, word: str) -> tuple[str, int]:
        if self._deletes is None:
            self._deletes = defaultdict(set)
            for v in self.vocab:
                for d in _deletes(v, 2 if len(v) > 4 else 1):
                    self._deletes[d].add(v)
        max_d = 2 if len(word) > 4 else 1
        candidates: set[str] = set()
        for d in _deletes(word, max_d):
            candidates |= self._deletes.get(d, set())
        best = min(((osa(word, c), -len(c), c) for c in candidates), default=None)
        if best is None or best[0] > max_d:
            return word, 0
        return best[2], best[0]

    # ------------------------------------------------------------------ finding + location
    def _located(self, query: str, hits: dict, wanted, where: dict, factor: float = 0.9) -> None:
        """The longest span naming a finding whose surrounding words all name anatomy or qualifiers."""
        words = query.split()
        if not 2 <= len(words) <= _MAX_LOCATED_WORDS:
            return
        for length in range(len(words) - 1, 0, -1):
            for i in range(len(words) - length + 1):
                entries = self._finding_entries(words[i:i + length], wanted)
                if not entries:
                    continue
                before, after = self._modifiers(words[:i]), self._modifiers(words[i + length:])
                if before is None or after is None:
                    continue
                text = " ".join(w for w in (*words[:i], *words[i + length:]) if w not in _GLUE)
                for nid, score, name in entries:
                    if round(score * factor, 4) > hits.get(nid, (0.0, ""))[0]:
                        hits[nid] = (round(score * factor, 4), name)
                        where[nid] = (*_placed(self, nid, before + after), text)
            if hits:
                return

    def _finding_entries(self, words: list[str], wanted) -> list[tuple[str, float, str]]:
        span = " ".join(words)
        expanded = " ".join(ABBREVIATIONS.get(w, w) if w not in self.vocab else w for w in words)
        entries = list(self.keys.get(span, ())) or list(self.keys.get(expanded, ()))
        return [e for e in entries if self.kg.node(e[0]).type in FINDING_TYPES and self._ok(e[0], wanted)]

    def _modifiers(self, words: list[str]) -> list[tuple[str, str, bool]] | None:
        """Words → ``(node_id, type, both_sides)`` of anatomy/qualifier nodes, longest spans first;
        None when a word names neither (nor only joins, like ``at the``)."""
        out: list[tuple[str, str, bool]] = []
        i = 0
        while i < len(words):
            if words[i] in _GLUE:
                i += 1
                continue
            for j in range(len(words), i, -1):
                found = self._modifier(words[i:j])
                if found:
                    out.append(found)
                    i = j
                    break
            else:
                return None
        return out

    def _modifier(self, words: list[str]) -> tuple[str, str, bool] | None:
        span = " ".join(words)
        both = len(words) == 1 and span.startswith("bi") and len(span) > 5
        for key in ((span[2:], span) if both else (span,)):
            key = " ".join(ABBREVIATIONS.get(w, w) if w not in self.vocab else w for w in key.split())
            for kind in ("anatomy", "qualifier"):
                nid = next((e[0] for e in self.keys.get(key, ()) if self.kg.node(e[0]).type == kind), None)
                if nid:
                    return nid, kind, both and key != span
        if span in SIDE_WORDS:
            side = SIDE_WORDS[span]
            return (side, "qualifier", False) if side in self.kg else None
        return None

    def _partial(self, query: str, hits: dict, wanted, limit: int) -> None:
        if self._token_keys is None:
            self._token_keys = defaultdict(set)
            for key in self.keys:
                for w in key.split():
                    self._token_keys[w].add(key)
        words = [w for w in query.split() if w not in SIDE_WORDS] or query.split()
        sets = [self._token_keys.get(w, set()) for w in words]
        if not sets or not all(sets):
            return
        found = sorted(set.intersection(*sets), key=lambda k: (len(k), k))
        for key in found[: limit * 4]:
            cover = min(1.0, len(set(words)) / len(key.split()))  # repeated words cover nothing more
            self._put(hits, self.keys[key], wanted, 0.6 * cover)


def _placed(resolver: Resolver, finding: str,
            modifiers: list[tuple[str, str, bool]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Anatomy ids and qualifier ids of a finding's location phrase.

    A side word applies to the anatomy it qualifies (``left`` + ``apical`` → ``left_apical_zone``;
    ``bibasilar`` → both lung bases); a side word alone applies to the finding's curated site
    (``right rib fracture`` → ``right_rib``, ``left pleural effusion`` → ``left_pleura``), else
    to the hemithorax.
    """
    qualifiers = [nid for nid, kind, _both in modifiers if kind == "qualifier"]
    sides = [q for q in qualifiers if q in ("left", "right", "bilateral")]
    side = sides[0] if sides else None
    locations: list[str] = []
    for nid, kind, both in modifiers:
        if kind != "anatomy":
            continue
        wanted_side = "bilateral" if both else side
        node = resolver.kg.node(nid)
        variants = resolver._variants(nid, wanted_side) if wanted_side and node.laterality is None else []
        locations.extend(variants or [nid])
    if not locations and side:
        sites = [*resolver.kg.parents(finding, "has_finding_site"), "hemithorax"]
        locations = next((v for site in sites if site in resolver.kg for v in [resolver._variants(site, side)] if v), [])
    return tuple(dict.fromkeys(locations)), tuple(dict.fromkeys(qualifiers))


def _deletes(word: str, depth: int) -> set[str]:
    out = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


def osa(a: str, b: str) -> int:
    """Optimal-string-alignment edit distance (Levenshtein + adjacent transpositions)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]
