"""kg resolve: a finding named with where or how it was seen resolves to the finding, the
location part reported apart (issue 6 §3: "bibasilar atelectasis" was an unknown term)."""

from __future__ import annotations

import json

import pytest

from kg.cli import add_parser

BASES = ("left_lung_base", "right_lung_base")
PLEURAE = ("left_pleura", "right_pleura")

# (text, finding id, location anatomy ids (exact, in order), qualifier ids (exact, in order))
PHRASES = [
    ("bibasilar atelectasis", "atelectasis", BASES, ()),
    ("Bibasilar Atelectases", "atelectasis", BASES, ()),
    ("bibasal atelectasis", "atelectasis", BASES, ()),
    ("basilar atelectasis", "atelectasis", ("lung_base",), ()),
    ("right basilar atelectasis", "atelectasis", ("right_lung_base",), ()),
    ("right basal consolidation", "consolidation", ("right_lung_base",), ()),
    ("left basilar opacity", "lung_opacity", ("left_lung_base",), ()),
    ("mild bibasilar atelectasis", "atelectasis", BASES, ("mild",)),
    ("patchy bibasilar opacities", "lung_opacity", BASES, ("patchy",)),
    ("bibasilar subsegmental atelectasis", "laminar_atelectasis", BASES, ()),
    ("left basilar platelike atelectasis", "laminar_atelectasis", ("left_lung_base",), ()),
    ("atelectasis at the left base", "atelectasis", ("left_lung_base",), ()),
    ("effusion at the right base", "pleural_effusion", ("right_lung_base",), ()),
    ("opacity at both bases", "lung_opacity", BASES, ("bilateral",)),
    ("atelectasis at the lung bases", "atelectasis", ("lung_base",), ()),
    ("left lung base atelectasis", "atelectasis", ("left_lung_base",), ()),
    ("retrocardiac opacity", "lung_opacity", ("retrocardiac_region",), ()),
    ("retrocardiac consolidation", "consolidation", ("retrocardiac_region",), ()),
    ("left retrocardiac atelectasis", "atelectasis", ("retrocardiac_region",), ("left",)),
    ("perihilar opacities", "lung_opacity", ("perihilar_region",), ()),
    ("perihilar edema", "pulmonary_edema", ("perihilar_region",), ()),
    ("bilateral perihilar opacities", "lung_opacity", ("left_perihilar_region", "right_perihilar_region"),
     ("bilateral",)),
    ("bilateral perihilar interstitial edema", "pulmonary_edema",
     ("left_perihilar_region", "right_perihilar_region"), ("bilateral",)),
    ("right perihilar opacity", "lung_opacity", ("right_perihilar_region",), ()),
    ("apical pneumothorax", "pneumothorax", ("apical_zone",), ()),
    ("left apical pneumothorax", "pneumothorax", ("left_apical_zone",), ("left",)),
    ("small right apical pneumothorax", "pneumothorax", ("right_apical_zone",), ("small", "right")),
    ("biapical pleural thickening", "pleural_thickening", ("left_apical_zone", "right_apical_zone"), ()),
    ("right apical pleural thickening", "apical_pleural_thickening", ("right_apical_zone",), ("right",)),
    ("left-sided pleural effusion", "pleural_effusion", ("left_pleura",), ("left",)),
    ("right\u2010sided pleural effusion", "pleural_effusion", ("right_pleura",), ("right",)),
    ("left sided effusion", "pleural_effusion", ("left_pleura",), ("left",)),
    ("left pleural effusion", "pleural_effusion", ("left_pleura",), ("left",)),
    ("bilateral pleural effusions", "pleural_effusion", PLEURAE, ("bilateral",)),
    ("bilateral effusions", "pleural_effusion", PLEURAE, ("bilateral",)),
    ("small left pleural effusion", "pleural_effusion", ("left_pleura",), ("small", "left")),
    ("large right pleural effusion", "pleural_effusion", ("right_pleura",), ("large", "right")),
    ("trace left effusion", "pleural_effusion", ("left_pleura",), ("mild", "left")),
    ("left pneumothorax", "pneumothorax", ("left_pleura",), ("left",)),
    ("left pleural thickening", "pleural_thickening", ("left_pleura",), ("left",)),
    ("left lower lobe consolidation", "consolidation", ("left_lower_lobe",), ()),
    ("right lower lobe pneumonia", "pneumonia", ("right_lower_lobe",), ()),
    ("RLL pneumonia", "pneumonia", ("right_lower_lobe",), ()),
    ("LLL collapse", "atelectasis", ("left_lower_lobe",), ()),
    ("consolidation in the right lower lobe", "consolidation", ("right_lower_lobe",), ()),
    ("right middle lobe atelectasis", "atelectasis", ("right_middle_lobe",), ()),
    ("left upper lobe mass", "mass", ("left_upper_lobe",), ()),
    ("right upper lobe nodule", "nodule", ("right_upper_lobe",), ()),
    ("left lower lobe infiltrate", "infiltration", ("left_lower_lobe",), ()),
    ("lingular atelectasis", "atelectasis", ("lingula",), ()),
    ("left lower lobe and lingular atelectasis", "atelectasis", ("left_lower_lobe", "lingula"), ()),
    ("bilateral lower lobe consolidation", "consolidation", ("left_lower_lobe", "right_lower_lobe"),
     ("bilateral",)),
    ("upper lobe emphysema", "emphysema", ("upper_lobe",), ()),
    ("left lower lung zone opacity", "lung_opacity", ("left_lower_lung_zone",), ()),
    ("right mid lung zone opacity", "lung_opacity", ("right_mid_lung_zone",), ()),
    ("subpleural nodule", "nodule", ("subpleural_region",), ()),
    ("right hilar enlargement", "hilar_enlargement", ("right_hilar_structures",), ("right",)),
    ("bilateral hilar lymphadenopathy", "lymphadenopathy", ("left_hilar_structures", "right_hilar_structures"),
     ("bilateral",)),
    ("mediastinal lymphadenopathy", "lymphadenopathy", ("mediastinum",), ()),
    ("right paratracheal lymphadenopathy", "lymphadenopathy", ("paratracheal_region",), ("right",)),
    ("left hemidiaphragm elevation", "hemidiaphragm_elevation", ("left_hemidiaphragm",), ("left",)),
    ("right costophrenic angle blunting", "costophrenic_angle_blunting", ("right_costophrenic_angle",), ("right",)),
    ("right rib fractures", "rib_fracture", ("right_rib",), ("right",)),
    ("left clavicle fracture", "clavicle_fracture", ("left_clavicle",), ("left",)),
    ("left chest wall subcutaneous emphysema", "subcutaneous_emphysema", ("left_chest_wall",), ()),
    ("diffuse interstitial opacities", "interstitial_pattern", (), ("diffuse",)),
    ("multifocal pneumonia", "pneumonia", (), ("multifocal",)),
    ("bibasilar atelectsis", "atelectasis", BASES, ()),  # misspelt finding: corrected, then located
]


