"""From the JPEG to coordinates: ``pose3dbench run`` against the authors' whole test path, in two layers.

``tests/fixtures/conformance-pipeline`` (copied from ../shared/conformance-pipeline) holds six JPEGs, the
boxes the authors' loader used, the crops their ``generate_patch_image`` made (uint8, byte-exact) and the
coordinates (heatmap units, flip test on and off) that their own ``main/test.py`` path produced for three
configurations with recipe-v1 weights whose final layer is scaled.

- Layer 1, exact on any CPU: the crops the run serves (through the crop store, every tier) equal the
  authors' byte for byte (JPEG decoding and OpenCV's fixed-point bilinear warp are integer arithmetic),
  and the network input made from them equals the authors' ``(p - mean) / std`` in float32 bit for bit
  (one correctly rounded subtraction and division per element). This pins the float32 affine, the box
  convention, the channel order and the pixel scale on every machine.
- Layer 2, within what float32 kernels of another CPU give: a dataset folder is built around the six JPEGs
  whose bbox_root file holds exactly the recorded boxes, the weights are saved as the authors'
  checkpoints, the real CLI ``run`` is called with ``--root rootnet`` (boxes taken as they are), and the
  coordinates read back from the predictions file are compared within ``tolerance_heatmap_units`` (0.1:
  another CPU's summation order moves these input-sensitive weights by up to 2.5e-2 units; on one machine
  eager equals the authors' path bit for bit). This pins pixel scale, normalisation, the flip mirror and the
  joint swaps, whose errors are 0.4 to 31 units.

Negative controls show each layer catching what it is for: a float64 affine changes the crop bytes, BGR and
a 0-1 pixel range change the input and miss by > 1 unit, the MSRA patch-pixel mirror misses by > 0.3 units
(measured 0.38-0.45) and a flip test without the left/right swap by > 1 unit (measured 10-20).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.pipeline import (CONFIGS, PIPELINE_DIR, VECTORS, build_dataset, expected, max_diff,
                                    pipeline_weights, run_and_read, save_authors_checkpoint)


@pytest.fixture(scope="module")
def pipeline_data(tmp_path_factory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("pipeline") / "h36m")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pipeline_ckpt")
    return {name: save_authors_checkpoint(folder / f"{name}.pth.tar", pipeline_weights(name)) for name in CONFIGS}


@pytest.fixture(scope="module")
def eager_run(pipeline_data, checkpoints, tmp_path_factory):
    specs = [f"{variant}={checkpoints[name]}" for name, variant in CONFIGS.items()]
    return run_and_read(pipeline_data, tmp_path_factory.mktemp("out_eager"), specs)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_run_reproduces_authors_flip_test_coordinates(eager_run, name):
    got, _ = eager_run
    tol = VECTORS["configs"][name]["tolerance_heatmap_units"]
    rows = got[CONFIGS[name]]
    assert max_diff(rows, expected(name, "coords_hm_flip_test"), 0) <= tol
    assert max_diff(rows, expected(name, "coords_hm_no_flip"), 1) <= tol


@pytest.mark.parametrize("name", list(CONFIGS))
def test_run_without_flip_reproduces_authors_plain_pass(pipeline_data, checkpoints, tmp_path, name):
    got, results = run_and_read(pipeline_data, tmp_path / "out", [f"{CONFIGS[name]}={checkpoints[name]}"], "--no-flip")
    assert results["settings"]["flip"] is False
    rows = got[CONFIGS[name]]
    want = expected(name, "coords_hm_no_flip")
    tol = VECTORS["configs"][name]["tolerance_heatmap_units"]
    assert max_diff(rows, want, 0) <= tol
    entry = results["models"][CONFIGS[name]]["input"]
    assert entry["pixel_range"] == "0-255" and entry["channel_order"] == "RGB" and entry["assumed"] is False


def test_pixel_range_field_changes_coordinates(pipeline_data, checkpoints, tmp_path):
    """The same file run with the other pixel range must miss: the field is what the path obeys."""
    name = "posenet_r50"
    spec = f"{CONFIGS[name]}={checkpoints[name]}@input_pixel_range=0-1"
    got, results = run_and_read(pipeline_data, tmp_path / "out", [spec], "--no-flip")
    (rows,) = got.values()
    assert next(iter(results["models"].values()))["input"]["pixel_range"] == "0-1"
    assert max_diff(rows, expected(name, "coords_hm_no_flip"), 0) > 1.0  # measured: 13-31 heatmap units


def test_channel_order_field_changes_coordinates(pipeline_data, checkpoints, tmp_path):
    name = "mhp_lpski"
    spec = f"{CONFIGS[name]}={checkpoints[name]}@input_channel_order=BGR"
    got, _ = run_and_read(pipeline_data, tmp_path / "out", [spec], "--no-flip")
    (rows,) = got.values()
    assert max_diff(rows, expected(name, "coords_hm_no_flip"), 0) > 1.0  # measured: 15-30 heatmap units


@pytest.mark.parametrize("wrong, min_miss", [("patch_mirror", 0.3), ("no_swap", 1.0)])
def test_a_wrong_flip_merge_misses_the_flip_test_coordinates(pipeline_data, checkpoints, tmp_path, monkeypatch,
                                                              wrong, min_miss):
    """The flip test's un-mirror and joint swap are pinned by the coordinates, on any CPU.

    ``patch_mirror``: the MSRA mirror in patch pixels (x_px -> 255 - x_px) instead of the 3DMPPE heatmap
    mirror (x -> W - x - 1): measured 0.38-0.45 units off; ``no_swap``: left/right pairs not swapped: 10-20.
    Both far outside the 0.1 tolerance plus another CPU's 2.5e-2.
    """
    from pose3dbench.models import codecs

    real = codecs.flip_merge

    def wrong_merge(coords, flipped, heatmap_w, pairs, mirror="heatmap", input_w=None):
        if wrong == "patch_mirror":
            return real(coords, flipped, heatmap_w, pairs, mirror="patch", input_w=256)
        return real(coords, flipped, heatmap_w, [], mirror=mirror, input_w=input_w)

    monkeypatch.setattr(codecs, "flip_merge", wrong_merge)  # what the codec's flip test calls
    specs = [f"{variant}={checkpoints[name]}" for name, variant in CONFIGS.items()]
    got, _ = run_and_read(pipeline_data, tmp_path / "out", specs)
    for name, variant in CONFIGS.items():
        assert max_diff(got[variant], expected(name, "coords_hm_flip_test"), 0) > min_miss, name
        assert max_diff(got[variant], expected(name, "coords_hm_no_flip"), 1) <= VECTORS["configs"][name][
            "tolerance_heatmap_units"], name  # the plain pass is untouched: only the merge is wrong


# --- layer 1: crops and network input, exact on any CPU ---------------------------------------------------------

def _authors_crops() -> dict[int, np.ndarray]:
    with np.load(PIPELINE_DIR / "crops_authors.npz") as z:
        return {int(i): c for i, c in zip(z["image_ids"], z["crops_rgb_u8"])}


def _store_crops(mode: str, root: Path) -> dict[int, np.ndarray]:
    """The crops a run is served for the six samples: the crop store's batches, as ``PoseInference`` reads them."""
    from pose3dbench.data.crop_store import CropStore

    paths = [str(PIPELINE_DIR / s["file"]) for s in VECTORS["samples"]]
    boxes = np.array([s["bbox_xywh_px"] for s in VECTORS["samples"]], dtype=np.float64)
    sizes = np.array([[s["width"], s["height"]] for s in VECTORS["samples"]])
    store = CropStore(mode, root=root)
    out = {}
    for _ in range(2):  # the second pass is served from the store (memory/disk) or decoded again (off)
        for rows, crops in store.batches(paths, boxes, range(len(paths)), batch_size=4, out_hw=(256, 256),
                                         image_size=sizes):
            for r, c in zip(rows.tolist(), crops.numpy()):
                key = VECTORS["samples"][r]["image_id"]
                assert key not in out or np.array_equal(out[key], c), "a stored crop changed between passes"
                out[key] = c.copy()
    return out


