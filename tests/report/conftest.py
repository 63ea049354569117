"""Fixtures: a tiny hand-made vocabulary, so parser tests do not depend on the full graph."""

from dataclasses import dataclass

import pytest

from anatomy_vlm.report.lexicon import Lexicon


@dataclass(frozen=True)
class FakeNode:
    id: str
    label: str
    type: str
    synonyms: tuple = ()
    abbreviations: tuple = ()
    laterality: str | None = None


REGIONS = ["right_lung", "left_lung", "right_lower_lung_zone", "left_lower_lung_zone",
           "right_upper_lung_zone", "left_upper_lung_zone", "right_mid_lung_zone", "left_mid_lung_zone",
           "right_apical_zone", "left_apical_zone", "right_hilar_structures", "left_hilar_structures",
           "right_costophrenic_angle", "left_costophrenic_angle", "cardiac_silhouette", "mediastinum",
           "trachea", "carina", "svc", "right_clavicle", "left_clavicle"]


@pytest.fixture(scope="session")
def tiny_lexicon() -> Lexicon:
    nodes = [FakeNode(r, r.replace("_", " "), "anatomy") for r in REGIONS]
    nodes[13] = FakeNode("left_costophrenic_angle", "left costophrenic angle", "anatomy",
                         abbreviations=("L CPA",), laterality="left")
    nodes += [
        FakeNode("pleural_effusion", "pleural effusion", "finding", synonyms=("effusion",)),
        FakeNode("pneumothorax", "pneumothorax", "finding"),
        FakeNode("lung_opacity", "lung opacity", "finding", synonyms=("opacity", "airspace disease")),
        FakeNode("atelectasis", "atelectasis", "finding"),
        FakeNode("consolidation", "consolidation", "finding"),
        FakeNode("cardiomegaly", "cardiomegaly", "finding"),
        FakeNode("pneumonia", "pneumonia", "disease"),
        FakeNode("hilar_enlargement", "hilar enlargement", "finding"),
        FakeNode("endotracheal_tube", "endotracheal tube", "device", abbreviations=("ETT",)),
        FakeNode("right_lower_lobe", "right lower lobe", "anatomy", abbreviations=("RLL",),
                 laterality="right"),
    ]
    return Lexicon.from_nodes(nodes)
