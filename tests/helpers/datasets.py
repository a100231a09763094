"""Dataset folders built for a test: the real Human3.6M S11 record in the 3DMPPE layout."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .paths import P1_FILE, S11_ANNOTATIONS


def make_real_s11(root: Path, ann_dir: str = "annotations", bbox_root=P1_FILE) -> Path:
    """The real S11 record as Human36M_subject11_* files (subject field 11) in ``root/ann_dir``, with ``bbox_root``
    (default: RootNet's real Protocol-1 file) as ``root/bbox_root/bbox_root_human36m_output.json`` unless None."""
    ann = root / ann_dir
    ann.mkdir(parents=True)
    data = json.loads((S11_ANNOTATIONS / "Dummy_subject1_data.json").read_text())
    for im in data["images"]:
        im["subject"] = 11
    (ann / "Human36M_subject11_data.json").write_text(json.dumps(data))
    shutil.copy(S11_ANNOTATIONS / "Dummy_subject1_camera.json", ann / "Human36M_subject11_camera.json")
    shutil.copy(S11_ANNOTATIONS / "Dummy_subject1_joint_3d.json", ann / "Human36M_subject11_joint_3d.json")
    if bbox_root is not None:
        (root / "bbox_root").mkdir()
        shutil.copy(bbox_root, root / "bbox_root" / "bbox_root_human36m_output.json")
    return root
