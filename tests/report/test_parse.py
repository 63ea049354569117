import pytest

from anatomy_vlm.report import Mention, parse_report


def by_finding(text, lexicon) -> dict[str, Mention]:
    return {m.finding: m for m in parse_report(text, lexicon=lexicon)}


def test_list_under_one_negation_is_all_negated(tiny_lexicon):
    found = by_finding("No pneumothorax or effusion.", tiny_lexicon)
    assert found["pneumothorax"].negated and found["pleural_effusion"].negated


def test_negation_stops_at_sentence_end(tiny_lexicon):
    found = by_finding("No pneumothorax. Small effusion.", tiny_lexicon)
    assert found["pneumothorax"].negated
    assert not found["pleural_effusion"].negated and not found["pleural_effusion"].uncertain


def test_negation_stops_at_but_and_at_comma_clause(tiny_lexicon):
    assert not by_finding("No pneumothorax but there is atelectasis.", tiny_lexicon)["atelectasis"].negated
    assert not by_finding("No pneumothorax, mild atelectasis.", tiny_lexicon)["atelectasis"].negated


def test_post_negation(tiny_lexicon):
    assert by_finding("The pneumothorax has resolved.", tiny_lexicon)["pneumothorax"].negated


def test_pseudo_negation_is_not_negation(tiny_lexicon):
    found = by_finding("No change in the small left effusion.", tiny_lexicon)
    assert not found["pleural_effusion"].negated


@pytest.mark.parametrize("text", [
    "Possible right lower lung zone opacity.",
    "Cannot exclude opacity.",
    "Opacity cannot be excluded.",
    "Findings may represent opacity.",
])
def test_uncertainty_cues(text, tiny_lexicon):
    mention = by_finding(text, tiny_lexicon)["lung_opacity"]
    assert mention.uncertain and not mention.negated


def test_alternatives_are_uncertain_and_share_place(tiny_lexicon):
    found = by_finding("Atelectasis versus pneumonia in the left base.", tiny_lexicon)
    assert found["atelectasis"].uncertain and found["pneumonia"].uncertain
    assert found["atelectasis"].regions == ("left_lower_lung_zone",)


def test_no_definite_is_negated_not_uncertain(tiny_lexicon):
    mention = by_finding("No definite pleural effusion.", tiny_lexicon)["pleural_effusion"]
    assert mention.negated and not mention.uncertain


def test_laterality_sides(tiny_lexicon):
    assert by_finding("Small left pleural effusion.", tiny_lexicon)["pleural_effusion"].regions == ("left_lung",)
    assert by_finding("Right pneumothorax.", tiny_lexicon)["pneumothorax"].regions == ("right_lung",)
    assert set(by_finding("Bilateral pleural effusions.", tiny_lexicon)["pleural_effusion"].regions) == {
        "left_lung", "right_lung"}


def test_bibasilar_is_both_lower_zones(tiny_lexicon):
    assert set(by_finding("There is bibasilar atelectasis.", tiny_lexicon)["atelectasis"].regions) == {
        "left_lower_lung_zone", "right_lower_lung_zone"}


def test_named_zone_and_preposition(tiny_lexicon):
    found = by_finding("Possible right lower lung zone opacity.", tiny_lexicon)
    assert found["lung_opacity"].regions == ("right_lower_lung_zone",)
    found = by_finding("Opacity at the left base and right pneumothorax.", tiny_lexicon)
    assert found["lung_opacity"].regions == ("left_lower_lung_zone",)
    assert found["pneumothorax"].regions == ("right_lung",)


def test_abbreviations(tiny_lexicon):
    assert by_finding("Effusion at the L CPA.", tiny_lexicon)["pleural_effusion"].regions == (
        "left_costophrenic_angle",)
    assert by_finding("RLL consolidation.", tiny_lexicon)["consolidation"].regions == ("right_lower_lobe",)
    assert by_finding("ETT 4 cm above the carina.", tiny_lexicon)["endotracheal_tube"].regions == ("carina",)
    # lower-case "rll" is not the abbreviation
    assert by_finding("rll consolidation.", tiny_lexicon)["consolidation"].regions == ()


def test_composite_heart_enlarged(tiny_lexicon):
    mention = by_finding("The cardiac silhouette is enlarged.", tiny_lexicon)["cardiomegaly"]
    assert mention.regions == ("cardiac_silhouette",) and not mention.negated
    assert by_finding("The cardiac silhouette is not enlarged.", tiny_lexicon)["cardiomegaly"].negated


def test_normal_statements_give_no_mentions(tiny_lexicon):
    text = "The lungs are clear. No acute cardiopulmonary process."
    assert parse_report(text, lexicon=tiny_lexicon) == []


def test_span_and_sentence(tiny_lexicon):
    text = "FINDINGS: No pneumothorax. Small left pleural effusion."
    mentions = parse_report(text, lexicon=tiny_lexicon)
    assert [text[m.span[0] : m.span[1]] for m in mentions] == ["pneumothorax", "pleural effusion"]
    assert [m.sentence_index for m in mentions] == [0, 1]
    assert mentions[1].sentence == "Small left pleural effusion."
    assert mentions[1].to_json()["finding"]["id"] == "pleural_effusion"


def test_explained_finding_inherits_place_and_is_hedged(tiny_lexicon):
    found = by_finding("Opacity at the right base, likely atelectasis.", tiny_lexicon)
    assert found["atelectasis"].regions == ("right_lower_lung_zone",) and found["atelectasis"].uncertain
    assert not found["lung_opacity"].uncertain


def test_negated_finding_does_not_inherit_place(tiny_lexicon):
    found = by_finding("Left lower lung zone opacity, no pneumothorax.", tiny_lexicon)
    assert found["pneumothorax"].negated and found["pneumothorax"].regions == ()


def test_slash_alternatives_are_hedged(tiny_lexicon):
    found = by_finding("Left basilar opacity; atelectasis/pneumonia.", tiny_lexicon)
    assert found["atelectasis"].uncertain and found["pneumonia"].uncertain
    assert not found["lung_opacity"].uncertain


def test_list_after_comma_keeps_negation(tiny_lexicon):
    found = by_finding("No consolidation, large pleural effusion, or pneumothorax.", tiny_lexicon)
    assert all(found[f].negated for f in ("consolidation", "pleural_effusion", "pneumothorax"))


def test_sides_field(tiny_lexicon):
    assert by_finding("Bibasilar atelectasis.", tiny_lexicon)["atelectasis"].sides == ("left", "right")
    assert by_finding("No pneumothorax.", tiny_lexicon)["pneumothorax"].sides == ()
    assert by_finding("Small left pleural effusion.", tiny_lexicon)["pleural_effusion"].sides == ("left",)


def test_no_graph_is_an_error_not_a_fallback_vocabulary(monkeypatch):
    """Without a graph the parser raises the loader's KGError (no silent stand-in lexicon)."""
    import anatomy_vlm.kgload
    from kg.errors import KGError

    def broken():
        raise KGError("ontology folder missing")

    monkeypatch.setattr(anatomy_vlm.kgload, "load_kg", broken)
    with pytest.raises(KGError, match="ontology folder missing"):
        parse_report("Small left pleural effusion.")
