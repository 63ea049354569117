"""The one text normaliser of the project: free text → lower-case, singular, space-separated words.

Used by :mod:`kg.resolve` (node names and queries) and by the report parser's lexicon, so that a
term the parser reads is a term ``kg resolve`` finds (``"Hiatal Hernias"`` → ``"hiatal hernia"``).

- Unicode: compatibility forms folded (NFKC), accents dropped (``pleurésie`` → ``pleuresie``),
  case folded; every dash and hyphen (``-``, ``‐``, ``–``, ``—``, ``−``), slash and underscore is a
  word break; ``&`` reads ``and``; a possessive ``'s`` is dropped; other punctuation is a break.
- Plurals: the radiology irregulars (``hila`` → ``hilum``, ``apices`` → ``apex``, ``bullae`` →
  ``bulla``, ``diverticula`` → ``diverticulum``, ``atelectases`` → ``atelectasis``,
  ``pneumothoraces`` → ``pneumothorax``, ``emboli`` → ``embolus``), then the regular English
  endings (``opacities`` → ``opacity``, ``masses`` → ``mass``, ``hernias`` → ``hernia``). Words
  already singular that end in ``s`` are kept (``atelectasis``, ``bronchus``, ``ascites``,
  ``pancreas``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["singular", "normalise_term"]

_IRREGULAR = {
    # -a → -um / -on, -i → -us, -ices → -ex/-ix, -ina → -en
    "hila": "hilum", "diverticula": "diverticulum", "septa": "septum", "atria": "atrium",
    "ostia": "ostium", "sterna": "sternum", "mediastina": "mediastinum", "ganglia": "ganglion",
    "bronchi": "bronchus", "thrombi": "thrombus", "emboli": "embolus", "calculi": "calculus",
    "foci": "focus", "lobi": "lobus", "nuclei": "nucleus", "fungi": "fungus", "bacilli": "bacillus",
    "apices": "apex", "vertices": "vertex", "cortices": "cortex", "indices": "index",
    "appendices": "appendix", "cervices": "cervix", "matrices": "matrix",
    "foramina": "foramen", "lumina": "lumen", "viscera": "viscus",
    # -ses → -sis where the -ending rule below does not reach
    "ptoses": "ptosis", "crises": "crisis", "bases": "base", "cases": "case",
}
# Singular words that end in "s" (or look plural) and must stay as they are.
_KEEP = frozenset({
    "ascites", "herpes", "diabetes", "rabies", "scabies", "caries", "series", "species", "lens",
    "biceps", "triceps", "news", "pancreas", "atlas", "alias", "bias", "canvas", "gas", "has", "was",
    "as", "this", "thus", "plus", "minus", "versus", "status", "media", "data", "less", "unless",
    "always", "perhaps", "towards", "afterwards", "whereas", "various", "previous", "glucoses",
})
_KEEP_ENDINGS = ("ss", "us", "is", "os", "xs")
_GREEK_SES = ("tases", "oses", "eses", "yses")  # metastases, stenoses, prostheses, analyses
_NOT_GREEK = ("poses", "doses", "eeses", "coses", "closes")  # purposes, overdoses, cheeses, glucoses
_DASHES = re.compile(r"[\u002d\u2010-\u2015\u2212\ufe58\ufe63\uff0d_/\\]")
_POSSESSIVE = re.compile(r"(?<=[a-z0-9])['\u2019]s\b")
_APOSTROPHE = re.compile(r"['\u2019\u2018`]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=65536)
def singular(word: str) -> str:
    """One word, lower-cased and singular: ``Opacities`` → ``opacity``, ``hila`` → ``hilum``.

    Irregular radiology plurals first, then the English endings; words of three letters or
    fewer and singular words ending in ``s`` (``atelectasis``, ``bronchus``, ``ascites``) are kept.
    """
    low = word.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low]
    if len(low) <= 3 or low in _KEEP:
        return low
    if low.endswith("thoraces"):  # pneumothoraces, hemothoraces, hydropneumothoraces
        return low[: -len("thoraces")] + "thorax"
    if low.endswith("ae") and len(low) > 4:  # bullae, pleurae, vertebrae, fossae
        return low[:-1]
    if low.endswith("ies") and len(low) > 4:  # opacities, cavities
        return low[:-3] + "y"
    if low.endswith(("sses", "shes", "ches", "xes", "zzes")):  # masses, branches, boxes
        return low[:-2]
    if len(low) >= 7 and low.endswith(_GREEK_SES) and not low.endswith(_NOT_GREEK):
        return low[:-2] + "is"  # atelectases, metastases, stenoses
    if low.endswith("s") and not low.endswith(_KEEP_ENDINGS):
        return low[:-1]  # effusions, nodules, hernias, ribs, bases
    return low


def normalise_term(text: str) -> str:
    """Free text as lower-case singular words joined by one space (``""`` when no word is left).

    ``"Pleural Effusions!"`` → ``"pleural effusion"``; ``"Left-sided  hiatal hernias"`` →
    ``"left sided hiatal hernia"``; ``"Hodgkin's lymphoma"`` → ``"hodgkin lymphoma"``.
    """
    folded = unicodedata.normalize("NFKC", text or "")
    folded = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    folded = folded.casefold().replace("&", " and ")
    folded = _POSSESSIVE.sub("", _DASHES.sub(" ", folded))
    folded = _NOT_WORD.sub(" ", _APOSTROPHE.sub("", folded))
    return " ".join(singular(w) for w in folded.split())
