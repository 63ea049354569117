"""The image model: backbone, anatomy decoder, knowledge fusion, heads, losses, checkpoints.

Every model kind (``anatomy_vlm``, ``holistic``, ``prior``) is saved as a run directory and
opened with :func:`anatomy_vlm.model.run.load_run` as a :class:`~anatomy_vlm.model.run.Predictor`.
"""
