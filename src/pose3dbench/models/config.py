"""Model configuration: everything the rest of the tool needs to know about a network.

Units: ``input_size`` and ``heatmap_size`` are (H, W) in pixels of the input crop and of the
output heatmap; ``input_pixel_range`` / ``input_channel_order`` / ``mean`` / ``std`` say how a crop
becomes the network input (``pose3dbench.models.input``); ``depth_bins`` is the number of discrete depth bins of the
volumetric heatmap, spanning ``depth_range_mm`` (2000 mm for the 3DMPPE family) centred on the root depth. Model
outputs are in heatmap units; ``pose3dbench.models.codecs`` turns them into pixels and camera millimetres.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..joints import JOINT_SET_BY_COUNT

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The 3DMPPE ``bbox_3d_shape`` depth (mm): what the depth bins of every family here span around the root.
DEFAULT_DEPTH_RANGE_MM = 2000.0

# Aliases accepted for override names (the authors' cfg names -> ours).
_ALIASES = {"depth_dim": "depth_bins", "output_shape": "heatmap_size", "input_shape": "input_size"}


@dataclass
class ModelConfig:
    """Full configuration of one network variant.

    family: ``convnextpose`` | ``posenet`` | ``rootnet`` | ``mobilehumanpose`` | ``integral``.
    variant: registry name (``convnextpose-s``) or ``<family>-custom`` when inferred from a file.
    arch: family-specific architecture arguments (e.g. ConvNeXt dims, ResNet depth).
    published: reference numbers from the papers (keys a dataset's scoring declaration names, e.g. ``p2_mpjpe_mm``,
        ``mupots_pck_rel_all``), carried into the report; a released file's own numbers are in its weights entry.
    input_pixel_range: range of the crop's pixels before ``(x - mean) / std``: ``"0-255"`` (the crop as
        float32 0..255, what every 3DMPPE-derived repository feeds) or ``"0-1"`` (divided by 255 first).
    input_channel_order: ``"RGB"`` or ``"BGR"``; ``mean``/``std`` are in that order and pixel range.
    flip_mirror: how the flip test maps the mirrored pass back: ``"heatmap"`` (x -> W_hm - 1 - x, the
        3DMPPE ``main/test.py``) or ``"patch"`` (x_px -> W_in - 1 - x_px in input pixels, the MSRA
        ``validNet``). See ``pose3dbench.models.input`` and ``pose3dbench.models.codecs.flip_merge``.
    depth_range_mm: the depth (mm) the ``depth_bins`` span, centred on the root depth: z in bins ->
        Z = (z / depth_bins * 2 - 1) * depth_range_mm / 2 + root_Z (``models.codecs``). 2000 mm is the 3DMPPE
        ``bbox_3d_shape`` every family here was trained with.
    """

    family: str
    variant: str
    joint_num: int = 18
    depth_bins: int = 64
    heatmap_size: tuple[int, int] = (64, 64)
    input_size: tuple[int, int] = (256, 256)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_pixel_range: str = "0-255"
    input_channel_order: str = "RGB"
    flip_mirror: str = "heatmap"
    depth_range_mm: float = DEFAULT_DEPTH_RANGE_MM
    arch: dict[str, Any] = field(default_factory=dict)
    published: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        self.check_input_convention()
        self.check_depth_range()

    def check_input_convention(self) -> None:
        """ModelConfigError naming the variant when the input convention fields are not valid."""
        from ..errors import ModelConfigError
        from .input import convention_problem

        problem = convention_problem(self.input_pixel_range, self.input_channel_order, self.mean, self.std,
                                     self.flip_mirror)
        if problem:
            raise ModelConfigError(f"{self.variant}: {problem}")

    def check_depth_range(self) -> None:
        """ModelConfigError naming the variant unless ``depth_range_mm`` is a positive, finite number (mm)."""
        from ..errors import ModelConfigError

        value = self.depth_range_mm
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < float(value) < float("inf")
        if not ok:
            raise ModelConfigError(f"{self.variant}: depth_range_mm must be a positive number of millimetres "
                                   f"(the depth the depth bins span, 2000 for 3DMPPE), got {value!r}")
        self.depth_range_mm = float(value)

    @property
    def joint_set(self) -> str:
        """Name of the joint set implied by ``joint_num`` (``h36m18``, ``h36m17``, ``muco21``)."""
        return JOINT_SET_BY_COUNT.get(self.joint_num, f"custom{self.joint_num}")

    def copy(self) -> "ModelConfig":
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["joint_set"] = self.joint_set
        d["heatmap_size"] = list(self.heatmap_size)
        d["input_size"] = list(self.input_size)
        return d

    def with_overrides(self, **overrides: Any) -> "ModelConfig":
        """Return a copy with top-level fields or ``arch`` entries replaced.

        Accepts the authors' names too (``depth_dim``). Unknown names raise ``TypeError``.
        """
        new = self.copy()
        top = {f.name for f in fields(self)}
        for key, value in overrides.items():
            key = _ALIASES.get(key, key)
            if key in ("family",):
                raise TypeError("the family of a variant cannot be overridden")
            if key in top:
                if key in ("heatmap_size", "input_size") and value is not None:
                    value = tuple(int(v) for v in value)
                if key in ("mean", "std") and value is not None:
                    value = _three_floats(key, value)
                setattr(new, key, value)
            elif key in new.arch:
                new.arch[key] = value
            else:
                valid = sorted((top - {"family", "arch", "published"}) | set(new.arch) | {"depth_dim"})
                raise TypeError(f"unknown override {key!r} for {self.variant}; valid: {', '.join(valid)}")
        new.check_input_convention()
        new.check_depth_range()
        return new


def _three_floats(key: str, value: Any) -> tuple[float, float, float]:
    """``mean``/``std`` overrides: a sequence of 3 numbers or a string ``"a;b;c"`` / ``"a b c"`` (spec syntax)."""
    if isinstance(value, str):
        value = value.replace(";", " ").replace("/", " ").split()
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        out = ()
    if len(out) != 3:
        raise TypeError(f"override {key} needs three numbers (e.g. {key}=0.485;0.456;0.406), got {value!r}")
    return out  # type: ignore[return-value]


def check_input_size_and_counts(config: "ModelConfig", stride: int, what: str) -> tuple[int, int]:
    """Validate ``input_size`` (positive multiples of the backbone ``stride``) and the joint/bin counts.

    Returns (H, W) of the input in pixels. Raises ModelConfigError naming the variant and the fix.
    """
    from ..errors import ModelConfigError

    h, w = config.input_size
    if h % stride or w % stride or h <= 0 or w <= 0:
        raise ModelConfigError(f"{config.variant}: input_size {config.input_size} must be positive multiples of "
                               f"{stride} ({what} stride); use e.g. 256x256")
    if config.joint_num <= 0 or config.depth_bins <= 0:
        raise ModelConfigError(f"{config.variant}: joint_num and depth_bins must be positive")
    return h, w