@pytest.mark.parametrize("mode", ["memory", "disk", "off"])
def test_crops_equal_the_authors_byte_for_byte(tmp_path, mode):
    want = _authors_crops()
    got = _store_crops(mode, tmp_path / "crops")
    assert set(got) == set(want)
    for image_id, crop in want.items():
        assert got[image_id].dtype == np.uint8 and got[image_id].shape == crop.shape
        assert np.array_equal(got[image_id], crop), f"image {image_id}: {int((got[image_id] != crop).sum())} bytes"


def _float64_affine_crop(path: Path, box) -> np.ndarray:
    """The crop with its affine solved in float64 from float64 points (not the authors' float32 steps)."""
    import cv2

    b = np.asarray(box, dtype=np.float64)
    c = np.array([b[0] + 0.5 * b[2], b[1] + 0.5 * b[3]])
    src = np.stack([c, c + [0.0, 0.5 * b[3]], c + [0.5 * b[2], 0.0]])
    dst = np.array([[128.0, 128.0], [128.0, 256.0], [256.0, 128.0]])
    affine = np.linalg.solve(np.c_[src, np.ones(3)], dst).T
    img = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    return np.ascontiguousarray(cv2.warpAffine(img, affine, (256, 256), flags=cv2.INTER_LINEAR)[:, :, ::-1])


