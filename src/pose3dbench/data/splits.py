"""One provider of test splits for ``run``, ``report`` and ``evaluate``.

A split is (protocol, box source): ``gt`` boxes are the annotation boxes after ``process_bbox``,
``rootnet`` boxes (and roots) come from RootNet's bbox_root file (the one found below the dataset, or
the run's ``--bbox-root`` file, one for every protocol or one per protocol). The run's root choices
map to box sources with ``box_source``: ``gt`` -> ``gt``, ``rootnet`` and ``rootnet-model`` (the run's
own RootNet on RootNet's boxes) -> ``rootnet``. ``report`` rebuilds exactly the splits ``run`` scored
by reading the run's settings (``SplitProvider.from_settings``).

Subsets for quick checks: ``limit`` keeps the first N samples of each split; ``limit_per_action``
keeps the first N samples of every (subject, action) of each split, so that a handful of images
still covers all 15 actions of each test subject (the demo run: 1 each, 15 images for Protocol 1,
30 for Protocol 2).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import BboxRootSpecError
from ..protocols import box_source
from .h36m import load_split
from .samples import H36MSamples


def parse_bbox_root(values) -> Path | dict[int, Path] | None:
    """``--bbox-root`` values -> one file for every protocol (``FILE``) or {protocol: file} (``1=FILE 2=FILE``).

    Accepts None, a path, or a list of strings as argparse collects them (repeatable option). Raises
    BboxRootSpecError for a protocol other than 1/2, a protocol given twice, or FILE mixed with 1=FILE.
    """
    if values is None:
        return None
    if isinstance(values, (str, Path)):
        values = [values]
    values = [str(v) for v in values]
    if not values:
        return None
    per: dict[int, Path] = {}
    plain: list[Path] = []
    for v in values:
        head, sep, tail = v.partition("=")
        if sep and head.strip() in ("1", "2") and tail.strip():
            p = int(head)
            if p in per:
                raise BboxRootSpecError(f"--bbox-root gives Protocol {p} twice ({per[p]} and {tail}); give each "
                                        "protocol's RootNet file once: --bbox-root 1=P1_FILE --bbox-root 2=P2_FILE")
            per[p] = Path(tail.strip())
        elif sep and head.strip().isdigit():
            raise BboxRootSpecError(f"--bbox-root {v}: Human3.6M protocols are 1 and 2; use "
                                    "--bbox-root 1=P1_FILE --bbox-root 2=P2_FILE, or --bbox-root FILE for both")
        else:
            plain.append(Path(v))
    if plain and (per or len(plain) > 1):
        raise BboxRootSpecError("--bbox-root takes either one FILE (used for every protocol) or one PROTOCOL=FILE "
                                "per protocol (--bbox-root 1=P1_FILE --bbox-root 2=P2_FILE), not both")
    return plain[0] if plain else per


def bbox_root_for(bbox_root, protocol: int) -> Path | None:
    """The RootNet file of ``protocol`` from a ``parse_bbox_root`` value (None: the one below the dataset)."""
    if bbox_root is None:
        return None
    if isinstance(bbox_root, dict):
        v = bbox_root.get(int(protocol), bbox_root.get(str(protocol)))
        return None if v is None else Path(v)
    return Path(bbox_root)


def bbox_root_setting(bbox_root) -> str | dict[str, str] | None:
    """The results.json ``settings.bbox_root`` of a ``parse_bbox_root`` value: a path, {"1": path, "2": path}."""
    if bbox_root is None or bbox_root == {}:
        return None
    if isinstance(bbox_root, dict):
        return {str(p): str(Path(f).resolve()) for p, f in sorted(bbox_root.items(), key=lambda kv: str(kv[0]))}
    return str(Path(bbox_root).resolve())


def bbox_root_files(setting) -> list[str]:
    """Every file a ``settings.bbox_root`` value names."""
    if not setting:
        return []
    return list(setting.values()) if isinstance(setting, dict) else [setting]


def per_action_rows(samples: H36MSamples, n: int) -> np.ndarray:
    """Row indices of the first ``n`` samples of every (subject, action), in the split's order."""
    subject = np.asarray(samples.subject)
    action = np.asarray(samples.action_idx)
    keep = np.zeros(len(samples), dtype=bool)
    seen: dict[tuple[int, int], int] = {}
    for i, key in enumerate(zip(subject.tolist(), action.tolist())):
        if seen.get(key, 0) < n:
            seen[key] = seen.get(key, 0) + 1
            keep[i] = True
    return np.flatnonzero(keep)


