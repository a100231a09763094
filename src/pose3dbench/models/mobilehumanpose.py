"""MobileHumanPose (Choi et al., CVPRW 2021): LPSKI, LPRES and LPWO backbones, checkpoint-exact.

Re-implemented from the architecture of SangbumChoi/MobileHumanPose (commit a359dd97) so that
``state_dict`` keys, shapes and order equal the original ``CustomNet`` (bare keys, no ``module.``):
``backbone.first_conv``, ``backbone.inv_residual.N.conv.M``, ``backbone.last_conv``,
``backbone.deconv0-2`` (LPRES: misspelt ``backbone.deonv0-2``) and ``backbone.final_layer``.

Shapes at a 256x256 input crop (pixels):

- LPSKI: stem stride 2, backbone ends at 4x4 (stride 64); three head blocks, each preceded by a
  concatenation ``[skip, main]`` and ending in a x2 bilinear upsample -> 32x32 heatmap, 32 depth bins.
- LPWO: stem stride 1, backbone ends at 8x8 (stride 32), no skips -> 64x64 heatmap, 64 depth bins.
- LPRES: stem stride 1, dense cross-scale concatenations (AvgPool2d(3, 2, 1,
  count_include_pad=False) down, bilinear x2 up) -> 64x64 heatmap, 64 depth bins.

Every activation is a per-channel PReLU. All bilinear upsampling is ``align_corners=True`` (the
original's ``nn.UpsamplingBilinear2d``). The number of depth bins is hard-coded per backbone in the
original (LPSKI 32, LPRES/LPWO 64), so ``finalize`` derives ``depth_bins`` and ``heatmap_size`` from
the backbone and the input size; overrides of those two fields are replaced by the derived values.
The network output is a volumetric heatmap [B, J*D, H, W] (channel = joint*D + z) in logits;
``forward`` integrates it with the shared 0-based soft-argmax to (x, y, z) in heatmap units
(x, y in heatmap pixels, z in depth bins). The original's "ramps 1..N, then subtract 1" is the same.

Test-path conventions, pinned (SangbumChoi/MobileHumanPose @ a359dd9; LPSKI checked from the JPEG by
``tests/eval/test_pipeline_conformance.py`` against the authors' recorded coordinates): ``data/dataset.py``
reads with ``cv2.imread(path, IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION)`` and crops with the 3DMPPE
``generate_patch_image`` / ``gen_trans_from_patch_cv`` (float32 point pairs), BGR -> RGB,
``.astype(np.float32)``; ``common/base.py`` normalises with ``Compose([ToTensor(), Normalize(pixel_mean,
pixel_std)])`` (ImageNet, ``main/config.py``) on that float32 crop: pixel range **0-255**, RGB; flip test in
``main/test.py``: ``flip(input_img, dims=3)``, ``x -> cfg.output_shape[1] - x - 1``, pairs swapped, averaged.
The repository's ``main/pytorch2onnx.py`` exports the network itself, so its ONNX files take the same
normalised 0-255 input (the foreign ONNX loader's default; ``@input_pixel_range=0-1`` for other exports).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..errors import CheckpointError, MobileHumanPoseConfigError
from .config import ModelConfig
from .keys import factor_channels, has_prefix, need
from .registry import register_family, register_variant
from .codecs import VolumetricPoseModel

BACKBONES = ("LPSKI", "LPRES", "LPWO")

# Inverted-residual tables (expand ratio t, output channels c, repeats n, first stride s).
_SETTINGS: dict[str, tuple[tuple[int, int, int, int], ...]] = {
    "LPSKI": ((1, 64, 1, 2), (6, 48, 2, 2), (6, 48, 3, 2), (6, 64, 4, 2), (6, 96, 3, 2),
              (6, 160, 3, 1), (6, 320, 1, 1)),
    "LPRES": ((1, 64, 1, 1), (6, 48, 2, 2), (6, 48, 3, 2), (6, 64, 4, 2), (6, 96, 3, 2),
              (6, 160, 3, 2), (6, 320, 1, 1)),
    "LPWO": ((1, 64, 1, 1), (6, 48, 2, 2), (6, 48, 3, 2), (6, 64, 4, 2), (6, 96, 3, 2),
             (6, 160, 3, 2), (6, 320, 1, 1)),
}
_STEM_STRIDE = {"LPSKI": 2, "LPRES": 1, "LPWO": 1}
# Depth bins of the final layer, hard-coded per backbone in the original (final_layer = J * D).
DEPTH_BINS = {"LPSKI": 32, "LPRES": 64, "LPWO": 64}
# Input pixels per heatmap pixel, and the granularity the input size must respect.
_HEATMAP_STRIDE = {"LPSKI": 8, "LPRES": 4, "LPWO": 4}
_INPUT_MULTIPLE = {"LPSKI": 64, "LPRES": 32, "LPWO": 32}
_NUM_BLOCKS = 17
HEAD_WIDTH = 256

DEFAULT_ARCH: dict[str, Any] = {
    "backbone": "LPSKI",
    "width_mult": 1.0,
    "embedding_size": 2048,
    "input_channel": 48,
    "round_nearest": 8,
}


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% below ``v``."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNPReLU(nn.Sequential):
    """Conv2d (no bias, 'same' padding) -> BatchNorm2d -> per-channel PReLU (indices 0, 1, 2)."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.PReLU(cout),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1x1 expand] -> 3x3 depthwise (stride) -> 1x1 linear projection -> BN.

    The expansion is omitted for ``expand_ratio == 1`` (indices shift down by one). The identity
    shortcut is added only when ``stride == 1`` and ``cin == cout``.
    """

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        hidden = int(round(cin * expand_ratio))
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNPReLU(cin, hidden, kernel_size=1))
        layers += [
            ConvBNPReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class HeadBlock(nn.Sequential):
    """Conv 1x1 (bias) cin->mid, BN, PReLU, Conv 3x3 (bias) mid->cout, BN, PReLU, x2 upsample (index 6).

    The original's ``DeConv`` (LPSKI/LPWO, ``mid`` a bottleneck) and ``DoubleConv`` (LPRES,
    ``mid == cout``) both have this layout.
    """

    def __init__(self, cin: int, mid: int, cout: int = HEAD_WIDTH):
        super().__init__(
            nn.Conv2d(cin, mid, kernel_size=1),
            nn.BatchNorm2d(mid),
            nn.PReLU(mid),
            nn.Conv2d(mid, cout, kernel_size=3, padding=1),
            nn.BatchNorm2d(cout),
            nn.PReLU(cout),
            nn.UpsamplingBilinear2d(scale_factor=2),  # align_corners=True
        )


def _stage_channels(backbone: str, width_mult: float, round_nearest: int) -> list[int]:
    return [make_divisible(c * width_mult, round_nearest) for _, c, _, _ in _SETTINGS[backbone]]


def _check_lpres_widths(backbone: str, width_mult: float, round_nearest: int) -> None:
    """LPRES sizes its concatenations from the raw channel table: other stage widths cannot run."""
    if backbone != "LPRES":
        return
    outs = _stage_channels("LPRES", width_mult, round_nearest)
    raw = [c for _, c, _, _ in _SETTINGS["LPRES"]]
    if outs != raw:
        raise MobileHumanPoseConfigError(
            f"LPRES cannot use width_mult={width_mult}: the original concatenates stage outputs "
            f"sized from the raw channel table {raw}, but this multiplier gives {outs}. "
            "Use width_mult=1.0 (or LPSKI/LPWO for other widths).")


class _LpNetBase(nn.Module):
    """Common constructor parts: the stem, the 17 inverted residuals and the 1x1 embedding conv."""

    backbone_name = ""

    def _build_trunk(self, stage_inputs: Sequence[int], stem_channels: int, last_in: int,
                     outs: Sequence[int], embedding_size: int) -> None:
        self.first_conv = ConvBNPReLU(3, stem_channels, stride=_STEM_STRIDE[self.backbone_name])
        blocks = []
        for (t, _, n, s), cin, cout in zip(_SETTINGS[self.backbone_name], stage_inputs, outs):
            for i in range(n):
                blocks.append(InvertedResidual(cin if i == 0 else cout, cout, s if i == 0 else 1, t))
        self.inv_residual = nn.Sequential(*blocks)
        self.last_conv = ConvBNPReLU(last_in, embedding_size, kernel_size=1)

    def init_weights(self) -> None:
        """The authors' training init: every Conv2d of the stem, the inverted residuals, the
        embedding conv and the final layer ~ N(0, 0.001), biases 0; the head blocks keep PyTorch's
        default init (BatchNorm 1/0, PReLU 0.25)."""
        for part in (self.first_conv, self.inv_residual, self.last_conv, self.final_layer):
            for m in part.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.normal_(m.weight, std=0.001)
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0.0)


class LpNetSkiConcat(_LpNetBase):
    """LPSKI: U-Net-like skip concatenation. img [B,3,H,W] -> heatmap [B, J*32, H/8, W/8] (logits)."""

    backbone_name = "LPSKI"

    def __init__(self, joint_num: int, embedding_size: int = 2048, width_mult: float = 1.0,
                 input_channel: int = 48, round_nearest: int = 8):
        super().__init__()
        outs = _stage_channels("LPSKI", width_mult, round_nearest)
        stem = make_divisible(input_channel * width_mult, round_nearest)
        self._build_trunk([stem] + outs[:-1], stem, outs[-1], outs, embedding_size)
        # Skips (stage outputs at strides 16, 8, 4 of the trunk) are concatenated FIRST.
        self.deconv0 = HeadBlock(embedding_size + outs[4], outs[4])
        self.deconv1 = HeadBlock(HEAD_WIDTH + outs[3], outs[3])
        self.deconv2 = HeadBlock(HEAD_WIDTH + outs[2], outs[2])
        self.final_layer = nn.Conv2d(HEAD_WIDTH, joint_num * DEPTH_BINS["LPSKI"], kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.inv_residual
        s2 = r[0:6](self.first_conv(x))
        s1 = r[6:10](s2)
        s0 = r[10:13](s1)
        z = self.last_conv(r[16:](r[13:16](s0)))
        z = self.deconv0(torch.cat([s0, z], dim=1))
        z = self.deconv1(torch.cat([s1, z], dim=1))
        z = self.deconv2(torch.cat([s2, z], dim=1))
        return self.final_layer(z)


class LpNetWoConcat(_LpNetBase):
    """LPWO: plain encoder-decoder. img [B,3,H,W] -> heatmap [B, J*64, H/4, W/4] (logits)."""

    backbone_name = "LPWO"

    def __init__(self, joint_num: int, embedding_size: int = 2048, width_mult: float = 1.0,
                 input_channel: int = 48, round_nearest: int = 8):
        super().__init__()
        outs = _stage_channels("LPWO", width_mult, round_nearest)
        stem = make_divisible(input_channel * width_mult, round_nearest)
        self._build_trunk([stem] + outs[:-1], stem, outs[-1], outs, embedding_size)
        self.deconv0 = HeadBlock(embedding_size, outs[5])
        self.deconv1 = HeadBlock(HEAD_WIDTH, outs[4])
        self.deconv2 = HeadBlock(HEAD_WIDTH, outs[3])
        self.final_layer = nn.Conv2d(HEAD_WIDTH, joint_num * DEPTH_BINS["LPWO"], kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.last_conv(self.inv_residual(self.first_conv(x)))
        return self.final_layer(self.deconv2(self.deconv1(self.deconv0(z))))


class LpNetResConcat(_LpNetBase):
    """LPRES: dense cross-scale concatenation. img [B,3,H,W] -> heatmap [B, J*64, H/4, W/4] (logits).

    The original sizes the concatenations from the raw channel table (not width-multiplied), so
    only ``width_mult`` values that leave every stage width unchanged can run.
    """

    backbone_name = "LPRES"

    def __init__(self, joint_num: int, embedding_size: int = 2048, width_mult: float = 1.0,
                 input_channel: int = 48, round_nearest: int = 8):
        super().__init__()
        _check_lpres_widths("LPRES", width_mult, round_nearest)
        outs = raw = [c for _, c, _, _ in _SETTINGS["LPRES"]]
        stem = make_divisible(input_channel * width_mult, round_nearest)
        # Input widths: stage 0 sees the stem; stage k>=1 sees cat[avgpool(stage k-2 out), stage k-1 out]
        # (stage 1 sees cat[stem, stage 0 out]); last_conv sees cat[stage 5 out, stage 6 out].
        stage_in = [stem, stem + raw[0]] + [raw[k - 2] + raw[k - 1] for k in range(2, 7)]
        self._build_trunk(stage_in, stem, raw[5] + raw[6], outs, embedding_size)
        self.deonv0 = HeadBlock(raw[6] + embedding_size, HEAD_WIDTH)
        self.deonv1 = HeadBlock(embedding_size + HEAD_WIDTH, HEAD_WIDTH)  # original: literal 2304
        self.deonv2 = HeadBlock(HEAD_WIDTH + HEAD_WIDTH, HEAD_WIDTH)
        self.final_layer = nn.Conv2d(HEAD_WIDTH, joint_num * DEPTH_BINS["LPRES"], kernel_size=1)
        # Parameterless; registered last, as in the original.
        self.avgpool = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.upsample = nn.UpsamplingBilinear2d(scale_factor=2)  # align_corners=True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, p, up = self.inv_residual, self.avgpool, self.upsample
        a = self.first_conv(x)                                  # stem, full resolution
        b = r[0:1](a)                                           # 64 @ 1/1
        c = r[1:3](torch.cat([a, b], dim=1))                    # 48 @ 1/2
        d = r[3:6](torch.cat([p(b), c], dim=1))                 # 48 @ 1/4
        e = r[6:10](torch.cat([p(c), d], dim=1))                # 64 @ 1/8
        f = r[10:13](torch.cat([p(d), e], dim=1))               # 96 @ 1/16
        g = r[13:16](torch.cat([p(e), f], dim=1))               # 160 @ 1/32
        h = r[16:17](torch.cat([p(f), g], dim=1))               # 320 @ 1/32
        i = self.last_conv(torch.cat([g, h], dim=1))            # embedding @ 1/32
        j = self.deonv0(torch.cat([h, i], dim=1))               # 256 @ 1/16
        k = self.deonv1(torch.cat([up(i), j], dim=1))     # 256 @ 1/8
        l_ = self.deonv2(torch.cat([up(j), k], dim=1))    # 256 @ 1/4
        return self.final_layer(l_)


_BACKBONE_CLASSES = {"LPSKI": LpNetSkiConcat, "LPRES": LpNetResConcat, "LPWO": LpNetWoConcat}


class MobileHumanPose(VolumetricPoseModel):
    """The original ``CustomNet`` wrapper: ``backbone`` produces the heatmap, no other weights.

    ``forward(img)``: normalised image crop [B, 3, H, W] -> [B, J, 3] (x, y, z) in heatmap units.
    ``forward_heatmaps(img)``: the raw volumetric logits [B, J*D, H/s, W/s], channel = joint*D + z.
    """

    def __init__(self, backbone: str, joint_num: int, depth_bins: int, embedding_size: int = 2048,
                 width_mult: float = 1.0, input_channel: int = 48, round_nearest: int = 8):
        super().__init__()
        self.joint_num = joint_num
        self.depth_bins = depth_bins
        self.backbone = _BACKBONE_CLASSES[backbone](
            joint_num, embedding_size=embedding_size, width_mult=width_mult,
            input_channel=input_channel, round_nearest=round_nearest)

    def forward_heatmaps(self, img: torch.Tensor) -> torch.Tensor:
        return self.backbone(img)



def _arch(config: ModelConfig) -> dict[str, Any]:
    arch = {**DEFAULT_ARCH, **config.arch}
    unknown = sorted(set(arch) - set(DEFAULT_ARCH))
    if unknown:
        raise MobileHumanPoseConfigError(
            f"{config.variant}: unknown MobileHumanPose arch keys {unknown}; valid: {sorted(DEFAULT_ARCH)}")
    backbone = str(arch["backbone"]).upper()
    if backbone not in BACKBONES:
        raise MobileHumanPoseConfigError(
            f"{config.variant}: unknown MobileHumanPose backbone {arch['backbone']!r}; use one of {BACKBONES}")
    arch["backbone"] = backbone
    arch["width_mult"] = float(arch["width_mult"])
    for key in ("embedding_size", "input_channel", "round_nearest"):
        if int(arch[key]) != arch[key] or int(arch[key]) < 1:
            raise MobileHumanPoseConfigError(f"{config.variant}: arch {key} must be a positive integer, "
                                             f"got {arch[key]!r}")
        arch[key] = int(arch[key])
    if arch["width_mult"] <= 0:
        raise MobileHumanPoseConfigError(f"{config.variant}: width_mult must be > 0, got {arch['width_mult']}")
    _check_lpres_widths(backbone, arch["width_mult"], arch["round_nearest"])
    return arch


def finalize(config: ModelConfig) -> ModelConfig:
    """Fill arch defaults and derive ``depth_bins`` and ``heatmap_size`` (pixels) from the backbone
    (both are fixed by the network; overrides of them are replaced).

    LPSKI: input/8 and 32 bins (32x32x32 at 256); LPRES, LPWO: input/4 and 64 bins (64x64x64).
    """
    arch = _arch(config)
    backbone = arch["backbone"]
    mult = _INPUT_MULTIPLE[backbone]
    h, w = (int(v) for v in config.input_size)
    if h % mult or w % mult or h <= 0 or w <= 0:
        raise MobileHumanPoseConfigError(
            f"{config.variant}: input_size {h}x{w} must be a positive multiple of {mult} for {backbone} "
            "(its skip/concat shapes must line up); the authors use 256x256.")
    if config.joint_num < 1:
        raise MobileHumanPoseConfigError(f"{config.variant}: joint_num must be >= 1, got {config.joint_num}")
    config.arch = arch
    config.depth_bins = DEPTH_BINS[backbone]
    s = _HEATMAP_STRIDE[backbone]
    config.heatmap_size = (h // s, w // s)
    return config


def build(config: ModelConfig) -> nn.Module:
    """Untrained MobileHumanPose for a finalized config, initialised as the authors' ``init_weights``."""
    a = config.arch
    model = MobileHumanPose(a["backbone"], config.joint_num, config.depth_bins,
                            embedding_size=a["embedding_size"], width_mult=a["width_mult"],
                            input_channel=a["input_channel"], round_nearest=a["round_nearest"])
    model.backbone.init_weights()
    return model


