"""What a model takes from the knowledge graph, frozen into tensors saved with its weights.

A :class:`KnowledgeContext` is built once from the KG, the named region / finding sets and the
text cache, and travels inside ``model.safetensors`` (as buffers), so a saved run predicts
without the KG or the text encoder; its KG version and set hashes are checked on load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["KnowledgeContext", "build_context"]


@dataclass(frozen=True)
class KnowledgeContext:
    """KG-derived inputs of a model (R regions, F findings, N KG nodes, D text width).

    Attributes:
        kg_version: version of the KG they came from.
        region_set / finding_set: :class:`kg.sets.NamedSet`.
        node_ids: ``N`` ontology ids (row order of ``node_text``).
        node_text: ``[N, D]`` MiniLM embeddings of each node's label, definition and synonyms.
        region_rows: ``[R]`` row of each region in ``node_ids``.
        node_prior: ``[R, N]`` KG location prior of each node at each region, in (0, 1].
        finding_prior: ``[R, F]`` the same for the finding set's columns.
        prompts: ``[R, F, 2, D]`` embeddings of the positive / negated prompt of each cell.
        image_prompts: ``[F, 2, D]`` the same without a region (image-level prompts).
        prompt_hash: hash of the prompt texts.
        text_model: the text encoder's name.
    """

    kg_version: str
    region_set: object
    finding_set: object
    node_ids: tuple[str, ...]
    node_text: torch.Tensor
    region_rows: torch.Tensor
    node_prior: torch.Tensor
    finding_prior: torch.Tensor
    prompts: torch.Tensor
    image_prompts: torch.Tensor
    prompt_hash: str
    text_model: str

    def meta(self) -> dict:
        """JSON provenance stored in the run config."""
        return {
            "kg_version": self.kg_version,
            "text_model": self.text_model,
            "prompt_hash": self.prompt_hash,
            "node_ids": list(self.node_ids),
            "region_set": {"name": self.region_set.name, "hash": self.region_set.hash},
            "finding_set": {"name": self.finding_set.name, "hash": self.finding_set.hash},
        }


def build_context(kg, region_set, finding_set, *, text_cache) -> KnowledgeContext:
    """Embed node texts and prompts (through ``text_cache``) and compute the location priors."""
    from anatomy_vlm.model.text import build_prompt_bank

    node_ids = tuple(node.id for node in kg.nodes())
    node_text = text_cache.encode([kg.node_text(nid) for nid in node_ids])
    position = {nid: i for i, nid in enumerate(node_ids)}
    bank = build_prompt_bank(kg, region_set.ids, finding_set.ids, cache=text_cache)
    node_prior = np.asarray(kg.location_prior(list(node_ids), list(region_set.ids)), np.float32)
    image_texts = [t for f in finding_set.ids for t in (kg.prompt(f), kg.prompt(f, negated=True))]
    image_prompts = text_cache.encode(image_texts).reshape(len(finding_set.ids), 2, -1)
    finding_prior = np.asarray(
        kg.location_prior(list(finding_set.ids), list(region_set.ids)), np.float32
    )
    return KnowledgeContext(
        kg_version=kg.version,
        region_set=region_set,
        finding_set=finding_set,
        node_ids=node_ids,
        node_text=torch.from_numpy(np.ascontiguousarray(node_text)),
        region_rows=torch.tensor([position[r] for r in region_set.ids], dtype=torch.long),
        node_prior=torch.from_numpy(node_prior),
        finding_prior=torch.from_numpy(finding_prior),
        prompts=torch.from_numpy(np.ascontiguousarray(bank.vectors)),
        image_prompts=torch.from_numpy(np.ascontiguousarray(image_prompts)),
        prompt_hash=bank.text_hash,
        text_model=text_cache.model_name,
    )
