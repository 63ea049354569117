from anatomy_vlm.report import split_sentences


def texts(report: str) -> list[str]:
    return [s.text for s in split_sentences(report)]


def test_abbreviation_with_period_does_not_split():
    assert texts("Effusion measures approx. 3 cm. No pneumothorax.") == [
        "Effusion measures approx. 3 cm.", "No pneumothorax."]


def test_decimal_does_not_split():
    assert texts("A 2.5 cm nodule. Heart normal.") == ["A 2.5 cm nodule.", "Heart normal."]


def test_enumeration_is_dropped_and_splits_lines():
    report = "IMPRESSION:\n1. No acute disease\n2. Stable cardiomegaly.\n3. Small effusion."
    assert texts(report) == ["No acute disease", "Stable cardiomegaly.", "Small effusion."]


def test_inline_enumeration_after_period():
    assert texts("1. No pneumothorax. 2. Small effusion.") == ["No pneumothorax.", "Small effusion."]


def test_section_headers_are_not_sentences():
    report = "FINDINGS: The lungs are clear.\n\nIMPRESSION: Normal chest."
    assert texts(report) == ["The lungs are clear.", "Normal chest."]


def test_spans_point_into_the_report():
    report = "FINDINGS:  No pneumothorax.   Small  effusion."
    for sentence in split_sentences(report):
        assert " ".join(report[sentence.start : sentence.end].split()) == sentence.text


def test_empty_and_punctuation_only():
    assert texts("") == []
    assert texts(" .. ; ") == []


def test_lowercase_after_period_starts_a_sentence():
    # Open-I often starts a sentence in lower case ("XXXX. no change"); abbreviations still hold.
    assert texts("Normal chest x-XXXX. no effusion.") == ["Normal chest x-XXXX.", "no effusion."]
    assert texts("Atelectasis vs. pneumonia.") == ["Atelectasis vs. pneumonia."]
