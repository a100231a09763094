"""The vocabulary of the Human3.6M benchmark: protocols (splits ``p1``, ``p2``), subjects, actions, metrics.

- Protocol 1 (split ``p1``): test subject S11, PA-MPJPE (rigid alignment: rotation + translation, no scale);
  Protocol 2 (split ``p2``): S9 + S11, MPJPE. Test frames are every 64th frame (3DMPPE), errors in
  millimetres in camera space.
- Actions: index 2..16 as in the image file names (``act_XX``) -> the authors' names, and the papers'
  column headings.
"""
from __future__ import annotations

PROTOCOLS: tuple[int, ...] = (1, 2)
SPLITS: tuple[str, ...] = ("p1", "p2")
TEST_SUBJECTS: dict[int, tuple[int, ...]] = {1: (11,), 2: (9, 11)}
TRAIN_SUBJECTS: dict[int, tuple[int, ...]] = {1: (1, 5, 6, 7, 8, 9), 2: (1, 5, 6, 7, 8)}
#: the metric each protocol reports
PROTOCOL_METRIC: dict[int, str] = {1: "PA-MPJPE", 2: "MPJPE"}
METRICS: tuple[str, ...] = ("MPJPE", "PA-MPJPE")
#: how the protocols are named in messages
PROTOCOL_TEXT = "1 (S11, PA-MPJPE) and 2 (S9+S11, MPJPE)"

# Action index (2..16, as in the image file names ``act_XX``) -> the authors' action names.
ACTIONS: dict[int, str] = {
    2: "Directions", 3: "Discussion", 4: "Eating", 5: "Greeting", 6: "Phoning",
    7: "Posing", 8: "Purchases", 9: "Sitting", 10: "SittingDown", 11: "Smoking",
    12: "Photo", 13: "Waiting", 14: "Walking", 15: "WalkDog", 16: "WalkTogether",
}
#: the papers' column headings for the 15 actions (3DMPPE, ConvNeXtPose, MobileHumanPose tables)
ACTION_SHORT = {"Directions": "Dir.", "Discussion": "Disc.", "Eating": "Eat", "Greeting": "Greet",
                "Phoning": "Phone", "Posing": "Pose", "Purchases": "Purch.", "Sitting": "Sit",
                "SittingDown": "SitD.", "Smoking": "Smoke", "Photo": "Photo", "Waiting": "Wait",
                "Walking": "Walk", "WalkDog": "WalkD.", "WalkTogether": "WalkT."}


def is_protocol(value) -> bool:
    """True for 1 or 2 (ints, not bools)."""
    return isinstance(value, int) and not isinstance(value, bool) and value in PROTOCOLS


def split_of(protocol: int) -> str:
    """``1`` -> ``p1``."""
    return f"p{int(protocol)}"


def protocol_of(split: str) -> int:
    """``p1`` -> 1 (KeyError for another name)."""
    return {s: p for p, s in zip(PROTOCOLS, SPLITS)}[split]


def subjects_text(protocol: int) -> str:
    """``"S11"`` / ``"S9, S11"``."""
    return ", ".join(f"S{s}" for s in TEST_SUBJECTS[protocol])
