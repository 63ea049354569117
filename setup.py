"""Packaging glue pyproject.toml cannot express: ship the top-level ontology/ folder inside the
wheel as the package data ``kg._ontology`` so a non-editable install finds it."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["kg", "kg.*", "anatomy_vlm", "anatomy_vlm.*"])
    + ["kg._ontology", "kg._ontology.crosswalks"],
    package_dir={"kg._ontology": "ontology", "kg._ontology.crosswalks": "ontology/crosswalks"},
)
