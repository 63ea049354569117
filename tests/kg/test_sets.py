"""Named region/finding sets: order, content hash, errors."""

from __future__ import annotations

import hashlib

import pytest

from kg import NamedSet, finding_set, region_set
from kg.errors import UnknownTermError


def test_region_sets_sizes_and_order():
    assert len(region_set("cig36")) == 36
    assert len(region_set("cig29")) == 29
    cig38 = region_set("cig38_text")
    assert len(cig38) == 38 and cig38.ids[:29] == region_set("cig29").ids
    assert region_set().name == "cig29"
    assert region_set("cig29").index("left_costophrenic_angle") == 14


def test_hash_is_sha256_of_ordered_ids():
    s = finding_set("core")
    assert isinstance(s, NamedSet) and len(s) == 17 and s.ids[0] == "lung_opacity"
    assert s.hash == hashlib.sha256("\n".join(s.ids).encode()).hexdigest()[:16]
    assert region_set("cig29").hash != region_set("cig36").hash
    assert s.to_json()["hash"] == s.hash


def test_unknown_set_suggests():
    with pytest.raises(UnknownTermError) as err:
        region_set("cig30")
    assert "cig36" in err.value.suggestions or "cig29" in err.value.suggestions