def test_phrase_list_is_large_and_distinct():
    assert len(PHRASES) >= 50
    assert len({text for text, *_ in PHRASES}) == len(PHRASES)


@pytest.mark.parametrize(("text", "finding", "locations", "qualifiers"), PHRASES)
def test_finding_with_location(real_kg, text, finding, locations, qualifiers):
    match = real_kg.resolve(text, limit=1)[0]
    assert match.node.id == finding
    assert match.locations == locations
    assert match.qualifiers == qualifiers
    assert match.location_text and match.location_text.split()[0] in text.lower().replace("-", " ")
    assert 0.8 <= match.score <= 0.9
    for nid in (*match.locations, *match.qualifiers):
        assert nid in real_kg


@pytest.mark.parametrize(("text", "node"), [
    ("left lower lobe", "left_lower_lobe"),
    ("pleural effusion", "pleural_effusion"),
    ("L CPA", "left_costophrenic_angle"),
    ("R lower lung zone", "right_lower_lung_zone"),
    ("apical pleural thickening", "apical_pleural_thickening"),
    ("subsegmental atelectasis", "laminar_atelectasis"),
])
def test_whole_names_carry_no_location(real_kg, text, node):
    match = real_kg.resolve(text, limit=1)[0]
    assert match.node.id == node
    assert (match.locations, match.qualifiers, match.location_text) == ((), (), None)


def test_type_filter_applies_to_the_finding_part(real_kg):
    from kg.errors import UnknownTermError

    assert real_kg.resolve("bibasilar atelectasis", types="finding")[0].node.id == "atelectasis"
    with pytest.raises(UnknownTermError):
        real_kg.resolve("bibasilar atelectasis", types="device")
    assert real_kg.resolve("RLL pneumonia", types=("disease",))[0].locations == ("right_lower_lobe",)


def test_cli_json_reports_the_location(capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["kg", "resolve", "bibasilar atelectasis", "--json", "--limit", "1"])
    assert args.func(args) == 0
    match = json.loads(capsys.readouterr().out)["matches"][0]
    assert match["node"]["id"] == "atelectasis"
    assert match["locations"] == list(BASES)
    assert match["qualifiers"] == []
    assert match["location_text"] == "bibasilar"
