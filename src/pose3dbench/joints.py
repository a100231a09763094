"""Joint sets as data: names, left/right flip pairs, skeleton edges and maps to Human3.6M-17.

The 3DMPPE convention (the default, ``h36m18``) is Human3.6M's 17 joints with a Thorax
appended at index 17 (mean of the two shoulders). Scoring always happens on Human3.6M's
first 17 joints; any joint set with a ``to_h36m17`` map can be scored.
"""
from __future__ import annotations

from dataclasses import dataclass

H36M_JOINT_NAMES: tuple[str, ...] = (
    "Pelvis", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Torso",
    "Neck", "Nose", "Head", "L_Shoulder", "L_Elbow", "L_Wrist", "R_Shoulder",
    "R_Elbow", "R_Wrist", "Thorax",
)
H36M_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((1, 4), (2, 5), (3, 6), (14, 11), (15, 12), (16, 13))
H36M_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 7), (7, 8), (8, 9), (9, 10), (8, 11), (11, 12), (12, 13), (8, 14), (14, 15),
    (15, 16), (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6),
)
H36M_ROOT = 0
H36M_THORAX = 17
H36M_L_SHOULDER = 11
H36M_R_SHOULDER = 14

MUCO_JOINT_NAMES: tuple[str, ...] = (
    "Head_top", "Thorax", "R_Shoulder", "R_Elbow", "R_Wrist", "L_Shoulder", "L_Elbow",
    "L_Wrist", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Pelvis",
    "Spine", "Head", "R_Hand", "L_Hand", "R_Toe", "L_Toe",
)
MUCO_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (17, 18), (19, 20),
)
MUCO_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 16), (16, 1), (1, 15), (15, 14), (14, 8), (14, 11), (8, 9), (9, 10), (10, 19),
    (11, 12), (12, 13), (13, 20), (1, 2), (2, 3), (3, 4), (4, 17), (1, 5), (5, 6), (6, 7), (7, 18),
)
# For each Human3.6M-17 joint, the MuCo-21 joint used in its place. APPROXIMATE: MuCo has no
# nose (its "Head" stands in), "Spine" stands in for Torso, Thorax for Neck, Head_top for Head.
MUCO_TO_H36M17: tuple[int, ...] = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)


@dataclass(frozen=True)
class JointSet:
    """A named joint set.

    ``to_h36m17[i]`` is the index in this set of Human3.6M joint ``i`` (0..16).
    ``approximate`` says whether that map substitutes joints with different definitions.
    """

    name: str
    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]
    root: int
    to_h36m17: tuple[int, ...]
    approximate: bool = False
    #: the joint set of the joints that are scored and drawn (h36m18: its appended Thorax is a fitting aid only)
    scored: str | None = None
    #: other joint sets this one can be scored in: target name -> (index in this set of each target joint,
    #: whether the map substitutes joints with other definitions)
    maps: tuple[tuple[str, tuple[int, ...], bool], ...] = ()

    @property
    def num_joints(self) -> int:
        return len(self.names)


# MuPoTS-3D's 17 joints are MuCo-3DHP's first 17, in the same order (the 3DMPPE evaluate keeps joints 0..16).
MUPOTS_JOINT_NAMES = MUCO_JOINT_NAMES[:17]
MUPOTS_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13))
MUPOTS_SKELETON = tuple((a, b) for a, b in MUCO_SKELETON if a < 17 and b < 17)
# For each MuPoTS-3D joint, the Human3.6M-18 joint used in its place. APPROXIMATE: Head stands in for Head_top,
# Neck for Thorax, Torso for Spine, Nose for Head (the inverse of MUCO_TO_H36M17).
H36M18_TO_MUPOTS: tuple[int, ...] = (10, 8, 14, 15, 16, 11, 12, 13, 1, 2, 3, 4, 5, 6, 0, 7, 9)

JOINT_SETS: dict[str, JointSet] = {
    "h36m18": JointSet("h36m18", H36M_JOINT_NAMES, H36M_FLIP_PAIRS, H36M_SKELETON, 0, tuple(range(17)),
                       scored="h36m17", maps=(("mupots17", H36M18_TO_MUPOTS, True),)),
    "h36m17": JointSet("h36m17", H36M_JOINT_NAMES[:17], H36M_FLIP_PAIRS, H36M_SKELETON, 0, tuple(range(17)),
                       maps=(("mupots17", H36M18_TO_MUPOTS, True),)),
    "mupots17": JointSet("mupots17", MUPOTS_JOINT_NAMES, MUPOTS_FLIP_PAIRS, MUPOTS_SKELETON, 14, MUCO_TO_H36M17,
                         approximate=True),
    "muco21": JointSet("muco21", MUCO_JOINT_NAMES, MUCO_FLIP_PAIRS, MUCO_SKELETON, 14, MUCO_TO_H36M17,
                       approximate=True),
}
JOINT_SET_BY_COUNT: dict[int, str] = {18: "h36m18", 17: "h36m17", 21: "muco21"}


def mapping(source: str, target: str) -> tuple[list[int], bool]:
    """(index in ``source`` of each joint of ``target``, whether approximate): how poses of one joint set are
    compared with ground truth in another. KeyError when no map is known."""
    src, dst = get_joint_set(source), get_joint_set(target)
    if src.names[: dst.num_joints] == dst.names:  # the same joints first (h36m18 -> h36m17, muco21 -> mupots17)
        return list(range(dst.num_joints)), False
    for name, idx, approximate in src.maps:
        if name == dst.name:
            return list(idx), approximate
    if dst.names == H36M_JOINT_NAMES[: dst.num_joints]:
        return list(src.to_h36m17)[: dst.num_joints], src.approximate
    raise KeyError(f"no joint map from {src.name} to {dst.name}")


def get_joint_set(name_or_count: str | int) -> JointSet:
    """Look up a joint set by name (``h36m18``) or joint count (18, 17, 21)."""
    if isinstance(name_or_count, int):
        if name_or_count not in JOINT_SET_BY_COUNT:
            raise KeyError(f"no known joint set has {name_or_count} joints (known: 17, 18, 21)")
        name_or_count = JOINT_SET_BY_COUNT[name_or_count]
    try:
        return JOINT_SETS[name_or_count]
    except KeyError:
        raise KeyError(f"unknown joint set {name_or_count!r}; known: {sorted(JOINT_SETS)}") from None
