"""Phantom renderer: film contract, conventions, determinism, findings and domains (tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest

from anatomy_vlm.data.phantom import domains
from anatomy_vlm.data.phantom.anatomy import layout
from anatomy_vlm.data.phantom.lesions import CORE, DEVICES, LesionSpec
from anatomy_vlm.data.phantom.regions import CIG36
from anatomy_vlm.data.phantom.render import render, sample_patient

SIZE = 128


@pytest.fixture
def clean(monkeypatch) -> str:
    """A noise-free style, so pixel differences come from the findings alone."""
    monkeypatch.setitem(domains.STYLES, "clean", domains.Style(noise=0.0))
    return "clean"


def _film(seed: int = 0, lesions=(), size: int = SIZE, domain: str = "id", view: str = "PA"):
    rng = np.random.default_rng(seed)
    return render(sample_patient(rng, view=view), list(lesions), size=size, domain=domain, rng=rng)


def test_film_shapes_and_dtypes():
    film = _film()
    assert film.image.shape == (SIZE, SIZE) and film.image.dtype == np.uint8
    assert film.image.std() > 10  # not a blank frame
    for name in ("right_lung", "left_lung", "heart"):
        assert film.masks[name].shape == (SIZE, SIZE) and film.masks[name].dtype == bool
        assert film.masks[name].any()
    assert tuple(film.region_masks) == CIG36 and len(CIG36) == 36
    for rid in CIG36:
        m = film.region_masks[rid]
        assert m.shape == (SIZE, SIZE) and m.dtype == bool and m.any(), rid


def test_boxes_inside_image_and_around_masks():
    film = _film(3, size=160)
    for rid in CIG36:
        x1, y1, x2, y2 = film.boxes[rid]
        assert 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 160, rid
        ys, xs = np.nonzero(film.region_masks[rid])
        assert xs.min() == x1 and xs.max() + 1 == x2 and ys.min() == y1 and ys.max() + 1 == y2, rid


def test_patient_left_is_image_right():
    for seed in range(4):
        film = _film(seed)
        heart = film.masks["heart"]
        cols = np.nonzero(heart)[1]
        # heart is two thirds to the patient's left = image right of the spine
        assert cols.mean() > SIZE / 2
        assert np.nonzero(film.masks["left_lung"])[1].mean() > np.nonzero(film.masks["right_lung"])[1].mean()
        assert film.boxes["left_clavicle"][0] > film.boxes["right_clavicle"][0]
        assert film.region_masks["left_cardiac_silhouette"].sum() > film.region_masks["right_cardiac_silhouette"].sum()


def test_normal_anatomy_measurements():
    film = _film(5, size=256)
    m = film.measurements
    assert m["ctr"] < 0.5
    assert m["right_dome_y"] < m["left_dome_y"]  # y grows downward: right dome higher
    assert m["left_hilum_y"] < m["right_hilum_y"]
    assert 0.5 < m["lung_height_frac"] < 0.7
    # the heart sits on the diaphragm: it ends near the domes, not in the abdomen
    for film_ in (film, _film(5, [LesionSpec(finding="cardiomegaly", severity=1.0)], size=256)):
        assert film_.boxes["cardiac_silhouette"][3] < film_.measurements["lung_bottom_y"] + 2 * m["px_per_cm"]
    # zones partition each lung top to bottom
    for side in ("right", "left"):
        zones = sum(film.region_masks[f"{side}_{z}_lung_zone"].astype(int) for z in ("upper", "mid", "lower"))
        assert np.array_equal(zones > 0, film.masks[f"{side}_lung"]) and zones.max() == 1


def test_same_seed_same_bytes_and_different_seed_differs():
    spec = [LesionSpec(finding="nodule", severity=0.7, side="left")]
    a, b = _film(7, spec), _film(7, spec)
    assert a.image.tobytes() == b.image.tobytes()
    assert np.array_equal(a.lesions[0].mask, b.lesions[0].mask)
    assert _film(8, spec).image.tobytes() != a.image.tobytes()


@pytest.mark.parametrize("finding", CORE)
def test_each_finding_changes_its_mask_more_with_severity(finding, clean):
    base = _film(11, domain=clean).image.astype(float)
    films = []
    for sev in (0.15, 0.95):
        spec = LesionSpec(finding=finding, severity=sev, side="right" if finding != "pacemaker" else None)
        film = _film(11, [spec], domain=clean)
        lesion = film.lesions[0]
        assert lesion.spec is spec and lesion.mask.shape == (SIZE, SIZE) and lesion.mask.any(), finding
        x1, y1, x2, y2 = lesion.box
        assert 0 <= x1 < x2 <= SIZE and 0 <= y1 < y2 <= SIZE
        films.append(film)
    union = films[0].lesions[0].mask | films[1].lesions[0].mask
    # total signal (grey levels summed over the lesion pixels): contrast × extent
    signal = [np.abs(f.image.astype(float) - base)[union].sum() for f in films]
    inside = np.abs(films[0].image.astype(float) - base)[films[0].lesions[0].mask].mean()
    assert inside > 0.5, (finding, inside)
    if finding not in DEVICES:  # a device is there or not
        assert signal[1] > signal[0], (finding, signal)


def test_silhouette_sign_rml_effaces_right_heart_border(clean):
    film = _film(2, [LesionSpec(finding="consolidation", severity=1.0, side="right",
                                params={"lobe": "rml"})], size=256, domain=clean)
    normal = _film(2, size=256, domain=clean)
    assert film.lesions[0].params["silhouette"] == "right_heart_border"
    heart = normal.masks["heart"]
    rows = np.nonzero(film.lesions[0].mask.any(axis=1))[0]
    y = int(np.median(rows))
    edge = int(np.nonzero(heart[y])[0][0])  # right heart border on that row
    contrast = lambda img: float(img[y, edge + 2]) - float(img[y, edge - 4])  # noqa: E731
    assert contrast(film.image) < 0.5 * contrast(normal.image)


def test_devices_report_tips_inside_the_image():
    specs = [LesionSpec(finding=f) for f in DEVICES]
    film = _film(4, specs, size=256)
    cx, cy = film.region_masks["carina"].nonzero()[1].mean(), film.measurements["carina_y"]
    ett = film.lesions[0]
    above_cm = (cy - ett.tip[1]) / film.measurements["px_per_cm"]
    assert 2.5 < above_cm < 7.5 and abs(ett.tip[0] - cx) < 2 * film.measurements["px_per_cm"]
    ng = film.lesions[1]
    assert ng.tip[1] > film.measurements["left_dome_y"] and ng.tip[0] > 128  # under the left dome
    for lesion in film.lesions:
        assert 0 <= lesion.tip[0] < 256 and 0 <= lesion.tip[1] < 256


def test_domains_differ_and_unknown_names_raise():
    images = {d: _film(9, domain=d).image.astype(float) for d in ("id", "portable_ap", "low_dose", "other_scanner")}
    names = list(images)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(images[a] - images[b]).mean() > 2.0, (a, b)
    assert _film(9, domain="prior_shift").image.tobytes() == _film(9, domain="id").image.tobytes()
    ap = _film(9, view="AP", domain="portable_ap")
    assert ap.patient.view == "AP" and ap.measurements["ctr"] > _film(9).measurements["ctr"]
    with pytest.raises(ValueError):
        _film(0, domain="nope")
    with pytest.raises(ValueError):
        _film(0, [LesionSpec(finding="unicorn")])


@pytest.mark.parametrize("size", [128, 512])
def test_sizes(size):
    film = _film(1, size=size)
    assert film.image.shape == (size, size)
    assert 0.5 < film.measurements["lung_height_frac"] < 0.7


def _thumb(image: np.ndarray) -> np.ndarray:
    """16×16 block means (the shortcut a thumbnail model sees)."""
    s = image.shape[0] // 16
    return image.astype(float).reshape(16, s, 16, s).mean(axis=(1, 3))


def _pair(finding: str, sev: float, clean: str, *, seed: int = 21, size: int = 256, **kw):
    spec = LesionSpec(finding=finding, severity=sev, side=kw.pop("side", "right"), **kw)
    p = sample_patient(np.random.default_rng(seed))
    a = render(p, [spec], size=size, domain=clean, rng=np.random.default_rng(1))
    b = render(p, [], size=size, domain=clean, rng=np.random.default_rng(1))
    return a, b


def test_subtle_pneumothorax_is_a_thin_apical_rim_with_a_pleural_line(clean):
    a, b = _pair("pneumothorax", 0.1, clean)
    lung = a.masks["right_lung"].sum()
    mask = a.lesions[0].mask
    assert 0 < mask.sum() < 0.02 * lung  # a rim, not a hemithorax band
    assert a.lesions[0].params["depth_cm"] <= 0.5
    assert np.nonzero(mask.any(axis=1))[0].max() < a.measurements["zone_mid_lower"]  # apical / upper
    assert np.abs(_thumb(a.image) - _thumb(b.image)).max() <= 3.0  # invisible at 16×16
    assert (a.image.astype(int) - b.image).max() >= 8  # but the white visceral pleural line is there
    big, big0 = _pair("pneumothorax", 0.95, clean)
    assert big.lesions[0].mask.sum() > 10 * mask.sum() and big.lesions[0].params["depth_cm"] >= 2.5  # large: > 2 cm
    assert np.abs(_thumb(big.image) - _thumb(big0.image)).max() > 10


def test_small_effusion_only_blunts_the_angle_tip(clean):
    a, b = _pair("pleural_effusion", 0.25, clean)
    cm = a.measurements["px_per_cm"]
    x1, y1, x2, y2 = a.lesions[0].box
    assert a.lesions[0].params["blunting_only"] and (y2 - y1) <= 1.0 * cm and (x2 - x1) <= 2.0 * cm
    assert np.abs(_thumb(a.image) - _thumb(b.image)).max() <= 4.0
    big, big0 = _pair("pleural_effusion", 0.9, clean)
    assert big.lesions[0].mask.sum() > 20 * a.lesions[0].mask.sum()
    assert np.abs(_thumb(big.image) - _thumb(big0.image)).max() > 40


@pytest.mark.parametrize("finding", ["rib_fracture", "clavicle_fracture"])
@pytest.mark.parametrize("healing", [False, True])
def test_fracture_signal_rises_with_severity(finding, healing, clean):
    """Hairline (subtle) → gap, step-off, extrapleural hematoma / overriding fragments (obvious);
    a healing fracture's callus grows with severity."""
    signal = []
    for sev in (0.1, 0.5, 0.95):
        a, b = _pair(finding, sev, clean, seed=5, params={"healing": healing})
        diff = np.abs(a.image.astype(float) - b.image)
        signal.append(diff.sum())
        assert a.lesions[0].params["healing"] is healing
        assert a.lesions[0].params["displaced"] is (sev >= 0.5)
    assert signal[0] < signal[1] < signal[2], signal
    assert signal[2] > 4 * signal[0], signal


