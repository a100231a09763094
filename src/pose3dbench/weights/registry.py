"""Registry of the authors' released checkpoints and data files.

Entry names are ``<variant>:<tag>`` where ``<variant>`` is the architecture in
``pose3dbench.models`` the file loads into and ``<tag>`` says what it was trained on
(``h36m-p1``/``h36m-p2``: Human3.6M protocol 1/2 training subjects; ``muco``: MuCo-3DHP + COCO),
e.g. ``posenet-r50:h36m-p2``. Data files use ``bbox-root:<tag>``. ``<variant>:pretrained`` (or the
bare variant) resolves to the entry marked ``default`` for that variant.

Every URL and Google Drive id below was taken from the authors' READMEs (or, for the Google Drive
demo files, their README's quick-demo section); nothing is guessed. Where only a Drive *folder* is
published, the file is found in the folder listing by its name (see ``Source.path_contains``).
Sizes/sha256 are filled in only where a byte-exact copy was available; otherwise the first verified
download is pinned in the lock file (``cache.py``).

Custom entries (tests, mirrors) can be passed directly to ``fetch``/``verify`` or registered with
``register``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import WeightsError

SOURCE_KINDS = ("url", "gdrive_file", "gdrive_folder")


@dataclass(frozen=True)
class Source:
    """One place a file can be fetched from.

    kind: ``url`` (plain HTTP(S), resumable), ``gdrive_file`` (Google Drive file ``id``) or
    ``gdrive_folder`` (Drive folder ``id``; the file is the one named ``Entry.file_name`` whose path
    inside the folder contains every string of ``path_contains``).
    """

    kind: str
    url: str = ""
    id: str = ""
    path_contains: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"source kind must be one of {SOURCE_KINDS}, not {self.kind!r}")
        if self.kind == "url" and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url source needs an http(s) URL, got {self.url!r}")
        if self.kind != "url" and not self.id:
            raise ValueError(f"{self.kind} source needs a Google Drive id")

    @property
    def display(self) -> str:
        """Human-readable location (a browser URL)."""
        if self.kind == "url":
            return self.url
        if self.kind == "gdrive_file":
            return f"https://drive.google.com/file/d/{self.id}/view"
        where = f" (file in {' / '.join(self.path_contains)})" if self.path_contains else ""
        return f"https://drive.google.com/drive/folders/{self.id}{where}"


@dataclass(frozen=True)
class Entry:
    """One released file.

    kind: ``checkpoint`` (loads with ``pose3dbench.load_model(path, model=variant, **overrides)``) or
    ``data`` (e.g. a RootNet bbox_root JSON). size: exact bytes (None if unknown);
    approx_size_mb: size as reported somewhere, informative only. sha256: enforced when set.
    manual_only: no automatic source exists; ``instructions`` says how to get the file.
    published: numbers reported for this file that its variant's ``ModelConfig.published`` does not hold (other
    benchmarks, a re-implementation's extra metric; with a ``source`` key): the paper numbers live in the model
    config only (one source; ``weights list --json`` shows them as ``variant_published``).
    variant_numbers: whether the variant's paper numbers are this file's (False for a file trained on another
    dataset, e.g. the MuCo-3DHP models: then only ``published`` and the architecture's cost figures apply).
    """

    name: str
    kind: str
    file_name: str
    sources: tuple[Source, ...] = ()
    variant: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    joint_set: str | None = None
    trained_on: str = ""
    protocol: int | None = None
    published: dict[str, Any] = field(default_factory=dict)
    size: int | None = None
    approx_size_mb: float | None = None
    sha256: str | None = None
    format: str = ""
    page: str = ""
    manual_only: bool = False
    instructions: str = ""
    notes: str = ""
    default: bool = False
    variant_numbers: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("checkpoint", "data"):
            raise ValueError(f"entry {self.name!r}: kind must be 'checkpoint' or 'data'")
        if "/" in self.file_name or not self.file_name:
            raise ValueError(f"entry {self.name!r}: file_name must be a bare file name")
        if not self.sources and not self.manual_only:
            raise ValueError(f"entry {self.name!r}: no sources; mark it manual_only with instructions")
        if self.kind == "checkpoint" and not self.variant:
            raise ValueError(f"entry {self.name!r}: a checkpoint entry needs the variant it loads into")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sources"] = [dict(asdict(s), display=s.display) for s in self.sources]
        return d


_ENTRIES: dict[str, Entry] = {}

# Families without released weights: variant prefix -> explanation.
NO_OFFICIAL_WEIGHTS: dict[str, str] = {
    "mobilehumanpose": (
        "MobileHumanPose has no official released weights: the authors' README (SangbumChoi/"
        "MobileHumanPose) only announces a future model.pth. Public ONNX conversions exist; "
        "benchmark one with `--model path/to/file.onnx` (ONNX backend), or a PyTorch checkpoint "
        "you trained with `--model mobilehumanpose-lpski=path/to/snapshot.pth.tar`."
    ),
}


def register(entry: Entry, *, replace: bool = False) -> Entry:
    """Add an entry (``replace=True`` to overwrite one with the same name)."""
    if entry.name in _ENTRIES and not replace:
        raise ValueError(f"weights entry {entry.name!r} already registered")
    _ENTRIES[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    _ENTRIES.pop(name, None)


def entries() -> list[Entry]:
    """All registered entries, in registration order."""
    return list(_ENTRIES.values())


def names() -> list[str]:
    return list(_ENTRIES)


def get_entry(name: str | Entry) -> Entry:
    """The entry called ``name`` (an ``Entry`` is returned as is). Accepts ``<variant>:pretrained``."""
    if isinstance(name, Entry):
        return name
    if name in _ENTRIES:
        return _ENTRIES[name]
    variant, _, tag = name.partition(":")
    if tag in ("", "pretrained"):
        for entry in _ENTRIES.values():
            if entry.variant == variant and entry.default:
                return entry
        for prefix, why in NO_OFFICIAL_WEIGHTS.items():
            if variant.startswith(prefix):
                raise WeightsError(f"no released weights for {variant!r}: {why}")
    from ..suggest import close_names

    close = close_names(variant, sorted({e.variant for e in _ENTRIES.values() if e.default}) + list(_ENTRIES))
    hint = (" Did you mean " + " or ".join(repr(c if c in _ENTRIES else f"{c}:{tag or 'pretrained'}")
                                          for c in close) + "?") if close else ""
    raise WeightsError(
        f"unknown weights entry {name!r}.{hint} Known: {', '.join(_ENTRIES)} "
        f"(or <variant>:pretrained for {', '.join(sorted({e.variant for e in _ENTRIES.values() if e.default}))}); "
        f"see `pose3dbench weights list`"
    )


# --------------------------------------------------------------------------- the authors' files

_CNP_FOLDER = "12H7zkLvmJtrkCmAUAPkQ6788WAnO60gI"  # medialab-ku/ConvNeXtPose README, "Results"
_CNP_PAGE = "https://github.com/medialab-ku/ConvNeXtPose#results"
_CNP_NOTE = (
    "Released folder holds ConvNeXtPose_{XS,S,M,L}.tar (torch zip archives named .tar, "
    "{'network': {'module.' + key}}). The original HeadNet hard-codes its third block without "
    "upsampling, so every file trained with the released code has 32x32 heatmaps: S/M/L share the "
    "femto backbone (depths 3,3,9,3, dims 48..384) and differ in head width and depth bins "
    "(S 256/32, M 256/64, L 512/64); M and L therefore load with upsample_layers=2 (state dicts of "
    "7,448,954 / 7,596,986 / 8,391,354 numbers for S/M/L match the conformance manifests). "
    "The README does not say which protocol's subjects the files were trained on; the paper's P2 "
    "numbers are given as reference."
)
_CNP_MANUAL = (
    "Open https://drive.google.com/drive/folders/12H7zkLvmJtrkCmAUAPkQ6788WAnO60gI in a browser, "
    "download {file} (do not unpack it; it is a torch archive despite the .tar name)"
)


def _convnextpose(size: str, file_mb: float, overrides: dict[str, Any]) -> Entry:
    file_name = f"ConvNeXtPose_{size.upper()}.tar"
    return Entry(
        name=f"convnextpose-{size}:h36m",
        kind="checkpoint",
        file_name=file_name,
        sources=(Source("gdrive_folder", id=_CNP_FOLDER),),
        variant=f"convnextpose-{size}",
        overrides=overrides,
        joint_set="h36m18",
        trained_on="Human3.6M (+ MPII 2D), as released by the ConvNeXtPose authors",
        protocol=2,
        approx_size_mb=file_mb,
        format="torch zip archive named .tar, top-level 'network' with 'module.' keys",
        page=_CNP_PAGE,
        instructions=_CNP_MANUAL.format(file=file_name),
        notes=_CNP_NOTE,
        default=True,
    )


_SNU = "https://cv.snu.ac.kr/research/3DMPPE"
_POSENET_PAGE = "https://github.com/mks0601/3DMPPE_POSENET_RELEASE#results"
_ROOTNET_PAGE = "https://github.com/mks0601/3DMPPE_ROOTNET_RELEASE#results"
_POSENET_DRIVE = "https://drive.google.com/drive/folders/1El3qfdtgttO90X25k_680V2UCDv_TPoJ"
_BBOX_DRIVE_ID = "1bmQWFiT0ZU4Q7dlsRaPGqaqoCAOeThGr"  # 3DMPPE_POSENET_RELEASE README, "Results"
_SNU_NOTE = (
    "URL from the repository README at the time of the ICCV 2019 release (cv.snu.ac.kr); the "
    "current README links a Google Drive folder instead ({drive}), which according to issue "
    "mks0601/3DMPPE_POSENET_RELEASE#138 holds only the MuCo/COCO models."
)


def _posenet(protocol: int, default: bool) -> Entry:
    subjects = "S1,5,6,7,8,9" if protocol == 1 else "S1,5,6,7,8"
    return Entry(
        name=f"posenet-r50:h36m-p{protocol}",
        kind="checkpoint",
        file_name="snapshot_24.pth.tar",
        sources=(Source("url", url=f"{_SNU}/model/PoseNet/human3.6m/p{protocol}/snapshot_24.pth.tar"),),
        variant="posenet-r50",
        joint_set="h36m18",
        trained_on=f"Human3.6M protocol {protocol} ({subjects}) + MPII",
        protocol=protocol,
        format="legacy torch checkpoint {'network': {'module.' + key}, 'epoch', 'optimizer'}",
        page=_POSENET_PAGE,
        instructions=(
            f"download snapshot_24.pth.tar of the protocol-{protocol} PoseNet from the README "
            f"({_POSENET_PAGE}) or a mirror of it"
        ),
        notes=_SNU_NOTE.format(drive=_POSENET_DRIVE),
        default=default,
    )


def _rootnet(protocol: int, epoch: int, default: bool) -> Entry:
    subjects = "S1,5,6,7,8,9" if protocol == 1 else "S1,5,6,7,8"
    return Entry(
        name=f"rootnet-r50:h36m-p{protocol}",
        kind="checkpoint",
        file_name=f"snapshot_{epoch}.pth.tar",
        sources=(Source("url", url=f"{_SNU}/model/RootNet/human3.6m/p{protocol}/snapshot_{epoch}.pth.tar"),),
        variant="rootnet-r50",
        trained_on=f"Human3.6M protocol {protocol} ({subjects}) + MPII",
        protocol=protocol,
        format="legacy torch checkpoint {'network': {'module.' + key}, 'epoch', 'optimizer'}",
        page=_ROOTNET_PAGE,
        instructions=f"download snapshot_{epoch}.pth.tar of the protocol-{protocol} RootNet from {_ROOTNET_PAGE}",
        notes="URL from the 3DMPPE_ROOTNET_RELEASE README (cv.snu.ac.kr).",
        default=default,
    )


def _bbox_root(protocol: int, size: int, sha256: str, extra: tuple[Source, ...], folder: str) -> Entry:
    test = "S11" if protocol == 1 else "S9, S11"
    train = "S1,5,6,7,8,9" if protocol == 1 else "S1,5,6,7,8"
    return Entry(
        name=f"bbox-root:h36m-p{protocol}",
        kind="data",
        file_name="bbox_root_human36m_output.json",
        sources=extra + (
            Source("url", url=f"{_SNU}/result/bbox_root/Human36M/Protocol{protocol}/bbox_root_human36m_output.json"),
            Source("gdrive_folder", id=_BBOX_DRIVE_ID, path_contains=("Human3.6M", folder)),
        ),
        trained_on=f"RootNet trained on {train}; boxes and roots for the protocol-{protocol} test images ({test})",
        protocol=protocol,
        size=size,
        sha256=sha256,
        format="JSON list of {image_id, bbox [x,y,w,h] px, root_cam [X,Y,Z] mm}",
        page=_POSENET_PAGE,
        instructions=(
            "download bbox_root_human36m_output.json for this protocol from the 3DMPPE PoseNet README "
            f"({_POSENET_PAGE}) and pass it with --bbox-root {protocol}=FILE (both protocols' files have the same "
            "name: keep them in separate folders)"
        ),
        notes=(
            "size/sha256 are those of the copy in the ConvNeXtPose repository (the authors' Drive "
            "folder 'Bounding box + Root joint coordinate'), also shipped in tests/fixtures/h36m-real."
        ),
    )


_INTEGRAL_RELEASE = ("https://github.com/mks0601/Integral-Human-Pose-Regression-for-3D-Human-Pose-Estimation/"
                     "releases/download/1.0/snapshot_16.pth.tar")

_CNP_RAW = (
    "https://raw.githubusercontent.com/medialab-ku/ConvNeXtPose/f1c7fad22c4d824dd3de1cc5bfe4015cec34d9eb/"
    "data/Bounding%20box%20%2B%20Root%20joint%20coordinate-20230423T040706Z-001/"
    "Bounding%20box%20%2B%20Root%20joint%20coordinate/Human3.6M/"
    "Subject%209%2C11%20%28trained%20on%20subject%201%2C5%2C6%2C7%2C8%29/bbox_root_human36m_output.json"
)

_BUILTIN: tuple[Entry, ...] = (
    _convnextpose("xs", 40.58, {}),
    _convnextpose("s", 85.41, {}),
    _convnextpose("m", 87.10, {"upsample_layers": 2}),
    _convnextpose("l", 96.19, {"upsample_layers": 2}),
    _posenet(2, default=True),
    _posenet(1, default=False),
    Entry(
        name="posenet-r50:muco",
        kind="checkpoint",
        file_name="snapshot_24.pth.tar",
        sources=(
            Source("gdrive_file", id="1xjefKgjsH-W8v2lVn1Hbwzp2_Su7KtG0"),
            Source("url", url=f"{_SNU}/model/PoseNet/muco/snapshot_24.pth.tar"),
        ),
        variant="posenet-r50",
        overrides={"joint_num": 21},
        joint_set="muco21",
        trained_on="MuCo-3DHP + MSCOCO (the README's quick-demo model; 21 MuCo joints)",
        published={"mupots_pck_rel_all": 81.8, "mupots_pck_rel_matched": 82.5,
                   "source": "Moon et al., ICCV 2019 (3DMPPE), MuPoTS-3D 3DPCK_rel with RootNet boxes and roots; "
                             "not evaluated on Human3.6M by the authors"},
        variant_numbers=False,
        format="legacy torch checkpoint {'network': {'module.' + key}, ...}",
        page=_POSENET_PAGE,
        instructions=f"download the quick-demo PoseNet snapshot_24.pth.tar linked in {_POSENET_PAGE}",
        notes="Cross-dataset reference only: scored on Human3.6M through the approximate muco21 -> h36m17 map.",
    ),
    _rootnet(2, 7, default=True),
    _rootnet(1, 19, default=False),
    Entry(
        name="rootnet-r50:muco",
        kind="checkpoint",
        file_name="snapshot_18.pth.tar",
        sources=(
            Source("gdrive_file", id="1ZHoXNFxBBsmis-5Xzu7dfXYGNxjpntgt"),
            Source("url", url=f"{_SNU}/model/RootNet/muco/snapshot_18.pth.tar"),
        ),
        variant="rootnet-r50",
        trained_on="MuCo-3DHP + MSCOCO (the README's quick-demo model)",
        published={"mupots_ap25": 31.0, "source": "3DMPPE_ROOTNET_RELEASE README (MuPoTS-3D table)"},
        variant_numbers=False,
        format="legacy torch checkpoint {'network': {'module.' + key}, ...}",
        page=_ROOTNET_PAGE,
        instructions=f"download the quick-demo RootNet snapshot_18.pth.tar linked in {_ROOTNET_PAGE}",
        notes="Drive id from the README's quick-demo section (also quoted in issue #42 of the repository).",
    ),
    Entry(
        name="integral-r50:h36m-p2",
        kind="checkpoint",
        file_name="snapshot_16.pth.tar",
        sources=(  # release asset, Drive file, Drive folder, then the dead university URL
            Source("url", url=_INTEGRAL_RELEASE),
            Source("gdrive_file", id="1SyTLKP_Y_PwitCixSj6pagPF2A4kLlCd"),
            Source("gdrive_folder", id="1mGgreD2e8rk_E35tbIkJ9T_kENNROiL3"),
            Source("url", url="https://cv.snu.ac.kr/research/Integral3DHumanPose/model/snapshot_16.pth.tar"),
        ),
        variant="integral-r50",
        overrides={"head_layout": "3dmppe"},
        joint_set="h36m18",
        trained_on="Human3.6M protocol 2 (S1,5,6,7,8) + MPII (mks0601 re-implementation)",
        protocol=2,
        published={  # P2 MPJPE 53.9 (the re-implementation) is the variant's p2_mpjpe_reimpl_mm
            "p2_pa_mpjpe_mm": 41.5,
            "source": "mks0601/Integral-Human-Pose-Regression-for-3D-Human-Pose-Estimation README",
        },
        format="legacy torch checkpoint {'network': {'module.' + key}, ...} (PoseNet key layout)",
        page="https://github.com/mks0601/Integral-Human-Pose-Regression-for-3D-Human-Pose-Estimation#results",
        instructions=(
            f"download snapshot_16.pth.tar ('Pre-trained model of protocol 2' in the README): {_INTEGRAL_RELEASE}"
        ),
        notes=(
            "Sources as the README linked them over time (read at commit 9093008, 2024-12-03): a GitHub "
            "release asset now, a Drive file from 2022-06 (4667c47) to 2024-07, a Drive folder from 2019-12 "
            "(c95dacf), cv.snu.ac.kr before. Same architecture/keys as PoseNet (head_layout 3dmppe)."
        ),
        default=True,
    ),
    _bbox_root(
        2, 1572016, "dc207378ce7e128042c2175737438cfae7e250a96c6a113733124595237f8752",
        (Source("url", url=_CNP_RAW),), "Subject 9,11",
    ),
    _bbox_root(1, 665680, "411a6b5a5b06976d4e4660a7447cbe404f76fcc57bd505416a19f9119fe2fd4a", (), "Subject 11"),
)

for _entry in _BUILTIN:
    register(_entry)