def test_a_float64_affine_changes_the_crop_bytes():
    """Negative control of layer 1: the affine's precision shows in the crop bytes (2-8 pixels per crop move by
    one grey level, measured), which is what the coordinates cannot show across CPUs."""
    want = _authors_crops()
    changed = [int((_float64_affine_crop(PIPELINE_DIR / s["file"], s["bbox_xywh_px"]) != want[s["image_id"]]).sum())
               for s in VECTORS["samples"]]
    assert all(n > 0 for n in changed), changed


def _authors_network_input(crops: np.ndarray, mean, std) -> np.ndarray:
    """torchvision's ``Normalize`` of the authors' float32 0..255 RGB crop: (p - mean) / std per channel, float32."""
    x = np.transpose(crops, (0, 3, 1, 2)).astype(np.float32)
    m = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    return (x - m) / s


@pytest.mark.parametrize("name", list(CONFIGS))
def test_network_input_is_the_authors_normalisation_bit_for_bit(name):
    from pose3dbench.models import registry
    from pose3dbench.models.input import normalize_crops

    want = _authors_crops()
    crops = np.stack([want[s["image_id"]] for s in VECTORS["samples"]])
    cfg = registry.get_config(CONFIGS[name])
    got = normalize_crops(torch.from_numpy(crops), cfg).numpy()
    ref = _authors_network_input(crops, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert got.dtype == np.float32 and np.array_equal(got, ref)
    # negative controls at this layer: another channel order or pixel range is a different input everywhere
    for override, expected_change in (({"input_channel_order": "BGR"}, 1.0), ({"input_pixel_range": "0-1"}, 100.0)):
        other = normalize_crops(torch.from_numpy(crops), cfg.with_overrides(**override)).numpy()
        assert float(np.abs(other - ref).max()) > expected_change, override


def test_onnxruntime_backend_reproduces_authors_coordinates(pipeline_data, checkpoints, tmp_path):
    pytest.importorskip("onnxruntime")
    specs = [f"{variant}={checkpoints[name]}" for name, variant in CONFIGS.items()]
    got, results = run_and_read(pipeline_data, tmp_path / "out", specs, backend="onnxruntime")
    for name, variant in CONFIGS.items():
        assert results["models"][variant]["backend"] == "onnxruntime"
        tol = VECTORS["configs"][name]["tolerance_heatmap_units"]
        assert max_diff(got[variant], expected(name, "coords_hm_flip_test"), 0) <= tol
        assert max_diff(got[variant], expected(name, "coords_hm_no_flip"), 1) <= tol


def test_pipeline_images_are_the_recorded_files():
    import hashlib

    for s in VECTORS["samples"]:
        assert hashlib.sha256((PIPELINE_DIR / s["file"]).read_bytes()).hexdigest() == s["sha256"]