# ----------------------------------------------------------------------------------------------
# Architecture inference from a checkpoint's key -> shape mapping (for the checkpoint loader).

_WIDTH_CANDIDATES = (1.0, 0.75, 0.5, 1.25, 1.5, 0.35, 0.25, 1.4, 1.3, 2.0)


def _stage_out_indices() -> list[int]:
    """Index of the last inverted residual of each of the 7 stages (same n for all backbones)."""
    ends, k = [], 0
    for _, _, n, _ in _SETTINGS["LPSKI"]:
        k += n
        ends.append(k - 1)
    return ends


def infer_arch_from_state_dict(shapes: Mapping[str, Sequence[int]], source: str = "checkpoint") -> dict[str, Any]:
    """Recover the MobileHumanPose architecture from ``{key: shape}`` of a state dict.

    Keys may carry ``module.`` (DataParallel); ``backbone.`` (the wrapper) is added if absent.
    Returns ``{backbone, width_mult, embedding_size, joint_num, depth_bins, input_channel}``.
    LPRES is recognised by its misspelt ``deonv`` head; LPSKI vs LPWO by the width of
    ``deconv0.0``'s input (embedding + skip for LPSKI, embedding alone for LPWO).
    Raises ``CheckpointError`` naming ``source`` when the keys do not form a MobileHumanPose.
    """
    sh: dict[str, tuple[int, ...]] = {}
    for key, shape in shapes.items():
        k = key[len("module."):] if key.startswith("module.") else key
        sh[k] = tuple(int(v) for v in shape)
    if sh and not any(k.startswith("backbone.") for k in sh):  # tolerate a stripped wrapper prefix
        sh = {f"backbone.{k}": v for k, v in sh.items()}

    def need(key: str) -> tuple[int, ...]:
        if key not in sh:
            raise CheckpointError(
                f"{source}: not a MobileHumanPose state dict (missing {key!r}); expected the original "
                "CustomNet keys 'backbone.first_conv...', 'backbone.inv_residual.N...', 'backbone.final_layer'.")
        return sh[key]

    if any(k.startswith("backbone.deonv0.") for k in sh):
        backbone, head = "LPRES", "deonv"
    elif any(k.startswith("backbone.deconv0.") for k in sh):
        backbone, head = None, "deconv"
    else:
        raise CheckpointError(f"{source}: no 'backbone.deconv0' or 'backbone.deonv0' keys; "
                              "not a MobileHumanPose checkpoint.")
    blocks = {int(k.split(".")[2]) for k in sh if k.startswith("backbone.inv_residual.")}
    if blocks != set(range(_NUM_BLOCKS)):
        raise CheckpointError(f"{source}: expected inverted residual blocks 0..{_NUM_BLOCKS - 1}, "
                              f"found {sorted(blocks)}.")

    embedding = need("backbone.last_conv.0.weight")[0]
    last_in = need("backbone.last_conv.0.weight")[1]
    stem = need("backbone.first_conv.0.weight")[0]
    outs = [need(f"backbone.inv_residual.{i}.conv.{2 if i == 0 else 3}.weight")[0] for i in _stage_out_indices()]
    d0_in, d0_mid = need(f"backbone.{head}0.0.weight")[1], need(f"backbone.{head}0.0.weight")[0]
    if backbone is None:
        if d0_in == embedding + outs[4] and d0_mid == outs[4]:
            backbone = "LPSKI"
        elif d0_in == embedding and d0_mid == outs[5]:
            backbone = "LPWO"
        else:
            raise CheckpointError(
                f"{source}: backbone.deconv0.0.weight has shape {sh['backbone.deconv0.0.weight']}, which fits "
                f"neither LPSKI (in = {embedding}+{outs[4]}) nor LPWO (in = {embedding}, out = {outs[5]}).")
    final_out = need("backbone.final_layer.weight")[0]
    depth = DEPTH_BINS[backbone]
    if final_out % depth:
        raise CheckpointError(f"{source}: final_layer has {final_out} channels, "
                              f"not a multiple of {backbone}'s {depth} depth bins.")

    width = next((w for w in _WIDTH_CANDIDATES if _stage_channels(backbone, w, 8) == outs), None)
    if width is None:  # fall back to the coarsest 0.05 grid that reproduces every stage width
        width = next((k / 20 for k in range(1, 81) if _stage_channels(backbone, k / 20, 8) == outs), None)
    if width is None:
        raise CheckpointError(f"{source}: stage widths {outs} do not follow MobileHumanPose's table "
                              "for any width_mult.")
    input_channel = 48 if make_divisible(48 * width) == stem else next(
        (c for c in range(1, 4 * stem + 9) if make_divisible(c * width) == stem), None)
    if input_channel is None:
        raise CheckpointError(f"{source}: stem width {stem} is not reachable with width_mult {width}.")
    expected_last_in = outs[5] + outs[6] if backbone == "LPRES" else outs[6]
    if last_in != expected_last_in:
        raise CheckpointError(f"{source}: last_conv input {last_in} != {expected_last_in} expected for {backbone}.")
    return {"backbone": backbone, "width_mult": width, "embedding_size": embedding,
            "joint_num": final_out // depth, "depth_bins": depth, "input_channel": input_channel}


# ----------------------------------------------------------------------------------------------
# Registry.

_PAPER = ("Choi, Choi & Kim, MobileHumanPose: Toward Real-Time 3D Human Pose Estimation in Mobile "
          "Devices, CVPRW 2021, Human3.6M results (P2 = MPJPE, protocol 2; P1 = PA-MPJPE, protocol 1) and "
          "MuPoTS-3D 3DPCK_rel (all people; MuCo-3DHP-trained models)")
_NO_WEIGHTS = ("No official trained weights were released for Human3.6M (the repository only shares "
               "unlabelled experiment files); build() gives the authors' untrained init.")
# Parameter counts reconstructed for the paper's models: a skip-concatenation net with LPWO's
# strides (stride-32 trunk, 64x64x64 volume) and skips from stages 5, 4, 3 has exactly
# 4,073,248 params at width 1.0 / embedding 2048 and 2,242,000 at width 0.75 / embedding 512,
# i.e. the paper's 4.07 M and 2.24 M; the LPSKI of commit a359dd97 built here differs (stride 64, 32^3).
_PAPER_NOTE = (
    "Paper model {name} = skip concatenation (LPSKI design), width_mult {wm}, embedding_size {emb} "
    "(the L/S settings as quoted from the paper in repo issues #37 and #46). "
    "The paper's {params} M params match exactly a "
    "skip-concat net with LPWO's strides and a 64x64x64 volume ({exact:,} params), an earlier layout "
    "than the LPSKI of commit a359dd97 built here ({ours} M params, 32x32x32). The numbers are the "
    "closest published reference for this variant, not a measurement of this exact network.")
_NOT_REPORTED = {"p2_mpjpe_mm": None, "p1_pa_mpjpe_mm": None, "params_m": None, "source": _PAPER,
                 "note": "The paper reports Human3.6M numbers only for its skip-concatenation models "
                         "(L, S; see mobilehumanpose-lpski / -lpski-s); this backbone has none."}

def claims(keys) -> bool:
    """The original CustomNet keys (``backbone.inv_residual.N...``)."""
    return has_prefix(keys, "backbone.inv_residual.")


def infer_arch(shapes, *, joint_num=None, depth_bins=None, upsample_layers=None, source="checkpoint") -> dict:
    """``infer_arch_from_state_dict``; ``joint_num`` / ``depth_bins`` hints re-split the final layer."""
    mhp = dict(infer_arch_from_state_dict(shapes, source=source))
    j, d = mhp.pop("joint_num"), mhp.pop("depth_bins")
    if joint_num or depth_bins:
        channels = need(shapes, "backbone.final_layer.weight", source, "mobilehumanpose")[0]
        j, d = factor_channels(channels, joint_num=joint_num or None, depth_bins=depth_bins or d, source=source)
    return {"joint_num": j, "depth_bins": d, "arch": mhp}


register_family("mobilehumanpose", build, finalize, claims=claims, infer_arch=infer_arch, key_priority=20)

register_variant(ModelConfig(
    family="mobilehumanpose", variant="mobilehumanpose-lpski",
    arch={**DEFAULT_ARCH, "backbone": "LPSKI"},
    description=("MobileHumanPose LPSKI (LpNetSkiConcat), the paper's skip-concatenation design and the "
                 "repository default: MobileNetV2-style trunk with PReLU, stride-64 encoder, U-Net skip "
                 "concatenation, 32x32x32 volume at 256x256, width 1.0, embedding 2048 (paper size L). "
                 + _NO_WEIGHTS),
    published={"p2_mpjpe_mm": 51.4, "p1_pa_mpjpe_mm": 35.2, "params_m": 4.07, "mupots_pck_rel_all": 79.6,
               "source": _PAPER, "paper_model": "MobileHumanPose-L",
               "note": _PAPER_NOTE.format(name="L", wm=1.0, emb=2048, params=4.07, exact=4073248, ours="3.50")},
))
register_variant(ModelConfig(
    family="mobilehumanpose", variant="mobilehumanpose-lpski-s",
    arch={**DEFAULT_ARCH, "backbone": "LPSKI", "width_mult": 0.75, "embedding_size": 512},
    description=("MobileHumanPose LPSKI at the paper's small setting (width 0.75, embedding 512): "
                 "skip concatenation, 32x32x32 volume at 256x256. " + _NO_WEIGHTS),
    published={"p2_mpjpe_mm": 56.9, "p1_pa_mpjpe_mm": 35.7, "params_m": 2.24, "mupots_pck_rel_all": 77.6,
               "source": _PAPER, "paper_model": "MobileHumanPose-S",
               "note": _PAPER_NOTE.format(name="S", wm=0.75, emb=512, params=2.24, exact=2242000, ours="1.86")},
))
register_variant(ModelConfig(
    family="mobilehumanpose", variant="mobilehumanpose-lpres",
    arch={**DEFAULT_ARCH, "backbone": "LPRES"},
    description=("MobileHumanPose LPRES (LpNetResConcat): dense cross-scale concatenation, full-"
                 "resolution stem, 64x64x64 volume at 256x256 (the repo's config.py says 32/32; the "
                 "network emits 64). Heavy: 7.25 M params. " + _NO_WEIGHTS),
    published=dict(_NOT_REPORTED),
))
register_variant(ModelConfig(
    family="mobilehumanpose", variant="mobilehumanpose-lpwo",
    arch={**DEFAULT_ARCH, "backbone": "LPWO"},
    description=("MobileHumanPose LPWO (LpNetWoConcat): plain encoder-decoder without skips (the "
                 "paper's no-concatenation ablation), 64x64x64 volume at 256x256 (the repo's config.py "
                 "says 32/32; the network emits 64). " + _NO_WEIGHTS),
    published=dict(_NOT_REPORTED),
))
