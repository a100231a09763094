"""One provider of test splits for ``run``, ``report`` and ``evaluate``.

A split is (protocol, box source): ``gt`` boxes are the annotation boxes after ``process_bbox``,
``rootnet`` boxes (and roots) come from RootNet's bbox_root file (the one found below the dataset, or
the run's ``--bbox-root`` file). The run's root choices map to box sources with ``box_source``:
``gt`` -> ``gt``, ``rootnet`` and ``rootnet-model`` (the run's own RootNet on RootNet's boxes) ->
``rootnet``. ``report`` rebuilds exactly the splits ``run`` scored by reading the run's settings
(``SplitProvider.from_settings``).
"""
from __future__ import annotations

from pathlib import Path

from .h36m import load_split
from .samples import H36MSamples


def box_source(root: str) -> str:
    """Box source of a root choice: ``gt`` for ``gt``, ``rootnet`` for ``rootnet`` and ``rootnet-model``."""
    return "gt" if root == "gt" else "rootnet"


class SplitProvider:
    """(protocol, box source) -> H36MSamples, loaded once; ``limit`` keeps the first N samples of each."""

    def __init__(self, data: str | Path, *, bbox_root: str | Path | None = None, limit: int | None = None):
        self.data = Path(data)
        self.bbox_root = None if bbox_root is None else Path(bbox_root)
        self.limit = int(limit) if limit else None
        self._cache: dict[tuple[int, str], H36MSamples] = {}

    @classmethod
    def from_settings(cls, settings: dict) -> "SplitProvider":
        """The provider of a finished run, from results.json ``settings`` (dataset path, bbox_root, limit)."""
        return cls(settings["dataset"]["path"], bbox_root=settings.get("bbox_root"), limit=settings.get("limit"))

    def get(self, protocol: int, source: str) -> H36MSamples:
        key = (int(protocol), str(source))
        if key not in self._cache:
            s = load_split(self.data, key[0], key[1], bbox_root_file=self.bbox_root if key[1] == "rootnet" else None)
            if self.limit:
                s = s.subset(slice(0, self.limit))
            self._cache[key] = s
        return self._cache[key]

    def for_root(self, protocol: int, root: str) -> H36MSamples:
        """The split a (protocol, root choice) evaluation is scored on."""
        return self.get(protocol, box_source(root))


__all__ = ["SplitProvider", "box_source"]
