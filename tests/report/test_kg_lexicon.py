"""The parser on the real knowledge graph's vocabulary (W's phantom phrasings and KG abbreviations)."""

import pytest

from anatomy_vlm.report import parse_report


def one(text: str, finding: str):
    hits = [m for m in parse_report(text) if m.finding == finding]
    assert hits, f"{finding} not found in {text!r}: {[m.finding for m in parse_report(text)]}"
    return hits[0]


@pytest.mark.parametrize("text, finding, regions, negated, uncertain", [
    ("Small left pleural effusion.", "pleural_effusion", ("left_lung",), False, False),
    ("No pneumothorax.", "pneumothorax", (), True, False),
    ("Possible right lower lung zone opacity.", "lung_opacity", ("right_lower_lung_zone",), False, True),
    ("There is bibasilar atelectasis.", "atelectasis", ("left_lower_lung_zone", "right_lower_lung_zone"), False, False),
    ("Endotracheal tube terminates 4 cm above the carina.", "endotracheal_tube", ("carina",), False, False),
    ("The cardiac silhouette is enlarged.", "cardiomegaly", ("cardiac_silhouette",), False, False),
    ("Heart size is normal.", "cardiomegaly", ("cardiac_silhouette",), True, False),
    ("Widening of the upper mediastinum.", "mediastinal_widening", ("upper_mediastinum",), False, False),
    ("Fracture of the right clavicle.", "clavicle_fracture", ("right_clavicle",), False, False),
    ("Opacity at the L CPA.", "lung_opacity", ("left_costophrenic_angle",), False, False),
    ("RLL consolidation may represent pneumonia.", "consolidation", ("right_lower_lobe",), False, False),
    ("Pneumonia cannot be excluded.", "pneumonia", (), False, True),
    ("Calcified left lower lobe granuloma.", "calcified_granuloma", ("left_lower_lobe",), False, False),
    ("Subsegmental atelectasis in the lung bases.", "laminar_atelectasis",
     ("left_lung_base", "right_lung_base"), False, False),
    ("Opacity in the right lung base, likely atelectasis.", "atelectasis", ("right_lung_base",), False, True),
])
def test_phantom_and_report_phrasings(text, finding, regions, negated, uncertain):
    mention = one(text, finding)
    assert (mention.regions, mention.negated, mention.uncertain) == (regions, negated, uncertain)


def test_normal_statements_have_no_mentions():
    assert parse_report("The lungs are clear. No acute cardiopulmonary process.") == []


def test_dextroscoliosis_is_right_sided():
    assert one("There is dextroscoliosis of the thoracic spine.", "scoliosis").sides == ("right",)


@pytest.mark.parametrize("term", ["hiatal hernias", "pleural effusions", "pneumothoraces", "bullae",
                                  "atelectases", "rib fractures", "pulmonary nodules", "granulomas"])
def test_parser_and_kg_resolve_agree_on_plurals(term):
    """One normaliser (kg.normalise.singular): the id ``kg resolve`` ranks first is the id the
    parser reads for the same words."""
    from anatomy_vlm.kgload import load_kg

    best = load_kg().resolve(term)[0].node.id
    assert [m.finding for m in parse_report(f"There are {term}.")] == [best]
