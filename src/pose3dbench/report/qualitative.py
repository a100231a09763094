"""Qualitative panel: image crops with projected 2D skeletons and root-relative 3D skeletons.

Inputs are camera-space predictions in mm (``pred_cam``, any joint set with a map to the split's), ground truth
``joints_cam`` (mm, the split's joint set) and the pinhole intrinsics in pixels; 2D points are projected with
u = X/Z*fx + cx,
v = Y/Z*fy + cy and drawn in the crop given by the sample's bbox (x, y, w, h pixels).
3D skeletons are pelvis-relative camera mm, plotted with camera Y pointing down the screen.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..data.samples import Samples
from ..joints import get_joint_set, mapping
from .plots import new_figure, save_figure

CROP_SIZE = 256
GT_COLOR = "#111111"


@dataclass
class PanelResult:
    path: Path
    image_ids: list[int]
    models: list[str]
    missing_images: int
    notes: list[str]


def drawn_set(samples: Samples) -> str:
    """The joint set drawn for a split: its ground truth's scored joints."""
    js = get_joint_set(samples.joint_set)
    return js.scored or js.name


def to_joint_set(pred: np.ndarray, target: str) -> np.ndarray:
    """(..., J, 3) predictions of a known joint set (found by J) -> (..., K, 3) in ``target``'s order."""
    idx, _ = mapping(get_joint_set(int(pred.shape[-2])).name, target)
    return pred[..., idx, :]


def project(points_cam: np.ndarray, focal: np.ndarray, princpt: np.ndarray) -> np.ndarray:
    """Camera mm (..., J, 3) -> image pixels (..., J, 2); points with Z <= 1 mm become NaN."""
    z = points_cam[..., 2:3]
    safe = np.where(z > 1.0, z, np.nan)
    return points_cam[..., :2] / safe * focal[..., None, :] + princpt[..., None, :]


def crop_image(path: str, bbox: np.ndarray, size: int = CROP_SIZE) -> tuple[np.ndarray, bool]:
    """RGB crop of the bbox (x, y, w, h pixels) scaled to width ``size``; grey if the image is missing."""
    x, y, w, h = (float(v) for v in bbox)
    out_w = size
    out_h = max(1, int(round(size * h / max(w, 1e-6))))
    img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path and os.path.isfile(path) else None
    if img is None:
        return np.full((out_h, out_w, 3), 200, dtype=np.uint8), False
    sx, sy = out_w / max(w, 1e-6), out_h / max(h, 1e-6)
    mat = np.array([[sx, 0.0, -x * sx], [0.0, sy, -y * sy]], dtype=np.float64)
    crop = cv2.warpAffine(img, mat, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), True


def _to_crop(uv: np.ndarray, bbox: np.ndarray, crop_shape: tuple[int, int]) -> np.ndarray:
    x, y, w, h = bbox
    return np.stack([(uv[:, 0] - x) * crop_shape[1] / w, (uv[:, 1] - y) * crop_shape[0] / h], axis=1)


def _draw2d(ax, pts: np.ndarray, color, lw: float, style: str = "-", *, skeleton) -> None:
    for a, b in skeleton:
        seg = pts[[a, b]]
        if np.all(np.isfinite(seg)):
            ax.plot(seg[:, 0], seg[:, 1], style, color=color, linewidth=lw, solid_capstyle="round")
    ok = np.all(np.isfinite(pts), axis=1)
    ax.scatter(pts[ok, 0], pts[ok, 1], s=5, color=color, zorder=3)


def _draw3d(ax, pts: np.ndarray, color, lw: float, label: str, *, skeleton) -> None:
    # camera (X right, Y down, Z forward) -> plot (X, Z, -Y) so the person stands upright
    p = np.stack([pts[:, 0], pts[:, 2], -pts[:, 1]], axis=1)
    for k, (a, b) in enumerate(skeleton):
        ax.plot(p[[a, b], 0], p[[a, b], 1], p[[a, b], 2], color=color, linewidth=lw,
                label=label if k == 0 else None)


