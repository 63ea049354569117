"""kg: the Anatomy-VLM knowledge graph (ontology + mined evidence). Never imports torch or anatomy_vlm."""
