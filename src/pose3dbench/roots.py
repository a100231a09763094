"""Where a prediction's person box and absolute root come from: the vocabulary every dataset shares.

- Root sources (where the absolute root position of a prediction comes from): ``gt`` (the annotated root
  joint), ``rootnet`` (RootNet's released output file, bbox_root), ``rootnet-model`` (a RootNet model run in
  this process on that file's boxes).
- Box sources (where the person box of a crop comes from): ``gt`` (the annotation's box, processed as the
  3DMPPE code does) or ``rootnet`` (the bbox_root file's box). ``box_source(root)`` maps one to the other.
"""
from __future__ import annotations

ROOT_SOURCES: tuple[str, ...] = ("gt", "rootnet", "rootnet-model")
BOX_SOURCES: tuple[str, ...] = ("gt", "rootnet")


def box_source(root: str) -> str:
    """Box source of a root source: ``gt`` for ``gt``, ``rootnet`` for ``rootnet`` and ``rootnet-model``."""
    if root not in ROOT_SOURCES:
        raise ValueError(f"unknown root source {root!r}; choose from {', '.join(ROOT_SOURCES)}")
    return "gt" if root == "gt" else "rootnet"


def box_sources(roots) -> list[str]:
    """The box sources a list of root sources needs, in first-use order (``rootnet-model`` needs ``rootnet``)."""
    return list(dict.fromkeys(box_source(r) for r in roots))