class SplitProvider:
    """(protocol, box source) -> H36MSamples, loaded once; ``limit`` keeps the first N samples of each,
    ``limit_per_action`` the first N of every (subject, action)."""

    def __init__(self, data: str | Path, *, bbox_root=None, limit: int | None = None,
                 limit_per_action: int | None = None):
        self.data = Path(data)
        self.bbox_root = parse_bbox_root(bbox_root) if not isinstance(bbox_root, dict) else bbox_root
        self.limit = int(limit) if limit else None
        self.limit_per_action = int(limit_per_action) if limit_per_action else None
        self._cache: dict[tuple[int, str], H36MSamples] = {}

    @classmethod
    def from_settings(cls, settings: dict) -> "SplitProvider":
        """The provider of a finished run, from results.json ``settings`` (dataset path, bbox_root, limits)."""
        br = settings.get("bbox_root")
        if isinstance(br, dict):
            br = {int(p): Path(f) for p, f in br.items()}
        return cls(settings["dataset"]["path"], bbox_root=br, limit=settings.get("limit"),
                   limit_per_action=settings.get("limit_per_action"))

    def get(self, protocol: int, source: str) -> H36MSamples:
        key = (int(protocol), str(source))
        if key not in self._cache:
            bfile = bbox_root_for(self.bbox_root, key[0]) if key[1] == "rootnet" else None
            s = load_split(self.data, key[0], key[1], bbox_root_file=bfile)
            if self.limit_per_action:
                s = s.subset(per_action_rows(s, self.limit_per_action))
            if self.limit:
                s = s.subset(slice(0, self.limit))
            self._cache[key] = s
        return self._cache[key]

    def for_root(self, protocol: int, root: str) -> H36MSamples:
        """The split a (protocol, root choice) evaluation is scored on."""
        return self.get(protocol, box_source(root))


def warn_other_protocol_bbox_root(samples: H36MSamples, log: Callable[[str], None]) -> None:
    """Say so when a Protocol-1 split takes its boxes and roots from a file that also covers S9.

    RootNet's released outputs differ per protocol (trained on S1,5,6,7,8 for P2; S1,5,6,7,8,9 for P1);
    a file with entries for S9 images is the Protocol-2 one, whose S11 boxes and roots are not those
    of the published Protocol-1 numbers.
    """
    from .h36m import load_bbox_root

    path = samples.source.get("bbox_root")
    if samples.protocol != 1 or not path or samples.source.get("synthetic"):
        return  # the synthetic set ships one RootNet-like file for both protocols by design
    extra = int(np.isin(load_bbox_root(path).image_id, samples.image_id, invert=True).sum())
    if extra:
        log(f"warning: {path} also holds {extra} entries for images outside Protocol 1 (S11): it looks like "
            "RootNet's Protocol-2 output. Protocol-1 numbers with --root rootnet then use a RootNet trained "
            "without S9, unlike the published ones; pass the Protocol-1 file with --bbox-root "
            "(pose3dbench weights get bbox-root:h36m-p1).")


class CheckedSplits:
    """The splits of a run, each checked once before its first use: its images are read (header and end
    marker, ``data.health.check_images``) and a Protocol-1 bbox_root file that looks like the Protocol-2
    one is reported to ``warn``. ``fingerprint`` is what a split's numbers depend on in the dataset."""

    def __init__(self, provider: SplitProvider, warn: Callable[[int, str], None]):
        self.provider = provider
        self.warn = warn  # (protocol, message)
        self._checked: set[tuple[int, str]] = set()
        self._images: set[str] = set()
        self._fingerprints: dict[tuple[int, str], dict] = {}

    def unchecked(self, protocol: int, box: str) -> H36MSamples:
        """The split without reading its images (sizes and boxes only)."""
        return self.provider.get(protocol, box)

    def __call__(self, protocol: int, box: str) -> H36MSamples:
        from .health import check_images

        s = self.provider.get(protocol, box)
        if (protocol, box) not in self._checked:
            self._checked.add((protocol, box))
            if box == "rootnet":
                warn_other_protocol_bbox_root(s, lambda msg: self.warn(protocol, msg))
            check_images(s, self._images)  # fail before inference, not hours into it
        return s

    def fingerprint(self, protocol: int, box: str) -> dict:
        """What the numbers of a split depend on in the dataset (files read, image list): see data.fingerprint."""
        from .fingerprint import split_fingerprint

        key = (protocol, box)
        if key not in self._fingerprints:
            self._fingerprints[key] = split_fingerprint(self(protocol, box))
        return self._fingerprints[key]


__all__ = ["CheckedSplits", "SplitProvider", "warn_other_protocol_bbox_root", "parse_bbox_root", "bbox_root_for",
           "bbox_root_setting", "bbox_root_files", "per_action_rows", "BboxRootSpecError"]
