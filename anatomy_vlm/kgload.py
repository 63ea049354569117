"""The one way ``anatomy_vlm`` gets the knowledge graph.

``load_kg()`` returns the default :class:`kg.AnatomyKG` (built from the shipped ontology and
the corpora in ``torchxrayvision``, then cached), memoised by ``AnatomyKG.load`` per process and inputs. It never falls back
to a hand-copied table: when the graph cannot be built or loaded the typed
:class:`kg.errors.KGError` propagates, because a silently different graph would silently
change labels. Code that needs a graph takes it as an argument and calls this only as the
default.
"""

from __future__ import annotations

__all__ = ["load_kg"]


def load_kg():
    """The default ``AnatomyKG`` (loaded once per process); raises ``KGError`` on failure."""
    from kg import AnatomyKG

    return AnatomyKG.load()