def selection_quantiles(n: int) -> np.ndarray:
    """Quantiles of the error distribution shown: n-1 evenly from 0.1 to 0.9, then the worst (1.0).

    n=4 gives the 10th, 50th and 90th percentile and the maximum; n=1 the median.
    """
    if n <= 1:
        return np.array([0.5])
    return np.concatenate([np.linspace(0.1, 0.9, n - 1) if n > 2 else [0.5], [1.0]])


def choose_samples(errors: np.ndarray, n: int) -> np.ndarray:
    """Rows of ``errors`` (N,) at ``selection_quantiles(n)`` of the error distribution (duplicates dropped)."""
    order = np.argsort(errors, kind="stable")
    picks = np.unique(np.round(selection_quantiles(n) * (len(order) - 1)).astype(int))
    return order[picks]


def _rows_of(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row index in ``ids`` of each id in ``wanted`` (all present)."""
    order = np.argsort(ids, kind="stable")
    return order[np.searchsorted(ids, wanted, sorter=order)]


def qualitative_panel(path: Path, samples: Samples, predictions: dict[str, dict[str, np.ndarray | None]],
                      colors: dict[str, tuple], num_samples: int = 4, max_models: int = 4,
                      footer: str | None = None) -> PanelResult | None:
    """Draw the panel for one split.

    predictions: model -> {"sample_id": (N,), "pred_cam": (N, J, 3) camera mm}. The error shown and used to
    choose the samples is the root-aligned mean joint error against ``samples`` (mm) on the split's scored
    joints. Shows up to ``max_models`` models (lowest mean error first) on up to ``num_samples`` samples that
    every shown model predicted, chosen across the error range. Returns None when no sample is shared.
    """
    notes: list[str] = []
    s_ids = np.asarray(samples.sample_id)
    target = drawn_set(samples)
    gt_js = get_joint_set(target)
    gt_idx, _ = mapping(samples.joint_set, target)
    root = gt_js.root
    errors: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # model -> (image ids, error mm) on ids in samples
    for name, p in predictions.items():
        try:
            mapping(get_joint_set(int(p["pred_cam"].shape[1])).name, target)
        except KeyError:
            notes.append(f"{name}: {p['pred_cam'].shape[1]} joints cannot be drawn on the split's skeleton")
            continue
        ids = np.intersect1d(np.asarray(p["sample_id"]), s_ids)
        if ids.size == 0:
            continue
        rows = _rows_of(np.asarray(p["sample_id"]), ids)
        pred = to_joint_set(np.asarray(p["pred_cam"], dtype=np.float64)[rows], target)
        gt = np.asarray(samples.joints_cam, dtype=np.float64)[_rows_of(s_ids, ids)][:, gt_idx]
        err = np.linalg.norm((pred - pred[:, root:root + 1]) - (gt - gt[:, root:root + 1]), axis=2).mean(axis=1)
        keep = np.isfinite(err)  # rows without ground truth (e.g. detection boxes) are not drawn
        if keep.any():
            errors[name] = (ids[keep], err[keep])
    if not errors:
        return None
    ranked = sorted(errors, key=lambda n: float(np.mean(errors[n][1])))
    if len(ranked) > max_models:
        notes.append(f"showing the {max_models} models with the lowest mean error of {len(ranked)}")
        ranked = ranked[:max_models]
    common = s_ids
    for name in ranked:
        common = np.intersect1d(common, errors[name][0])
    if common.size == 0:
        return None
    rows = {n: _rows_of(np.asarray(predictions[n]["sample_id"]), common) for n in ranked}
    err_common = {n: errors[n][1][_rows_of(errors[n][0], common)] for n in ranked}
    s_rows = _rows_of(s_ids, common)
    mean_err = np.mean([err_common[n] for n in ranked], axis=0)
    chosen = choose_samples(mean_err, num_samples)

    n_models = len(ranked)
    n_cols = 1 + 2 * n_models
    fig = new_figure(2.15 * n_cols, 2.45 * len(chosen) + 0.3)
    grid = fig.add_gridspec(len(chosen), n_cols)
    missing = 0
    for r, c_idx in enumerate(chosen):
        si = s_rows[c_idx]
        bbox = np.asarray(samples.bbox[si], dtype=np.float64)
        focal, princpt = samples.focal[si], samples.princpt[si]
        crop, found = crop_image(samples.image_path[si], bbox)
        missing += not found
        gt = np.asarray(samples.joints_cam[si][gt_idx], dtype=np.float64)
        gt_uv = _to_crop(project(gt[None], focal[None], princpt[None])[0], bbox, crop.shape[:2])
        caption = samples.source.get("caption_group")
        label = f" · {samples.groups[caption][si]}" if caption in samples.groups else ""
        ax = fig.add_subplot(grid[r, 0])
        ax.imshow(crop)
        _draw2d(ax, gt_uv, "#ffffff", 2.6, skeleton=gt_js.skeleton)
        _draw2d(ax, gt_uv, GT_COLOR, 1.4, skeleton=gt_js.skeleton)
        ax.set_title(f"id {int(samples.image_id[si])}{label}" + ("" if found else "\n(image missing)"),
                     fontsize=7.5)
        ax.set_axis_off()
        gt_rel = gt - gt[root]
        span = max(float(np.ptp(gt_rel, axis=0).max()) / 2.0, 300.0) * 1.15
        for m, name in enumerate(ranked):
            pred = to_joint_set(np.asarray(predictions[name]["pred_cam"][rows[name][c_idx]], dtype=np.float64),
                                target)
            err = float(err_common[name][c_idx])
            uv = _to_crop(project(pred[None], focal[None], princpt[None])[0], bbox, crop.shape[:2])
            ax2 = fig.add_subplot(grid[r, 1 + m])
            ax2.imshow(crop)
            _draw2d(ax2, gt_uv, "#ffffff", 1.0, "--", skeleton=gt_js.skeleton)
            _draw2d(ax2, uv, colors.get(name), 1.6, skeleton=gt_js.skeleton)
            ax2.set_xlim(0, crop.shape[1])
            ax2.set_ylim(crop.shape[0], 0)
            ax2.set_title(f"{name} (2D)", fontsize=7.5)
            ax2.set_axis_off()
            ax3 = fig.add_subplot(grid[r, 1 + n_models + m], projection="3d")
            _draw3d(ax3, gt_rel, GT_COLOR, 1.2, "GT", skeleton=gt_js.skeleton)
            _draw3d(ax3, pred - pred[root], colors.get(name), 1.5, name, skeleton=gt_js.skeleton)
            ax3.set_xlim(-span, span)
            ax3.set_ylim(-span, span)
            ax3.set_zlim(-span, span)
            ax3.set_box_aspect((1, 1, 1), zoom=1.25)
            ax3.view_init(elev=12, azim=-65)
            ax3.set_xticklabels([])
            ax3.set_yticklabels([])
            ax3.set_zticklabels([])
            ax3.set_title(f"{name} (3D) {err:.0f} mm", fontsize=7.5)
    if missing:
        notes.append(f"{missing} of {len(chosen)} images were not found on disk and are drawn as grey boxes")
    fig.suptitle("Ground truth (black; white dashed in the model crops) vs each model (colour); "
                 "3D: pelvis-relative camera mm", fontsize=9)
    save_figure(fig, path, footer)
    return PanelResult(Path(path), [int(samples.image_id[s_rows[i]]) for i in chosen], ranked, missing, notes)


__all__ = ["qualitative_panel", "project", "crop_image", "choose_samples", "selection_quantiles", "to_joint_set",
           "PanelResult"]
