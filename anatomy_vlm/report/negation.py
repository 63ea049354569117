"""NegEx-style assertion status: is a mention negated, uncertain, or neither?

Triggers (Chapman et al. 2001, NegEx; extended with the uncertainty cues CheXpert's labeller
uses) are matched on lower-cased tokens. A pre-trigger scopes forward and a post-trigger
backward, each up to a clause terminator (``;``, ``:``, ``but``, ``however``, ``which``…);
post-triggers also stop at a comma. Pseudo-triggers (``no change``) match first and block
the triggers they contain; uncertainty phrases that contain a negation word (``cannot
exclude``, ``not excluded``) block it too. A negated mention is never also uncertain.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from anatomy_vlm.report.lexicon import Token

__all__ = ["Assertion", "Triggers", "find_triggers", "assertion_of", "orient"]


def _phrases(*items: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(item.split()) for item in items)


PSEUDO = _phrases(
    "no change", "no significant change", "no interval change", "no appreciable change",
    "no definite change", "not changed", "no increase", "no decrease", "no significant interval change",
    "not significantly changed", "no new change", "not only", "no further", "gram negative",
    "without change", "without significant change", "without interval change", "no other change",
    "age indeterminate", "indeterminate age", "of indeterminate age",
)
PRE_NEG = _phrases(
    "no", "not", "without", "negative for", "free of", "absence of", "absent", "no evidence of",
    "no evidence for", "no sign of", "no signs of", "no findings of", "nor", "never",
    "resolution of", "resolved", "removal of", "interval removal of", "clear of", "neither",
    "clearing of", "interval clearing of", "clearance of", "interval resolution of",
    "no longer", "rather than", "isn't", "aren't", "wasn't", "none",
)
POST_NEG = _phrases(
    "is not seen", "are not seen", "not seen", "not identified", "not present", "not visualized",
    "not evident", "not appreciated", "not demonstrated", "not apparent", "is absent", "are absent",
    "has resolved", "have resolved", "resolved", "has been removed", "have been removed", "removed",
    "is gone", "are gone", "no longer seen", "no longer present", "is negative", "unlikely",
    "not noted", "not detected", "has cleared", "have cleared", "cleared", "not clearly seen",
    "not definitely seen", "not well seen", "no longer visualized", "no longer visible",
    "no longer identified", "no longer evident", "no longer apparent", "no longer demonstrated",
    "no longer noted", "has been withdrawn", "have been withdrawn",
)
PRE_UNC = _phrases(
    "possible", "possibly", "probable", "probably", "likely", "may", "might", "could",
    "question of", "questionable", "suspicious", "suspected", "suspect", "suspicion of",
    "concerning for", "concern for", "suggestive of", "suggests", "suggesting", "suggest",
    "suggested", "cannot exclude", "can not exclude", "cannot rule out", "can not rule out",
    "not exclude", "not rule out", "cannot be excluded", "could not exclude", "equivocal",
    "consider", "considered", "considerations", "consideration", "questioned", "presumably", "presumed", "differential",
    "rule out", "evaluate for", "worrisome for", "question", "uncertain",
    "favor", "favored", "borderline", "difficult to exclude",
    "not entirely excluded", "cannot be entirely excluded",
)
POST_UNC = _phrases(
    "is possible", "are possible", "is suspected", "are suspected", "is not excluded",
    "not excluded", "cannot be excluded", "can not be excluded", "could not be excluded",
    "not ruled out", "cannot be ruled out", "may be present", "is questioned", "is likely",
    "are likely", "is favored", "not entirely excluded", "cannot be entirely excluded",
    "could be present", "is questionable", "is not entirely excluded", "is not ruled out",
    "not be excluded", "be excluded",
)
# Cues that act in the other direction when theirs reaches no mention ("effusion suspected",
# "cleared consolidation", "pneumothorax is no longer visualized").
REVERSIBLE = frozenset(_phrases(
    "suspected", "suspect", "possible", "likely", "probable", "questioned", "questionable",
    "considered", "presumed", "favored", "suggested", "equivocal",
    "resolved", "cleared", "removed", "no longer",
))
TERMINATORS = frozenset({";", ":", "but", "however", "although", "though", "except", "aside",
                         "apart", "which", "whereas", "while", "yet", "there", "otherwise", "?", "."})
# Words that end a negation's scope but not a hedge's ("may be secondary to X" hedges X).
NEGATION_ONLY_TERMINATORS = frozenset({"secondary", "due"})
# After a comma, these words open a new positive clause ("No effusion, mild atelectasis").
CLAUSE_OPENERS = frozenset({"mild", "mildly", "moderate", "moderately", "severe", "small", "large",
                            "minimal", "stable", "persistent", "slight", "trace", "increased",
                            "decreased", "improved", "unchanged", "new", "the", "tiny", "status",
                            "postoperative", "postsurgical", "likely", "possible", "probable",
                            "minimally", "chronic", "old", "healed", "calcified", "a", "an"})


@dataclass(frozen=True)
class Trigger:
    """A matched cue: ``kind`` in {neg, unc}, ``direction`` in {pre, post}, tokens ``[start, end)``;
    ``reversible`` cues may be turned round by :func:`orient`."""

    kind: str
    direction: str
    start: int
    end: int
    reversible: bool = False


@dataclass(frozen=True)
class Assertion:
    negated: bool
    uncertain: bool


@dataclass(frozen=True)
class Triggers:
    """All cues of one sentence plus the token indices that end a scope.

    ``commas`` end a post-trigger's scope, except ``list_commas``: those inside a list that goes
    on to ``or``/``nor``.
    """

    triggers: tuple[Trigger, ...]
    terminators: frozenset[int]
    commas: frozenset[int]
    negation_terminators: frozenset[int] = frozenset()
    list_commas: frozenset[int] = frozenset()
    size: int = 0  # number of tokens

    def blocked(self, scope: str, left: int, right: int) -> bool:
        """Whether a stop of ``scope`` (``pre``, ``pre_neg`` or ``post``) lies in ``[left, right)``."""
        counts = self._prefix(scope)
        return counts[max(0, min(right, self.size))] - counts[max(0, min(left, self.size))] > 0

    def _prefix(self, scope: str) -> tuple[int, ...]:
        # counts[k] = stops before token k; built once per scope (the checks run per mention
        # and cue, so a set scan per check would make a long sentence cubic)
        cache = self.__dict__.setdefault("_prefix_cache", {})
        if scope not in cache:
            stops = {"pre": self.terminators, "pre_neg": self.terminators | self.negation_terminators,
                     "post": self.terminators | (self.commas - self.list_commas)}[scope]
            counts = [0]
            for k in range(self.size):
                counts.append(counts[-1] + (k in stops))
            cache[scope] = tuple(counts)
        return cache[scope]


def find_triggers(tokens: list[Token]) -> Triggers:
    """Match cues left to right, longest first; pseudo-triggers and hedges claim tokens first."""
    words = [t.text.lower() for t in tokens]
    claimed = [False] * len(words)
    found: list[Trigger] = []
    tables = ((PSEUDO, "pseudo", "pre"), (POST_UNC, "unc", "post"), (PRE_UNC, "unc", "pre"),
              (POST_NEG, "neg", "post"), (PRE_NEG, "neg", "pre"))
    for phrases, kind, direction in tables:
        for start, end in _matches(words, phrases, claimed):
            claimed[start:end] = [True] * (end - start)
            if kind != "pseudo":
                reversible = tuple(words[start:end]) in REVERSIBLE
                found.append(Trigger(kind, direction, start, end, reversible))
    terminators = {i for i, w in enumerate(words) if w in TERMINATORS and not claimed[i]}
    list_goes_on = _list_goes_on(words, terminators)
    for i, w in enumerate(words):
        # ", mild atelectasis" opens a positive clause, unless a list goes on ("…, large X, or Y")
        if w == "," and i + 1 < len(words) and words[i + 1] in CLAUSE_OPENERS and not list_goes_on[i]:
            terminators.add(i)
    commas = {i for i, w in enumerate(words) if w == ","}
    negation_only = {i for i, w in enumerate(words) if w in NEGATION_ONLY_TERMINATORS}
    return Triggers(tuple(sorted(found, key=lambda t: t.start)), frozenset(terminators),
                    frozenset(commas), frozenset(negation_only),
                    frozenset(i for i in commas if list_goes_on[i]), len(words))


def _list_goes_on(words: list[str], terminators: set[int]) -> list[bool]:
    """Per token: an ``or``/``nor`` follows later in the same clause (one backward pass)."""
    goes_on = [False] * len(words)
    seen = False
    for k in range(len(words) - 1, -1, -1):
        goes_on[k] = seen
        if k in terminators:
            seen = False
        elif words[k] in ("or", "nor"):
            seen = True
    return goes_on


def orient(triggers: Triggers, mentions: list[tuple[int, int]]) -> Triggers:
    """Turn round each reversible cue whose direction reaches none of ``mentions`` (token
    spans ``[start, end)``) while the other direction reaches one."""
    turned = []
    for trig in triggers.triggers:
        if trig.reversible and not _reaches(triggers, trig, trig.direction, mentions):
            other = "post" if trig.direction == "pre" else "pre"
            if _reaches(triggers, trig, other, mentions):
                trig = Trigger(trig.kind, other, trig.start, trig.end, False)
        turned.append(trig)
    return Triggers(tuple(turned), triggers.terminators, triggers.commas, triggers.negation_terminators,
                    triggers.list_commas, triggers.size)


def _reaches(triggers: Triggers, trig: Trigger, direction: str, mentions) -> bool:
    return any(_in_scope(triggers, trig, direction, start, end) for start, end in mentions)


@lru_cache(maxsize=16)
def _table(phrases: tuple[tuple[str, ...], ...]) -> tuple[frozenset, int, frozenset]:
    """Phrase set, longest length and first words of one trigger table (built once)."""
    return frozenset(phrases), max(len(p) for p in phrases), frozenset(p[0] for p in phrases)


def _matches(words: list[str], phrases, claimed: list[bool]):
    table, longest, firsts = _table(phrases)
    i = 0
    while i < len(words):
        if words[i] not in firsts:
            i += 1
            continue
        for length in range(min(longest, len(words) - i), 0, -1):
            if tuple(words[i : i + length]) in table and not any(claimed[i : i + length]):
                yield i, i + length
                i += length - 1
                break
        i += 1


def assertion_of(triggers: Triggers, start: int, end: int) -> Assertion:
    """Negated / uncertain status of the mention at tokens ``[start, end)``."""
    negated = uncertain = False
    for trig in triggers.triggers:
        if not _in_scope(triggers, trig, trig.direction, start, end):
            continue
        if trig.kind == "neg":
            negated = True
        else:
            uncertain = True
    return Assertion(negated=negated, uncertain=uncertain and not negated)


def _in_scope(triggers: Triggers, trig: Trigger, direction: str, start: int, end: int) -> bool:
    """Whether ``trig``, read in ``direction``, reaches the mention at tokens ``[start, end)``."""
    if direction == "pre" and trig.end <= start:
        return not triggers.blocked("pre_neg" if trig.kind == "neg" else "pre", trig.end, start)
    if direction == "post" and trig.start >= end:
        return not triggers.blocked("post", end, trig.start)
    return False
