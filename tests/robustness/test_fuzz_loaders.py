"""Fuzz pass over the loaders of user files: data, camera, joint_3d and bbox_root json, the authors'
result json and the tool's own predictions .npz. Any input ends in success or in the tool's own error type
(``Pose3DBenchError``: one clear message naming the file), never in another exception.

Inputs are small valid documents with one to three random edits (a value replaced by any JSON value, a key or
item deleted, an item duplicated), plain random JSON, and for .npz files random arrays and corrupted bytes.
The inputs that found bugs are kept as explicit ``@example`` cases. Examples per test are capped so that the
pass stays a few seconds in CI; raise ``POSE3DBENCH_FUZZ_EXAMPLES`` to search longer.
"""
from __future__ import annotations

import copy
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pose3dbench.errors import Pose3DBenchError

EXAMPLES = int(os.environ.get("POSE3DBENCH_FUZZ_EXAMPLES", "200"))
# a RuntimeWarning (overflow, invalid cast) inside a loader is a number gone wrong: it fails the test too
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")
# CI explores the same examples every time (no flaky failures); POSE3DBENCH_FUZZ_EXAMPLES=N searches randomly
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                database=None, derandomize="POSE3DBENCH_FUZZ_EXAMPLES" not in os.environ)

SEQ = "s_11_act_02_subact_01_ca_01"
POSE = [[float(10 * j), float(-5 * j), 4000.0 + j] for j in range(17)]
CAMERA = {"1": {"R": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "t": [0.0, 0.0, 0.0],
                "f": [1145.0, 1144.0], "c": [512.0, 515.0]}}
DATA = {
    "images": [{"id": 7, "file_name": f"{SEQ}/{SEQ}_000001.jpg", "width": 1000, "height": 1002, "subject": 11,
                "action_name": "Directions", "action_idx": 2, "subaction_idx": 1, "cam_idx": 1, "frame_idx": 0},
               {"id": 8, "file_name": f"{SEQ}/{SEQ}_000065.jpg", "width": 1000, "height": 1002, "subject": 11,
                "action_name": "Directions", "action_idx": 2, "subaction_idx": 1, "cam_idx": 1, "frame_idx": 64}],
    "annotations": [{"id": 7, "image_id": 7, "bbox": [300.0, 200.0, 250.0, 500.0], "keypoints_vis": [True] * 17},
                    {"id": 8, "image_id": 8, "bbox": [310.0, 190.0, 240.0, 510.0], "keypoints_vis": [True] * 17}],
}
JOINTS = {"2": {"1": {"0": POSE, "64": POSE}}}
BBOX_ROOT = [{"image_id": 7, "bbox": [250.0, 150.0, 400.0, 400.0], "root_cam": [10.0, -20.0, 4100.0]},
             {"image_id": 8, "bbox": [260.0, 140.0, 400.0, 400.0], "root_cam": [12.0, -18.0, 4090.0]}]
AUTHORS = [{"image_id": 7, "joint_cam": POSE, "bbox": [250.0, 150.0, 400.0, 400.0], "root_cam": [1.0, 2.0, 4000.0]},
           {"image_id": 8, "joint_cam": POSE, "bbox": [260.0, 140.0, 400.0, 400.0], "root_cam": [1.0, 2.0, 4000.0]}]

# -------------------------------------------------------------------------------------------- strategies
_numbers = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([0, -1, 1, 2**63, -2**63 - 1, 10**400, 1e308, -0.0, 0.5]))
_scalars = st.one_of(st.none(), st.booleans(), _numbers, st.text(max_size=6),
                     st.sampled_from(["", "7", "1.5", "NaN", "s_11_act_02_subact_01_ca_01"]))
json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=12)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@st.composite
def edited(draw, base):
    """``base`` with one to three random edits."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(doc))))
        action = draw(st.sampled_from(["replace", "replace", "delete", "duplicate"]))
        if not path:
            if action == "replace":
                doc = draw(json_values)
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key + "_"] = copy.deepcopy(parent[key])
    return doc


def documents(base):
    return st.one_of(edited(base), edited(base), json_values)


def _dumps(doc) -> str:
    return json.dumps(doc)  # NaN/Infinity literals, as numpy-based tools write them (json.load accepts them)


def ends_cleanly(call):
    """``call()`` returns, or raises the tool's own error type (whose message is not empty)."""
    try:
        call()
    except Pose3DBenchError as exc:
        assert str(exc).strip()


def dataset(tmp: Path, data=DATA, camera=CAMERA, joints=JOINTS, bbox_root=BBOX_ROOT) -> Path:
    ann = tmp / "annotations"
    ann.mkdir(parents=True)
    (ann / "Human36M_subject11_data.json").write_text(data if isinstance(data, str) else _dumps(data))
    (ann / "Human36M_subject11_camera.json").write_text(_dumps(camera))
    (ann / "Human36M_subject11_joint_3d.json").write_text(_dumps(joints))
    (tmp / "bbox_root").mkdir()
    (tmp / "bbox_root" / "bbox_root_human36m_output.json").write_text(_dumps(bbox_root))
    return tmp


