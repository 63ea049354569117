"""The label contract's graph logic: label propagation and the soft location prior."""

from __future__ import annotations

import numpy as np

from kg.errors import UnknownTermError

PRIOR_FLOOR = 0.05  # the prior's smallest value: never a hard zero, so unseen pairs stay findable
PRIOR_UNINFORMED = 0.5  # value for every region when a finding has no evidence and no curated site


def ancestor_matrix(kg, ids, relation: str) -> np.ndarray:
    """``M[a, i] = 1`` when ``ids[a]`` is ``ids[i]`` or one of its ``relation`` ancestors. Shape [N, N].

    Memoised per graph, id list and relation (loaders call this for every sample); read-only.
    """
    key = (tuple(ids), relation)
    cache = kg.__dict__.setdefault("_ancestor_matrices", {})
    if key not in cache:
        cache[key] = _ancestor_matrix(kg, list(ids), relation)
        cache[key].setflags(write=False)
    return cache[key]


def _ancestor_matrix(kg, ids: list[str], relation: str) -> np.ndarray:
    index = {nid: i for i, nid in enumerate(ids)}
    matrix = np.eye(len(ids), dtype=np.float32)
    for i, nid in enumerate(ids):
        if nid not in kg:
            raise UnknownTermError(nid, [m for m in kg._suggest(nid)])
        for anc in kg.ancestors(nid, relation):
            if anc in index:
                matrix[index[anc], i] = 1.0
    return matrix


def propagate_labels(kg, labels, region_ids, finding_ids) -> np.ndarray:
    """The one label-propagation rule of the project.

    A positive (1) for finding ``f`` at region ``r`` makes ``f`` positive at every ``part_of``
    ancestor of ``r`` in ``region_ids`` (left lower lung zone ⇒ left lung), and makes every
    ``is_a`` ancestor of ``f`` in ``finding_ids`` positive at those regions (consolidation ⇒
    lung opacity). Positives override 0 and NaN there; nothing else changes (0 stays 0, NaN =
    not mentioned stays NaN).

    Args:
        labels: float array ``[..., R, F]`` in {1, 0, NaN}; with ``region_ids=None``, image-level
            ``[..., F]``.
        region_ids: R ontology ids ordering the region axis (e.g. ``region_set("cig29").ids``), or None.
        finding_ids: F ontology ids ordering the finding axis.
    Returns: a new float32 array of the same shape.
    """
    labels = np.asarray(labels, dtype=np.float32)
    finding_up = ancestor_matrix(kg, list(finding_ids), "is_a")
    positive = (labels == 1.0).astype(np.float32)
    if region_ids is None:
        if labels.shape[-1] != len(finding_ids):
            raise ValueError(f"labels last axis {labels.shape[-1]} != {len(finding_ids)} findings")
        spread = np.einsum("...f,gf->...g", positive, finding_up)
    else:
        if labels.shape[-2:] != (len(region_ids), len(finding_ids)):
            raise ValueError(f"labels shape {labels.shape} does not end in [{len(region_ids)}, {len(finding_ids)}]")
        region_up = ancestor_matrix(kg, list(region_ids), "part_of")
        spread = np.einsum("...rf,ar,gf->...ag", positive, region_up, finding_up)
    return np.where(spread > 0, np.float32(1.0), labels).astype(np.float32)


def location_prior(kg, finding_ids, region_ids) -> np.ndarray:
    """Soft prior ``[R, F]`` in [PRIOR_FLOOR, 1] that finding ``f`` is seen at region ``r``.

    Per finding: the projected evidence scores of the finding and its ``is_a`` descendants
    over ``region_ids`` (as in ``locations_of``), raised to every ``part_of`` ancestor in the
    set (max), scaled so the best region is 1, then ``floor + (1 - floor) * scaled``. A finding
    with no evidence and no curated site gets :data:`PRIOR_UNINFORMED` everywhere.
    """
    from kg.query import _finding_scores

    region_ids = list(region_ids)
    targets = frozenset(region_ids)
    region_up = ancestor_matrix(kg, region_ids, "part_of")
    prior = np.full((len(region_ids), len(finding_ids)), PRIOR_UNINFORMED, dtype=np.float32)
    for j, finding in enumerate(finding_ids):
        kg.node(finding)
        scores = np.zeros(len(region_ids), dtype=np.float32)
        for fid in [finding, *kg.descendants(finding, "is_a")]:
            for region, slot in _finding_scores(kg, fid, targets).items():
                scores[region_ids.index(region)] += slot["score"]
        lifted = (region_up * scores[None, :]).max(axis=1)
        if lifted.max() > 0:
            prior[:, j] = PRIOR_FLOOR + (1.0 - PRIOR_FLOOR) * lifted / lifted.max()
    return prior
