"""Report grounding: radiology report text → finding mentions (finding, regions, negated, uncertain).

Light path: nothing here imports torch.
"""

from anatomy_vlm.report.lexicon import Lexicon
from anatomy_vlm.report.parse import Mention, parse_report
from anatomy_vlm.report.sentences import Sentence, split_sentences

__all__ = ["Lexicon", "Mention", "Sentence", "parse_report", "split_sentences"]