def load_both_splits(root: Path) -> None:
    from pose3dbench.data.h36m import load_split

    ends_cleanly(lambda: load_split(root, 1, "gt"))
    ends_cleanly(lambda: load_split(root, 1, "rootnet"))


def _with(base, path, value):
    """A copy of ``base`` with the value at ``path`` (a tuple of keys) replaced."""
    doc = copy.deepcopy(base)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


HUGE = 10**400  # a JSON integer beyond every machine type

# ------------------------------------------------------------------------------------------------ tests
def test_the_valid_documents_load():
    """The fuzz starts from documents that load (so edits reach the checks past the first one)."""
    from pose3dbench.data.h36m import load_split
    from pose3dbench.results.predictions import load_predictions

    with tempfile.TemporaryDirectory() as tmp:
        root = dataset(Path(tmp))
        assert len(load_split(root, 1, "gt")) == 2 and len(load_split(root, 1, "rootnet")) == 2
        (Path(tmp) / "authors.json").write_text(_dumps(AUTHORS))
        assert len(load_predictions(Path(tmp) / "authors.json")) == 2


@FUZZ
@given(documents(CAMERA))
@example(_with(CAMERA, ("1", "t"), [HUGE, 0, 0]))  # OverflowError from numpy
@example({**CAMERA, "10000000000000": CAMERA["1"]})  # a 80 TB camera lookup table: MemoryError
@example(_with(CAMERA, ("1", "R", 0), [1e200, 0.0, 0.0]))  # found by the fuzz: overflow in R @ R.T (a warning)
def test_camera_file(doc):
    from pose3dbench.data.h36m import read_cameras

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Human36M_subject11_camera.json"
        path.write_text(_dumps(doc))
        ends_cleanly(lambda: read_cameras(path))
    with tempfile.TemporaryDirectory() as tmp:
        load_both_splits(dataset(Path(tmp), camera=doc))


@FUZZ
@given(documents(DATA))
@example(_with(DATA, ("images", 0, "file_name"), None))  # found by the fuzz: AttributeError (rpartition)
@example(_with(DATA, ("images", 1, "frame_idx"), HUGE))  # OverflowError
@example(_with(DATA, ("images", 0, "width"), 10**30))  # OverflowError
@example(_with(DATA, ("images", 1, "frame_idx"), 1e300))  # found by the fuzz: an int64 cast of garbage
def test_data_file(doc):
    with tempfile.TemporaryDirectory() as tmp:
        load_both_splits(dataset(Path(tmp), data=doc))


@FUZZ
@given(documents(JOINTS))
@example(_with(JOINTS, ("2", "1", "0", 3), [1.0, HUGE, 2.0]))  # OverflowError
def test_joint_file(doc):
    with tempfile.TemporaryDirectory() as tmp:
        load_both_splits(dataset(Path(tmp), joints=doc))


@FUZZ
@given(documents(BBOX_ROOT))
@example(_with(BBOX_ROOT, (0, "image_id"), HUGE))  # OverflowError (bbox_root loader and predictions loader)
def test_bbox_root_file(doc):
    from pose3dbench.data.h36m import load_bbox_root
    from pose3dbench.results.predictions import load_predictions

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bbox_root_human36m_output.json"
        path.write_text(_dumps(doc))
        ends_cleanly(lambda: load_bbox_root(path))
        ends_cleanly(lambda: load_predictions(path))  # a RootNet file passed to `evaluate`
    with tempfile.TemporaryDirectory() as tmp:
        load_both_splits(dataset(Path(tmp), bbox_root=doc))


@FUZZ
@given(documents(AUTHORS))
@example(_with(AUTHORS, (1, "joint_cam", 0), [HUGE, 0.0, 0.0]))  # OverflowError
def test_authors_result_json(doc):
    from pose3dbench.results.predictions import load_predictions, match_to_samples

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bbox_root_pose_human36m_output.json"
        path.write_text(_dumps(doc))

        def load_and_match():
            preds = load_predictions(path)
            match_to_samples(preds, np.array([7, 8]))

        ends_cleanly(load_and_match)


# ----------------------------------------------------------------------------------------- npz predictions
_META = {"heatmap_size": [32, 32], "depth_bins": 8, "joint_set": "h36m17", "dataset": "h36m", "split": "p2",
         "root": "gt", "model": "m"}
#: the meta of a Human3.6M file of an earlier version (the protocol instead of dataset and split), still read
_OLD_META = {**{k: v for k, v in _META.items() if k not in ("dataset", "split")}, "protocol": 2}


