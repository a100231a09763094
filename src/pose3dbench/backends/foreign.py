"""FOREIGN ONNX files (exported by someone else) -> a zoo-interface model on onnxruntime.

Accepted graphs: one image input [N, 3, H, W] (N fixed or dynamic; a second [N, 1] input is taken as
RootNet's k_value), and an output that is either
- coordinates [N, J, 3] (x, y, z in heatmap units), or
- volumetric heatmap logits [N, J*D, Hm, Wm] (channel = joint * D + z, as 3DMPPE) or [N, J, D, Hm, Wm],
  decoded with the shared soft-argmax.
J is read from the shapes (for [N, J*D, Hm, Wm]: the joint count in 21/18/17 that divides J*D, preferring
D == Hm); joint sets: 18 (3DMPPE Human3.6M), 17 (Human3.6M) or 21 (MuCo-21, scored on Human3.6M-17
through ``pose3dbench.joints`` MUCO_TO_H36M17: approximate, flagged ``approximate_joint_mapping``).

What shapes cannot tell is taken, later sources winning, from the ``pose3dbench.config`` metadata written
by ``export_onnx``, from a sidecar JSON ``<file>.onnx.json`` and from ``@key=value`` overrides of the
``--model`` spec (any of: joint_num, depth_bins, heatmap_size, input_size, mean, std, input_pixel_range,
input_channel_order, flip_mirror), else from the 3DMPPE defaults, listed in ``info['onnx']['assumed']``
and in the report: input RGB, pixel range 0-255 with ImageNet mean/std (what the authors' own exports
take: ``main/pytorch2onnx.py`` of MobileHumanPose exports the network, whose input is the 3DMPPE
normalised 0-255 crop); for coordinate outputs heatmap = input / 4 and 64 depth bins. A file converted
for another convention (e.g. a public conversion fed ``(p / 255 - mean) / std``) is run with
``--model file.onnx@input_pixel_range=0-1``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import Pose3DBenchError
from ..joints import JOINT_SET_BY_COUNT
from ..models.codecs import codec_for
from ..models.config import IMAGENET_MEAN, IMAGENET_STD, ModelConfig
from ..models.info import ModelInfo
from . import require_onnx, require_onnxruntime
from ..errors import BackendError
from .export import META_CONFIG, META_OUTPUT
from .ort import OnnxLayout, OrtModel

JOINT_CANDIDATES = (21, 18, 17)
_SIDE_FIELDS = ("family", "variant", "joint_num", "depth_bins", "heatmap_size", "input_size", "mean", "std",
                "input_pixel_range", "input_channel_order", "flip_mirror", "depth_range_mm")


def _dims(value_info) -> list[int | str | None]:
    """Shape of a graph input/output: ints for fixed dims, the symbol (str) or None for dynamic ones."""
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return []
    out = []
    for d in t.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            out.append(int(d.dim_value))
        else:
            out.append(d.dim_param or None)
    return out


def detect_layout(out_shape: list, joint_num: int | None = None, depth_bins: int | None = None) -> dict[str, Any]:
    """Output layout from an output shape (batch first; ints or symbols).

    Returns ``{'kind': 'coords'|'heatmaps', 'joint_num', 'depth_bins' (None if unknown),
    'heatmap_size' ((Hm, Wm) or None)}``; BackendError if the shape fits no known layout.
    ``joint_num`` / ``depth_bins`` are hints that settle ambiguous channel counts.
    """
    shape = list(out_shape)
    rank = len(shape)
    if rank == 3 and shape[2] == 3 and isinstance(shape[1], int):
        return {"kind": "coords", "joint_num": shape[1], "depth_bins": depth_bins, "heatmap_size": None}
    if rank == 5 and all(isinstance(v, int) for v in shape[1:]):
        return {"kind": "heatmaps", "joint_num": shape[1], "depth_bins": shape[2], "heatmap_size": tuple(shape[3:])}
    if rank == 4 and all(isinstance(v, int) for v in shape[1:]):
        c, hm, wm = shape[1:]
        if joint_num:
            cands = [int(joint_num)] if c % int(joint_num) == 0 else []
        elif depth_bins:
            cands = [c // int(depth_bins)] if c % int(depth_bins) == 0 else []
        else:
            cands = [j for j in JOINT_CANDIDATES if c % j == 0]
            square = [j for j in cands if c // j in (hm, wm)]
            cands = square or cands
        if len(cands) == 1:
            return {"kind": "heatmaps", "joint_num": cands[0], "depth_bins": c // cands[0], "heatmap_size": (hm, wm)}
        why = "several joint counts fit" if cands else f"no joint count in {JOINT_CANDIDATES} divides it"
        raise BackendError(f"heatmap output with {c} channels: {why}; state joint_num (and depth_bins) in a sidecar "
                           "JSON file <model>.onnx.json, e.g. {\"joint_num\": 21, \"depth_bins\": 64}")
    raise BackendError(f"output shape {shape} is neither coordinates [N, J, 3] nor volumetric heatmaps "
                       "[N, J*D, H, W] / [N, J, D, H, W]")


def _sidecar(path: Path) -> dict[str, Any]:
    side = path.with_name(path.name + ".json")
    if not side.is_file():
        return {}
    try:
        data = json.loads(side.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BackendError(f"{side}: not readable JSON ({exc}); fix or delete it") from None
    if not isinstance(data, dict) or set(data) - set(_SIDE_FIELDS):
        raise BackendError(f"{side}: expected a JSON object with some of {', '.join(_SIDE_FIELDS)}")
    return data


def load_onnx_model(path: str | Path, *, spec: str | None = None, threads: int | None = None,
                    providers=None, name: str | None = None,
                    overrides: dict[str, Any] | None = None) -> tuple[OrtModel, dict[str, Any]]:
    """Load an ONNX pose (or RootNet) model -> (OrtModel, info) for the runner.

    overrides: config fields stated by the user (``--model file.onnx@input_pixel_range=0-1``); they win
    over the file's metadata and sidecar.

    info has the ``resolve_model_spec`` keys (name, spec, weights='checkpoint', checkpoint, sha256,
    family, variant) plus ``onnx``: the detected layout, what was assumed, and whether its joint set is
    scored through an approximate map.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise BackendError(f"ONNX model {path} does not exist; check the path")
    onnx = require_onnx()
    require_onnxruntime()
    try:
        proto = onnx.load(str(path))
    except Exception as exc:
        raise BackendError(f"{path} is not a readable ONNX file ({type(exc).__name__}: {exc}); re-export it") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    hints: dict[str, Any] = {}
    stored: dict[str, Any] = {}
    if META_CONFIG in meta:
        try:
            stored = json.loads(meta[META_CONFIG])
            hints.update({k: stored[k] for k in _SIDE_FIELDS if k in stored})
        except (json.JSONDecodeError, TypeError):
            stored = {}
    hints.update(_sidecar(path))
    unknown = sorted(set(overrides or {}) - set(_SIDE_FIELDS))
    if unknown:
        raise BackendError(f"{path}: unknown override(s) {', '.join(unknown)} for an ONNX model; "
                           f"valid: {', '.join(_SIDE_FIELDS)}")
    hints.update(overrides or {})

    init_names = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in init_names]
    img_in = [i for i in inputs if len(_dims(i)) == 4 and _dims(i)[1] == 3]
    if len(img_in) != 1:
        raise BackendError(f"{path}: expected one image input [N, 3, H, W]; found inputs "
                           f"{[(i.name, _dims(i)) for i in inputs]}")
    img = img_in[0]
    others = [i for i in inputs if i is not img]
    k_name = None
    if others:
        if len(others) == 1 and len(_dims(others[0])) == 2:
            k_name = others[0].name
        else:
            raise BackendError(f"{path}: unexpected extra inputs {[(i.name, _dims(i)) for i in others]}; "
                               "only an image and (RootNet) a k_value [N, 1] are supported")
    in_dims = _dims(img)
    assumed = []
    if isinstance(in_dims[2], int) and isinstance(in_dims[3], int):
        input_size = (in_dims[2], in_dims[3])
    elif "input_size" in hints:
        input_size = tuple(int(v) for v in hints["input_size"])
    else:
        input_size = (256, 256)
        assumed.append("input_size 256x256 (the graph's spatial size is dynamic)")
    fixed_batch = in_dims[0] if isinstance(in_dims[0], int) else None

    family = str(hints.get("family", "onnx"))
    root_output = codec_for(family).output_kind == "root"  # RootNet: [N, 3] = x_hm, y_hm, depth mm
    layout = None
    errors = []
    for out in proto.graph.output:
        shape = _dims(out)
        if root_output and len(shape) == 2 and shape[1] == 3:
            layout = {"kind": "coords", "joint_num": 1, "depth_bins": hints.get("depth_bins", 1),
                      "heatmap_size": None}
        else:
            try:
                layout = detect_layout(shape, hints.get("joint_num"), hints.get("depth_bins"))
            except BackendError as exc:
                errors.append(f"{out.name}: {exc}")
                continue
        out_name = out.name
        break
    if layout is None:
        raise BackendError(f"{path}: no output has a known layout ({'; '.join(errors)})")
    if META_OUTPUT in meta:
        layout["kind"] = meta[META_OUTPUT] if meta[META_OUTPUT] in ("coords", "heatmaps") else layout["kind"]

    joint_num = int(layout["joint_num"])
    if not root_output and joint_num not in JOINT_SET_BY_COUNT:
        raise BackendError(f"{path}: {joint_num} joints; only the 17/18 (Human3.6M) and 21 (MuCo) joint sets "
                           "can be scored on Human3.6M")
    heatmap_size = layout["heatmap_size"] or (tuple(int(v) for v in hints["heatmap_size"])
                                              if "heatmap_size" in hints else None)
    if heatmap_size is None:
        heatmap_size = (input_size[0] // 4, input_size[1] // 4)
        assumed.append(f"heatmap_size {heatmap_size[0]}x{heatmap_size[1]} (input / 4): coordinates are read as "
                       "heatmap units of that grid")
    depth_bins = layout["depth_bins"] or hints.get("depth_bins")
    if depth_bins is None:
        depth_bins = 64
        assumed.append("depth_bins 64 (z in [0, 64) spans 2000 mm around the root, 3DMPPE convention)")
    if "input_pixel_range" not in hints:
        assumed.append("input: RGB, pixel range 0-255, ImageNet mean/std (the 3DMPPE convention of the authors' "
                       "exports); for a file made for (p/255 - mean)/std add @input_pixel_range=0-1")
    variant = str(hints.get("variant") or path.stem)
    try:
        base = ModelConfig(family=family, variant=variant)
        config = base.with_overrides(
            joint_num=joint_num, depth_bins=int(depth_bins), heatmap_size=tuple(int(v) for v in heatmap_size),
            input_size=tuple(input_size), mean=hints.get("mean", IMAGENET_MEAN), std=hints.get("std", IMAGENET_STD),
            **{k: hints[k] for k in ("input_pixel_range", "input_channel_order", "flip_mirror", "depth_range_mm")
               if k in hints},
            arch=dict(stored.get("arch") or {}), published=dict(stored.get("published") or {}),
            description=stored.get("description")
            or f"ONNX model {path.name} ({layout['kind']} output) run with onnxruntime")
    except (TypeError, Pose3DBenchError) as exc:
        raise BackendError(f"{path}: {exc}") from None
    ort_layout = OnnxLayout(kind=layout["kind"], input_name=img.name, output_name=out_name, joint_num=joint_num,
                            depth_bins=int(depth_bins), fixed_batch=fixed_batch, k_input_name=k_name)
    n_params = int(sum(_numel(t.dims) for t in proto.graph.initializer))
    model = OrtModel(path, config, ort_layout, threads=threads, providers=providers, onnx_params=n_params)
    sha = _sha256(path)
    info = ModelInfo(
        name=name or variant, spec=spec or str(path), weights="checkpoint", checkpoint=str(path), sha256=sha,
        family=family, variant=variant,
        onnx={"layout": layout["kind"], "output": out_name, "input": img.name, "fixed_batch": fixed_batch,
              "joint_set": config.joint_set, "approximate_joint_mapping": joint_num == 21,
              "assumed": assumed, "params": n_params})
    return model, info


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
