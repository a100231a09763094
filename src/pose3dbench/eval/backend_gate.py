"""``--backend auto``'s fidelity gate: onnxruntime only with margin under the stated bound, checked twice.

The bound (``AUTO_PARITY_HM``, heatmap units; RootNet: x, y in heatmap units and depth within
``ROOT_DEPTH_REL`` relative) is what results.json and the report claim for every coordinate an auto run saves
from onnxruntime. Two measurements back it, both against eager float32 on the run's own crops:

1. the first batch (``batch_size`` crops of the first split, with their mirrored copies when the flip test is on:
   the run's own [2B] call) must leave a margin: at most ``AUTO_GATE_FRACTION`` of the bound, because the
   deviation of a whole run is larger than that of one batch (measured up to 2.4x on a 451-image set);
2. a second sample, ``AUTO_SECOND_SAMPLE`` crops drawn with a fixed seed from every split the model reads (not the
   first batch), must stay within the bound on what is saved: the flip-merged and the plain coordinates.

Both outputs of the second sample are kept (``SampleResult.coords``): the run re-uses the chosen backend's rows
instead of computing them again, so the check costs the eager side only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..models.codecs import codec_for
from ..models.input import normalize_crops

#: the bound results.json states for onnxruntime's coordinates: max |onnxruntime - eager|, heatmap units
AUTO_PARITY_HM = 1e-3
#: the first batch must stay within this fraction of the bound (margin for the rest of the run)
AUTO_GATE_FRACTION = 0.25
#: crops of the second sample (spread over every split the model reads, fixed seed)
AUTO_SECOND_SAMPLE = 16
#: seed of the second sample
AUTO_SAMPLE_SEED = 0
#: RootNet's depth (mm) must agree within this relative difference
ROOT_DEPTH_REL = 1e-5


@dataclass
class SampleResult:
    """Outputs of one model on some crops: ``raw`` (pose: [2n or n, J, 3] plain then mirrored pass; root: [n, 3]),
    ``coords`` / ``noflip`` (pose, [n, J, 3] heatmap units, as PoseInference saves them), ``keys`` the crop keys."""

    raw: torch.Tensor
    coords: np.ndarray | None = None
    noflip: np.ndarray | None = None
    keys: list = field(default_factory=list)


def sample_outputs(model, split, rows, input_hw, store, opts, device) -> SampleResult:
    """``model`` on the crops of ``rows`` of ``split`` (a checked Samples), as the run computes them."""
    from .inference import crop_keys

    codec = codec_for(model)
    rows = np.asarray(rows, dtype=np.int64)
    raws, coords, noflip = [], [], []
    with torch.inference_mode():
        for b_rows, patches in store.batches(split.image_path, split.bbox, rows, batch_size=opts.batch_size,
                                             out_hw=input_hw, image_size=split.image_size):
            x = normalize_crops(patches, model.config, device, channels_last=opts.channels_last)
            r = b_rows.numpy()
            if codec.output_kind == "root":
                raws.append(model(*codec.forward_inputs(x, split.focal[r], split.bbox[r])).float().cpu())
                continue
            if opts.flip:
                both = model(torch.cat([x, torch.flip(x, dims=[3])], dim=0)).float().cpu()
                c, cf = both[: len(r)], both[len(r):]
                raws.append(both)
                coords.append(codec.merge_flip(c, cf).numpy())
            else:
                c = model(x).float().cpu()
                raws.append(c)
                coords.append(c.numpy())
            noflip.append(c.numpy())
    res = SampleResult(torch.cat(raws), keys=crop_keys(split, rows))
    if coords:
        res.coords, res.noflip = np.concatenate(coords), np.concatenate(noflip)
    return res


def parity(output_kind: str, ref: SampleResult, got: SampleResult) -> tuple[float, bool]:
    """(max |got - ref| in heatmap units, within the bound?) of two backends' outputs on the same crops.

    Pose: over every raw output (both passes) and the saved coordinates; root: x, y in heatmap units and the
    depth within ``ROOT_DEPTH_REL`` relative."""
    a, b = ref.raw.double(), got.raw.double()
    if output_kind == "root":
        diff = float((a[:, :2] - b[:, :2]).abs().max()) if len(a) else 0.0
        depth_ok = bool(((a[:, 2] - b[:, 2]).abs() <= ROOT_DEPTH_REL * a[:, 2].abs()).all())
        return diff, depth_ok
    diff = float((a - b).abs().max()) if len(a) else 0.0
    if ref.coords is not None and len(ref.coords):
        diff = max(diff, float(np.abs(ref.coords.astype(np.float64) - got.coords).max()),
                   float(np.abs(ref.noflip.astype(np.float64) - got.noflip).max()))
    return diff, True


def second_sample(boxes, sizes, first_key, first_rows, n: int = AUTO_SECOND_SAMPLE,
                  seed: int = AUTO_SAMPLE_SEED) -> dict:
    """{(dataset, split, box): sorted rows}: ``n`` crops spread over every split of ``boxes`` (in turn, so each
    split gets its share), drawn with ``seed``, none of them from the first batch."""
    rng = np.random.default_rng(seed)
    pools = {}
    for key in boxes:
        rows = np.arange(sizes(*key))
        if key == first_key:
            rows = np.setdiff1d(rows, first_rows)
        pools[key] = rng.permutation(rows)
    out: dict[tuple, list[int]] = {k: [] for k in boxes}
    taken, i = 0, 0
    while taken < n and any(len(out[k]) < len(pools[k]) for k in boxes):
        for key in boxes:
            if taken < n and i < len(pools[key]):
                out[key].append(int(pools[key][i]))
                taken += 1
        i += 1
    return {k: sorted(v) for k, v in out.items() if v}


def rows_text(rows: dict) -> dict:
    """The sample's rows as results.json records them: ``{"dataset split box": [row, ...]}``."""
    return {" ".join(k): list(map(int, v)) for k, v in rows.items()}
