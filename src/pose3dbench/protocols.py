"""The vocabulary of the Human3.6M benchmark: protocols, their subjects and metrics, root and box sources.

One definition each; every layer (data, results, eval, report, CLI) reads them from here.

- Protocol 1: test subject S11, PA-MPJPE (after Procrustes alignment); Protocol 2: S9 + S11, MPJPE.
  Test frames are every 64th frame (3DMPPE), errors in millimetres in camera space.
- Root sources (where the absolute root depth of a prediction comes from): ``gt`` (the annotated pelvis),
  ``rootnet`` (RootNet's released output file, bbox_root), ``rootnet-model`` (a RootNet model run in this
  process on the file's boxes).
- Box sources (where the person box of a crop comes from): ``gt`` (the annotation's box, processed as
  3DMPPE does) or ``rootnet`` (the bbox_root file's box). ``box_source(root)`` maps one to the other.
"""
from __future__ import annotations

PROTOCOLS: tuple[int, ...] = (1, 2)
TEST_SUBJECTS: dict[int, tuple[int, ...]] = {1: (11,), 2: (9, 11)}
TRAIN_SUBJECTS: dict[int, tuple[int, ...]] = {1: (1, 5, 6, 7, 8, 9), 2: (1, 5, 6, 7, 8)}
#: the metric each protocol reports
PROTOCOL_METRIC: dict[int, str] = {1: "PA-MPJPE", 2: "MPJPE"}
METRICS: tuple[str, ...] = ("MPJPE", "PA-MPJPE")
ROOT_SOURCES: tuple[str, ...] = ("gt", "rootnet", "rootnet-model")
BOX_SOURCES: tuple[str, ...] = ("gt", "rootnet")
#: how a protocol is named in messages
PROTOCOL_TEXT = "1 (S11, PA-MPJPE) and 2 (S9+S11, MPJPE)"


def is_protocol(value) -> bool:
    """True for 1 or 2 (ints, not bools)."""
    return isinstance(value, int) and not isinstance(value, bool) and value in PROTOCOLS


def box_source(root: str) -> str:
    """Box source of a root source: ``gt`` for ``gt``, ``rootnet`` for ``rootnet`` and ``rootnet-model``."""
    if root not in ROOT_SOURCES:
        raise ValueError(f"unknown root source {root!r}; choose from {', '.join(ROOT_SOURCES)}")
    return "gt" if root == "gt" else "rootnet"


def box_sources(roots) -> list[str]:
    """The box sources a list of root sources needs, in first-use order (``rootnet-model`` needs ``rootnet``)."""
    return list(dict.fromkeys(box_source(r) for r in roots))


def subjects_text(protocol: int) -> str:
    """``"S11"`` / ``"S9, S11"``."""
    return ", ".join(f"S{s}" for s in TEST_SUBJECTS[protocol])
