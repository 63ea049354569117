"""kg.normalise: the one normaliser shared by ``kg resolve`` and the report lexicon."""

from __future__ import annotations

import pytest

from kg.normalise import normalise_term, singular

PLURALS = [
    ("hernias", "hernia"), ("effusions", "effusion"), ("nodules", "nodule"), ("masses", "mass"),
    ("opacities", "opacity"), ("atelectases", "atelectasis"), ("bullae", "bulla"),
    ("diverticula", "diverticulum"), ("nodes", "node"), ("ribs", "rib"), ("vertebrae", "vertebra"),
    ("apices", "apex"), ("bases", "base"), ("hila", "hilum"), ("pleurae", "pleura"),
    ("pneumothoraces", "pneumothorax"), ("hydropneumothoraces", "hydropneumothorax"),
    ("metastases", "metastasis"), ("stenoses", "stenosis"), ("emboli", "embolus"),
    ("bronchi", "bronchus"), ("granulomas", "granuloma"), ("lungs", "lung"), ("angles", "angle"),
    ("calcifications", "calcification"), ("branches", "branch"), ("abscesses", "abscess"),
    ("clavicles", "clavicle"), ("wires", "wire"), ("catheters", "catheter"), ("rays", "ray"),
    ("cavities", "cavity"), ("devices", "device"), ("diagnoses", "diagnosis"), ("lobes", "lobe"),
]
SINGULARS = ["atelectasis", "bronchiectasis", "ascites", "pancreas", "bronchus", "thorax", "mass",
             "hilum", "apex", "emphysema", "series", "diabetes", "pneumothorax", "status", "gas", "is"]


@pytest.mark.parametrize(("plural", "expected"), PLURALS)
def test_singular_of_radiology_plurals(plural, expected):
    assert singular(plural) == expected
    assert singular(plural.upper()) == expected


@pytest.mark.parametrize("word", SINGULARS)
def test_singular_keeps_singular_words(word):
    assert singular(word) == word


@pytest.mark.parametrize(("text", "expected"), [
    ("Hiatal Hernias", "hiatal hernia"),
    ("Pleural Effusions!", "pleural effusion"),
    ("lymph nodes", "lymph node"),
    ("Left-sided  pleural effusion", "left sided pleural effusion"),
    ("left\u2013sided effusion", "left sided effusion"),  # en dash
    ("left\u2010sided effusion", "left sided effusion"),  # unicode hyphen
    ("Hodgkin's lymphoma", "hodgkin lymphoma"),
    ("Hodgkin\u2019s lymphoma", "hodgkin lymphoma"),
    ("pleur\u00e9sie", "pleuresie"),
    ("\uff2c\uff35\uff2c", "lul"),  # full-width letters
    ("cardiac_silhouette", "cardiac silhouette"),
    ("ET/NG tubes", "et ng tube"),
    ("heart & lungs", "heart and lung"),
    ("  ", ""),
    ("!!!", ""),
])
def test_normalise_term(text, expected):
    assert normalise_term(text) == expected


def test_normalise_term_is_idempotent():
    for text in ["Hiatal Hernias", "bilateral pleural effusions", "multiple bullae at the apices"]:
        once = normalise_term(text)
        assert normalise_term(once) == once


def test_resolve_reads_plural_terms(real_kg):
    """`kg resolve "hiatal hernias"` failed while `report parse` read it (issue 6 §5)."""
    assert real_kg.resolve("hiatal hernias")[0].node.id == "hiatal_hernia"
    assert real_kg.resolve("Pleural Effusions")[0].node.id == "pleural_effusion"
    assert real_kg.resolve("rib fractures")[0].node.id == "rib_fracture"
