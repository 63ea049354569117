"""``data check --option`` values are typed and checked per loader before anything is opened
(issue 9): a bad value is exit 2 with one line naming the option, never exit 1 with every
sample blamed, and never accepted silently. A missing CSV column is named."""

from __future__ import annotations

import pytest

from anatomy_vlm.cli import main
from anatomy_vlm.data.datasets import dataset_class, dataset_names, open_dataset
from anatomy_vlm.errors import ConfigError, MissingColumn
from tests.data.fixtures_datasets import build_vindr_kaggle
from tests.data.fixtures_loaders import write_csv
from tests.data.fixtures_mimic import build_mimic

BAD = [
    ("vindr", "min_box_votes=abc", "min_box_votes"),
    ("vindr", "min_box_votes=0", "min_box_votes"),
    ("vindr", "iou_threshold=-3", "iou_threshold"),
    ("vindr", "iou_threshold=nan", "iou_threshold"),
    ("vindr", "verify=maybe", "verify"),
    ("mimic", "imagenome_root=/nonexistent/imagenome", "imagenome_root"),
    ("mimic", "reports_root=/nonexistent/reports", "reports_root"),
    ("mimic", "split_source=random", "split_source"),
    ("mimic", "load_masks=perhaps", "load_masks"),
    ("mimic", "image_size=-5", "image_size"),
    ("mimic", "limit=many", "limit"),
    ("rsna", "images_dir=../elsewhere", "images_dir"),
    ("rsna", "images_dir=/abs", "images_dir"),
    ("chexpert", "split_source=mine", "split_source"),
    ("padchest", "csv=/nonexistent.csv", "csv"),
    ("openi", "reports=/nonexistent.tgz", "reports"),
    ("vindr", "no_such_option=1", "no_such_option"),
]


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("opts")
    return {"vindr": build_vindr_kaggle(base / "vindr"), "mimic": build_mimic(base / "mimic")}


@pytest.mark.parametrize(("name", "pair", "key"), BAD)
def test_bad_option_is_exit_2_one_line_before_opening(name, pair, key, roots, tmp_path, capsys, monkeypatch, tally):
    opened = []
    monkeypatch.setattr(dataset_class(name), "_index", lambda self: opened.append(1) or iter(()))
    root = roots.get(name, tmp_path)
    assert main(["data", "check", name, str(root), "--option", pair]) == 2
    out, err = capsys.readouterr()
    err = err.strip()
    assert out == "" and err.startswith("anatomy-vlm: error:") and "\n" not in err and "Traceback" not in err
    assert key in err and name in err
    assert not opened  # refused before the dataset was indexed
    tally("data", "bad --option value", 1, "exit 2, one line naming the option, before opening")


def test_good_options_are_typed_and_used(roots):
    ds = open_dataset("vindr", roots["vindr"], **dataset_class("vindr").coerce_options(
        {"min_box_votes": "2", "iou_threshold": "0.3", "verify": "no"}))
    assert (ds.min_box_votes, ds.iou_threshold) == (2, 0.3)
    assert main(["data", "check", "vindr", str(roots["vindr"]), "--option", "min_box_votes=2",
                 "--option", "iou-threshold=0.5"]) == 0


def test_python_api_checks_the_same_values(roots):
    with pytest.raises(ConfigError, match="iou_threshold"):
        open_dataset("vindr", roots["vindr"], iou_threshold=-3)
    with pytest.raises(ConfigError, match="imagenome_root"):
        open_dataset("mimic", roots["mimic"], imagenome_root="/nonexistent/imagenome")


def test_every_loader_declares_its_options():
    import inspect

    for name in dataset_names():
        cls = dataset_class(name)
        own = {p for c in cls.__mro__ if "__init__" in vars(c) for p, v in
               inspect.signature(c.__init__).parameters.items() if v.kind is v.KEYWORD_ONLY}
        settable = own - {"split", "region_set", "finding_set", "policy", "uncertainty", "frontal_only",
                          "transform", "crosswalk", "hierarchy"}
        assert settable <= set(cls.OPTIONS), (name, settable - set(cls.OPTIONS))


def test_a_missing_column_is_named(tmp_path, capsys):
    root = tmp_path / "vindr"
    write_csv(root / "train.csv", ["image_id", "class_name", "rad_id", "x_min", "y_min", "x_max"],
              [["a", "Cardiomegaly", "R1", "1", "2", "3"]])
    with pytest.raises(MissingColumn, match="y_max"):
        open_dataset("vindr", root)
    assert main(["data", "check", "vindr", str(root)]) == 2
    err = capsys.readouterr().err
    assert "missing column(s) y_max" in err and err.count("\n") == 1
