"""The column-wise description of one Human3.6M evaluation split.

Everything downstream (crop loader, back-projection, metrics, report) consumes this object.
Frames: ``joints_cam`` and ``root_cam`` are camera coordinates in millimetres
(X right, Y down, Z forward); ``bbox`` and ``focal``/``princpt`` are in image pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class H36MSamples:
    """One split (protocol x root source), in the authors' order (annotation order, subjects ascending).

    protocol: 1 (S11, PA-MPJPE) or 2 (S9+S11, MPJPE).
    root_source: ``gt`` (processed GT box, GT pelvis) or ``rootnet`` (box and root from the bbox_root file).
    image_id: (N,) int64. image_path: N absolute paths (may not exist for annotation-only data).
    image_size: (N, 2) int, declared (width, height) from the annotation.
    subject, action_idx (2..16), subaction_idx, cam_idx, frame_idx: (N,) int.
    bbox: (N, 4) float64 x, y, w, h pixels: the box that is cropped and used to back-project.
    root_cam: (N, 3) float64 mm: the root used to back-project depth (GT pelvis or RootNet).
    joints_cam: (N, 18, 3) float64 mm: ground truth, Thorax appended at 17.
    focal, princpt: (N, 2) float64 pixels.
    skipped: reason -> count of samples left out as the protocol prescribes (degenerate GT boxes).
    source: files the split came from (for reports and error messages).
    """

    protocol: int
    root_source: str
    image_id: np.ndarray
    image_path: list[str]
    image_size: np.ndarray
    subject: np.ndarray
    action_idx: np.ndarray
    subaction_idx: np.ndarray
    cam_idx: np.ndarray
    frame_idx: np.ndarray
    bbox: np.ndarray
    root_cam: np.ndarray
    joints_cam: np.ndarray
    focal: np.ndarray
    princpt: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.image_id.shape[0])

    def subset(self, index) -> "H36MSamples":
        """Rows ``index`` (slice, int array or bool mask) as a new object."""
        idx = np.arange(len(self))[index]
        take = lambda a: a[idx]  # noqa: E731
        return H36MSamples(
            protocol=self.protocol, root_source=self.root_source, image_id=take(self.image_id),
            image_path=[self.image_path[i] for i in idx], image_size=take(self.image_size),
            subject=take(self.subject), action_idx=take(self.action_idx),
            subaction_idx=take(self.subaction_idx), cam_idx=take(self.cam_idx),
            frame_idx=take(self.frame_idx), bbox=take(self.bbox), root_cam=take(self.root_cam),
            joints_cam=take(self.joints_cam), focal=take(self.focal), princpt=take(self.princpt),
            skipped=dict(self.skipped), source=dict(self.source),
        )