def _valid_npz() -> dict:
    n, j = 2, 17
    return {"image_id": np.array([7, 8]), "coords_hm": np.zeros((n, j, 3)), "bbox": np.ones((n, 4)),
            "root_cam": np.ones((n, 3)), "pred_cam": np.ones((n, j, 3)), "meta": np.array([json.dumps(_META)])}


_dtypes = st.one_of(hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.floating_dtypes(),
                    hnp.complex_number_dtypes(), hnp.boolean_dtypes(), hnp.unicode_string_dtypes(max_len=4),
                    hnp.byte_string_dtypes(max_len=4))
_arrays = hnp.arrays(_dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
_meta_texts = st.one_of(st.builds(json.dumps, json_values), st.builds(json.dumps, edited(_META)),
                        st.builds(json.dumps, edited(_OLD_META)), st.text(max_size=8))


@st.composite
def npz_contents(draw):
    arrays = _valid_npz()
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(arrays) + ["coords_hm_noflip", "per_sample", "per_sample_mm",
                                                      "per_sample_scaled_mm", "sample_id", "pred_img", "root_hm",
                                                      "extra"]))
        action = draw(st.sampled_from(["array", "array", "meta", "delete"]))
        if action == "delete":
            arrays.pop(name, None)
        elif action == "meta" or name == "meta":
            arrays["meta"] = draw(st.one_of(st.builds(lambda t: np.array([t]), _meta_texts), _arrays))
        else:
            arrays[name] = draw(_arrays)
    return arrays


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


@FUZZ
@given(npz_contents())
@example({**_valid_npz(), "meta": np.array([json.dumps({**_META, "kind": ["pose"]})])})  # TypeError: unhashable
@example({**_valid_npz(), "meta": np.array([json.dumps(_OLD_META)])})  # a file of an earlier version
def test_predictions_npz(arrays):
    from pose3dbench.results.predictions import load_predictions

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m__h36m__p2__gt.npz"
        path.write_bytes(_npz_bytes(arrays))
        ends_cleanly(lambda: load_predictions(path))


@FUZZ
@given(st.data())
def test_predictions_npz_corrupted_bytes(data):
    from pose3dbench.results.predictions import load_predictions

    raw = bytearray(_npz_bytes(_valid_npz()))
    how = data.draw(st.sampled_from(["truncate", "flip", "both"]))
    if how in ("flip", "both"):
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
    if how in ("truncate", "both"):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m__h36m__p2__gt.npz"
        path.write_bytes(bytes(raw))
        ends_cleanly(lambda: load_predictions(path))


def _member_offsets(raw: bytes, member: str) -> tuple[int, int, int]:
    """(local header offset, central directory entry offset, data offset) of ``member`` in a zip."""
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        info = zf.getinfo(member)
    local = info.header_offset
    name_len = int.from_bytes(raw[local + 26:local + 28], "little")
    extra_len = int.from_bytes(raw[local + 28:local + 30], "little")
    central = raw.find(b"PK\x01\x02")  # central directory entries: name length at +28, name at +46
    while raw[central + 46:central + 46 + int.from_bytes(raw[central + 28:central + 30], "little")] != member.encode():
        central = raw.find(b"PK\x01\x02", central + 4)
        assert central >= 0, member
    return local, central, local + 30 + name_len + extra_len


def _assert_refused(raw: bytes) -> None:
    from pose3dbench.results.predictions import load_predictions

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m__h36m__p2__gt.npz"
        path.write_bytes(raw)
        try:
            load_predictions(path)
        except Pose3DBenchError as exc:
            assert str(path) in str(exc) and "regenerate" in str(exc)
        else:
            raise AssertionError("a corrupt .npz loaded")


def test_predictions_npz_with_a_corrupt_deflate_stream():
    """Found by the fuzz (test_predictions_npz_corrupted_bytes): zlib.error escaped the .npz reader."""
    raw = bytearray(_npz_bytes(_valid_npz()))
    _, _, data = _member_offsets(bytes(raw), "pred_cam.npy")
    raw[data] = 0xFF  # deflate block type 3 (reserved): "invalid block type"
    _assert_refused(bytes(raw))


def test_predictions_npz_with_a_member_flagged_encrypted():
    """Found by the fuzz (test_predictions_npz_corrupted_bytes): a flipped flag bit made zipfile raise
    RuntimeError ('File is encrypted, password required')."""
    raw = bytearray(_npz_bytes(_valid_npz()))
    local, central, _ = _member_offsets(bytes(raw), "coords_hm.npy")
    raw[local + 6] |= 1  # general purpose bit 0: encrypted
    raw[central + 8] |= 1
    _assert_refused(bytes(raw))