def test_rib_fracture_lands_in_the_requested_zone(clean):
    for zone in ("right_upper_lung_zone", "right_mid_lung_zone", "right_lower_lung_zone"):
        a, _ = _pair("rib_fracture", 0.5, clean, region=zone)
        mask = a.lesions[0].mask
        ys, xs = np.nonzero(mask)
        cy, cx = int(ys.mean()), int(xs.mean())
        assert a.region_masks[zone][cy, cx], zone


def test_atelectasis_detectability_is_monotone(clean):
    """Plate-like bands (subtle/moderate) → dense lobar collapse (obvious): more signal each step."""
    signal = []
    for sev in (0.15, 0.45, 0.9):
        a, b = _pair("atelectasis", sev, clean, seed=3)
        signal.append(np.abs(a.image.astype(float) - b.image)[a.lesions[0].mask].sum())
    assert signal[0] < signal[1] < signal[2], signal


@pytest.mark.parametrize("domain", ["id", "portable_ap", "low_dose", "other_scanner"])
def test_grey_scale_air_lung_soft_tissue_bone_metal(domain):
    rng = np.random.default_rng(5)
    patient = sample_patient(rng, domain=domain)
    film = render(patient, [LesionSpec(finding="pacemaker", side="left", severity=0.5)], size=256,
                  domain=domain, rng=rng)
    img, cm = film.image.astype(float), film.measurements["px_per_cm"]
    lungs = film.masks["right_lung"] | film.masks["left_lung"]
    mid = int(round(float(np.median(layout(film.patient, 256).mid_x))))
    abdomen = slice(int(film.measurements["lung_bottom_y"] + 2 * cm), 240)
    soft = img[abdomen, mid - int(8 * cm):mid - int(3 * cm)].mean()  # abdomen beside the spine
    spine = img[abdomen, mid - 2:mid + 3].mean()
    air = img[:8, :8].mean()
    lung = img[lungs].mean()
    metal = img[film.lesions[0].mask].max()
    assert air < 40 < lung + 10 < soft < 190  # soft tissue mid-grey, not near white
    assert soft < spine < metal and metal >= 230


def test_right_heart_border_bulges_beyond_the_spine(clean):
    for seed in range(4):
        film = _film(seed, size=256, domain=clean)
        lay = layout(film.patient, 256)
        right = lay.mid_x - lay.heart_a  # heart extent right of the spine centre (px)
        y = int(np.nanargmax(np.where(np.isfinite(right), right, np.nan)))
        beyond = right[y] / lay.cm - 2.2  # the vertebral body's edge is ~2.2 cm off the midline
        assert 1.0 <= beyond <= 3.0, (seed, beyond)
        edge = int(lay.heart_a[y])
        lung_side = film.image[y, edge - int(lay.cm):edge - 1].astype(float).mean()
        heart_side = film.image[y, edge + 2:edge + int(lay.cm)].astype(float).mean()
        assert heart_side - lung_side > 25, (seed, heart_side, lung_side)  # border against lung
