"""Evidence mined from report corpora: the provenance graph kept apart from the OWL axioms.

Sources (each a separate provenance tag; counts are numbers of studies / reports):

- ``padchest_physician``: PadChest studies labelled by physicians, finding–localization pairs
  within one report sentence;
- ``padchest_model``: PadChest studies labelled by the RNN model (weaker: flat label lists,
  pairs within a findings run and the localizations run after it);
- ``openi_mesh``: Open-I reports, pairs within one MeSH major term (heading + qualifiers).

``co_occurs_with``: finding pairs labelled in the same PadChest study (both labelling
methods), kept only with at least :data:`MIN_COOCCURRENCE` studies, with PMI in bits.
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import combinations
from pathlib import Path

from kg.mapping import TermMapper

SOURCE_WEIGHTS = {"padchest_physician": 1.0, "padchest_model": 0.5, "openi_mesh": 1.0}
MIN_COOCCURRENCE = 30  # studies; pairs seen less often get no co_occurs_with edge


def mine_padchest(mapper: TermMapper, path: Path) -> dict:
    """Located-in counts and co-occurrence from the PadChest CSV.

    Returns ``{"located": Counter[(finding, anatomy, source)], "finding_studies":
    {source: Counter[finding]}, "localized_studies": {source: Counter[finding]},
    "studies": {source: n}, "cooccurs": [[a, b, n, pmi, n_physician, n_model], ...]}``.
    """
    from kg.sources.padchest import PHYSICIAN, iter_studies, study_scopes

    located: Counter = Counter()
    finding_studies: dict[str, Counter] = {"padchest_physician": Counter(), "padchest_model": Counter()}
    localized: dict[str, Counter] = {"padchest_physician": Counter(), "padchest_model": Counter()}
    studies: Counter = Counter()
    per_study: list[tuple[str, frozenset[str]]] = []
    cache: dict[tuple, list[str]] = {}
    label_cache: dict[tuple[str, ...], frozenset[str]] = {}
    for study in iter_studies(path):
        source = "padchest_physician" if study.method == PHYSICIAN else "padchest_model"
        studies[source] += 1
        if study.labels not in label_cache:
            label_cache[study.labels] = frozenset(mapper.findings("padchest_labels", study.labels))
        labelled = label_cache[study.labels]
        finding_studies[source].update(labelled)
        per_study.append((source, labelled))
        pairs: set[tuple[str, str]] = set()
        for fterms, locs in study_scopes(study):
            if not fterms or not locs:
                continue
            key = (fterms, locs)
            if key not in cache:
                found = mapper.findings("padchest_labels", fterms)
                cache[key] = sorted(mapper.compose("padchest_localizations", found, locs))
            pairs.update(cache[key])
        located.update((f, a, source) for f, a in pairs)
        localized[source].update({f for f, _ in pairs})
    return {"located": located, "finding_studies": finding_studies, "localized_studies": localized,
            "studies": dict(studies), "cooccurs": cooccurrence(per_study)}


def cooccurrence(per_study: list[tuple[str, frozenset[str]]], *, min_support: int = MIN_COOCCURRENCE) -> list[list]:
    """Finding pairs co-labelled in one study: ``[[a, b, n, pmi_bits, n_physician, n_model]]``, a < b.

    PMI = log2(n_ab · N / (n_a · n_b)) over all N studies; pairs under ``min_support`` dropped.
    """
    single: Counter = Counter()
    joint: Counter = Counter()
    by_source: Counter = Counter()
    for source, findings in per_study:
        single.update(findings)
        for a, b in combinations(sorted(findings), 2):
            joint[(a, b)] += 1
            by_source[(a, b, source)] += 1
    total = max(len(per_study), 1)
    out = []
    for (a, b), n in sorted(joint.items()):
        if n < min_support:
            continue
        pmi = math.log2(n * total / (single[a] * single[b]))
        out.append([a, b, n, round(pmi, 4), by_source[(a, b, "padchest_physician")], by_source[(a, b, "padchest_model")]])
    return out


def mine_openi(mapper: TermMapper, path: Path) -> dict:
    """Located-in counts from Open-I MeSH major terms (reports). Same keys as :func:`mine_padchest`."""
    from kg.sources.openi import iter_reports

    located: Counter = Counter()
    finding_reports: Counter = Counter()
    localized: Counter = Counter()
    reports = 0
    for report in iter_reports(path):
        reports += 1
        found: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        for term in report.mesh_terms:
            parts = (term.heading, *term.qualifiers)
            findings = mapper.findings("openi_mesh", parts)
            found.update(findings)
            if findings:
                pairs |= mapper.compose("openi_mesh", findings, parts)
        finding_reports.update(found)
        located.update((f, a, "openi_mesh") for f, a in pairs)
        localized.update({f for f, _ in pairs})
    return {"located": located, "finding_studies": {"openi_mesh": finding_reports},
            "localized_studies": {"openi_mesh": localized}, "studies": {"openi_mesh": reports}, "cooccurs": []}


def merge(parts: list[dict]) -> dict:
    """Merge mined parts into the JSON-ready evidence block of a built graph."""
    located: Counter = Counter()
    out: dict = {"finding_studies": {}, "localized_studies": {}, "studies": {}, "cooccurs": []}
    for part in parts:
        located.update(part["located"])
        for key in ("finding_studies", "localized_studies"):
            out[key].update({src: dict(c) for src, c in part[key].items()})
        out["studies"].update(part["studies"])
        out["cooccurs"].extend(part["cooccurs"])
    out["located_in"] = [[f, a, src, n] for (f, a, src), n in sorted(located.items())]
    out["source_weights"] = {s: w for s, w in SOURCE_WEIGHTS.items() if s in out["studies"]}
    out["min_cooccurrence"] = MIN_COOCCURRENCE
    return out
