"""ConvNeXtPose (Nguyen et al., IEEE Access 2023): ConvNeXt_BN backbone + depthwise upsampling head.

Checkpoint-compatible with medialab-ku/ConvNeXtPose (bare keys ``backbone.*`` / ``head.*``).
Backbone: ConvNeXt with BatchNorm2d instead of LayerNorm, ReLU instead of GELU, 1x1 Conv2d
pointwise layers (4-D weights), no layer scale; stem Conv 4x4/4 -> BN; downsampling BN -> Conv
2x2/2; final BN; stride 32. Head: three blocks (depthwise 3x3 -> BN -> 1x1 -> ReLU -> optional
x2 bilinear upsampling with align_corners=True), then a 1x1 conv to ``joint_num * depth_bins``
channels (channel = joint * depth_bins + z). The authors' head upsamples in blocks 1-2 only
(heatmap = input/8); ``upsample_layers=3`` upsamples in all three (input/4).

Outputs: ``forward_heatmaps`` -> logits [B, J*D, H/32*2^u, W/32*2^u]; ``forward`` -> [B, J, 3]
(x, y in heatmap pixels, z in depth bins, all 0-based).

Test-path conventions, pinned (medialab-ku/ConvNeXtPose @ 08352ee; checked from the JPEG by
``tests/eval/test_pipeline_conformance.py`` against the authors' recorded coordinates): image
``cv2.imread(path, IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION)`` (``data/dataset.py``
``DatasetLoader.__getitem__``); crop ``generate_patch_image`` / ``gen_trans_from_patch_cv`` (float32 point
pairs, ``cv2.warpAffine`` INTER_LINEAR) then BGR -> RGB and ``.astype(np.float32)``; normalisation
``Compose([ToTensor(), Normalize(cfg.pixel_mean, cfg.pixel_std)])`` (``common/base.py``
``Tester._make_batch_generator``, ImageNet mean/std in ``main/config.py``) on the float32 crop, i.e. pixel
range **0-255**, RGB; flip test ``main/test.py``: ``flip(input_img, dims=3)`` on the tensor,
``x -> cfg.output_shape[1] - x - 1``, ``flip_pairs`` swapped, (x, y, z) averaged.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelConfigError
from .config import check_input_size_and_counts, ModelConfig
from .keys import factor_channels, has_prefix, indices, need
from .registry import register_family, register_variant
from .codecs import VolumetricPoseModel

FAMILY = "convnextpose"
_SOURCE = ("Nguyen et al., ConvNeXtPose: A Fast Accurate Method for 3D Human Pose Estimation and its "
           "AR Fitness Application in Mobile Devices, IEEE Access 2023 (github.com/medialab-ku/ConvNeXtPose)")


class ConvNeXtBNBlock(nn.Module):
    """Residual block: x + pw2(relu(pw1(bn(dw7x7(x))))); shape-preserving."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.BatchNorm2d(dim)
        self.pwconv1 = nn.Conv2d(dim, 4 * dim, kernel_size=1)
        self.act = nn.ReLU(inplace=True)
        self.pwconv2 = nn.Conv2d(4 * dim, dim, kernel_size=1)
        self.drop_path = nn.Identity()  # stochastic depth is training-only; kept for the module layout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x)))))
        return x + self.drop_path(y)


class ConvNeXtBN(nn.Module):
    """ConvNeXt_BN trunk: image [B, 3, H, W] -> features [B, dims[-1], H/32, W/32]."""

    def __init__(self, depths, dims, in_channels: int = 3):
        super().__init__()
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(in_channels, dims[0], kernel_size=4, stride=4), nn.BatchNorm2d(dims[0]))]
        )
        for i in range(3):
            self.downsample_layers.append(
                nn.Sequential(nn.BatchNorm2d(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
            )
        self.stages = nn.ModuleList(
            [nn.Sequential(*[ConvNeXtBNBlock(dims[i]) for _ in range(depths[i])]) for i in range(4)]
        )
        self.norm = nn.BatchNorm2d(dims[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.norm(x)


class HeadBlock(nn.Module):
    """Depthwise 3x3 -> BN -> 1x1 -> ReLU -> (x2 bilinear, align_corners=True | identity)."""

    def __init__(self, in_channels: int, out_channels: int, upsample: bool):
        super().__init__()
        self.dwconv = nn.Conv2d(in_channels, in_channels, kernel_size=3, padding=1, groups=in_channels)
        self.norm = nn.BatchNorm2d(in_channels)
        self.pwconv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.act = nn.ReLU(inplace=True)
        self.upsample1 = nn.UpsamplingBilinear2d(scale_factor=2) if upsample else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample1(self.act(self.pwconv(self.norm(self.dwconv(x)))))


class ConvNeXtPoseHead(nn.Module):
    """Three head blocks (the first ``upsample_layers`` upsample x2) + 1x1 conv to J*D channels."""

    def __init__(self, in_channels: int, width: int, joint_num: int, depth_bins: int, upsample_layers: int):
        super().__init__()
        self.deconv_layers_1 = HeadBlock(in_channels, width, upsample_layers >= 1)
        self.deconv_layers_2 = HeadBlock(width, width, upsample_layers >= 2)
        self.deconv_layers_3 = HeadBlock(width, width, upsample_layers >= 3)
        self.final_layer = nn.Conv2d(width, joint_num * depth_bins, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers_3(self.deconv_layers_2(self.deconv_layers_1(x))))


class ConvNeXtPose(VolumetricPoseModel):
    """Image [B, 3, H, W] (ImageNet-normalised) -> joint coordinates [B, J, 3] in heatmap units."""

    def __init__(self, depths, dims, head_width: int, upsample_layers: int, joint_num: int, depth_bins: int):
        super().__init__()
        self.joint_num = int(joint_num)
        self.depth_bins = int(depth_bins)
        self.backbone = ConvNeXtBN(depths, dims)
        self.head = ConvNeXtPoseHead(dims[-1], head_width, self.joint_num, self.depth_bins, upsample_layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The authors' untrained init: conv weights trunc_normal(std 0.02, cut at +-2), biases 0, BN 1/0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_heatmaps(self, img: torch.Tensor) -> torch.Tensor:
        """Raw volumetric logits [B, J*D, Hm, Wm] (channel = joint * depth_bins + z)."""
        return self.head(self.backbone(img))



def _positive_ints(value, n: int | None, what: str, variant: str) -> list[int]:
    try:
        out = [int(v) for v in value]
    except (TypeError, ValueError):
        raise ModelConfigError(f"{variant}: arch {what} must be a list of integers, got {value!r}") from None
    if (n is not None and len(out) != n) or any(v <= 0 for v in out) or any(int(v) != v for v in value):
        raise ModelConfigError(f"{variant}: arch {what} must be {n} positive integers, got {value!r}")
    return out


def finalize(config: ModelConfig) -> ModelConfig:
    """Validate the arch and derive ``heatmap_size`` = input/32 * 2**upsample_layers (pixels)."""
    config = config.copy()
    arch = config.arch
    missing = {"depths", "dims", "head_width", "upsample_layers"} - set(arch)
    if missing:
        raise ModelConfigError(f"{config.variant}: convnextpose arch lacks {', '.join(sorted(missing))}")
    arch["depths"] = _positive_ints(arch["depths"], 4, "depths", config.variant)
    arch["dims"] = _positive_ints(arch["dims"], 4, "dims", config.variant)
    arch["head_width"] = _positive_ints([arch["head_width"]], 1, "head_width", config.variant)[0]
    up = arch["upsample_layers"]
    if isinstance(up, bool) or not isinstance(up, int) or not 0 <= up <= 3:
        raise ModelConfigError(f"{config.variant}: upsample_layers must be 0, 1, 2 or 3 (the authors' head: 2), "
                               f"got {up!r}")
    h, w = check_input_size_and_counts(config, 32, "backbone")
    config.heatmap_size = (h // 32 * 2 ** up, w // 32 * 2 ** up)
    return config


def build(config: ModelConfig) -> ConvNeXtPose:
    """Untrained ConvNeXtPose for a finalized config."""
    a = config.arch
    return ConvNeXtPose(a["depths"], a["dims"], a["head_width"], a["upsample_layers"],
                        config.joint_num, config.depth_bins)


def claims(keys) -> bool:
    """The authors' ConvNeXtPose key layout (``backbone.downsample_layers.*``, ``backbone.stages.*``)."""
    return has_prefix(keys, "backbone.downsample_layers.") or has_prefix(keys, "backbone.stages.")


def infer_arch(shapes, *, joint_num=None, depth_bins=None, upsample_layers=None, source="checkpoint") -> dict:
    """Stage depths and widths, head width and volume from the keys. ``upsample_layers`` is not in the keys:
    default 3 when the file has 64 depth bins, else 2."""
    dims = [need(shapes, "backbone.downsample_layers.0.0.weight", source, FAMILY)[0]]
    dims += [need(shapes, f"backbone.downsample_layers.{i}.1.weight", source, FAMILY)[0] for i in (1, 2, 3)]
    depths = [len(indices(shapes, f"backbone.stages.{i}.")) for i in range(4)]
    head_width = need(shapes, "head.deconv_layers_1.pwconv.weight", source, FAMILY)[0]
    channels = need(shapes, "head.final_layer.weight", source, FAMILY)[0]
    j, d = factor_channels(channels, joint_num=joint_num, depth_bins=depth_bins, source=source)
    up = upsample_layers if upsample_layers is not None else (3 if d == 64 else 2)
    return {"joint_num": j, "depth_bins": d,
            "arch": {"depths": depths, "dims": dims, "head_width": head_width, "upsample_layers": up}}


register_family(FAMILY, build, finalize, claims=claims, infer_arch=infer_arch, key_priority=10)

_FEMTO = ([3, 3, 9, 3], [48, 96, 192, 384])


def _variant(name, depths, dims, head_width, up, depth_bins, description, published):
    register_variant(ModelConfig(
        family=FAMILY, variant=name, joint_num=18, depth_bins=depth_bins,
        arch={"depths": depths, "dims": dims, "head_width": head_width, "upsample_layers": up},
        description=description,
        published={"source": _SOURCE, **published,
                   "gmacs_note": "the paper's 'GFLOPs' are multiply-accumulates at 256x256 input"},
    ))


_variant("convnextpose-xs", [2, 2, 6, 2], [40, 80, 160, 320], 128, 2, 32,
         "ConvNeXtPose-XS: ConvNeXt_BN [2,2,6,2]/[40,80,160,320], head 128, 2 upsampling blocks, "
         "32x32x32 heatmap (the repository's default config)",
         {"p2_mpjpe_mm": 56.61, "p1_pa_mpjpe_mm": None, "params_m": 3.53, "gmacs": 0.82})
_variant("convnextpose-s", *_FEMTO, 256, 2, 32,
         "ConvNeXtPose-S: femto ConvNeXt_BN [3,3,9,3]/[48,96,192,384], head 256, 2 upsampling blocks, "
         "32x32x32 heatmap",
         {"p2_mpjpe_mm": 51.80, "p1_pa_mpjpe_mm": None, "params_m": 7.44, "gmacs": 1.76})
_variant("convnextpose-m", *_FEMTO, 256, 3, 64,
         "ConvNeXtPose-M: femto backbone, head 256, all 3 head blocks upsample, 64x64x64 heatmap",
         {"p2_mpjpe_mm": 51.05, "p1_pa_mpjpe_mm": 34.5, "params_m": 7.59, "gmacs": 2.82})
_variant("convnextpose-l", *_FEMTO, 512, 3, 64,
         "ConvNeXtPose-L: femto backbone, head 512, all 3 head blocks upsample, 64x64x64 heatmap",
         {"p2_mpjpe_mm": 49.75, "p1_pa_mpjpe_mm": 32.8, "params_m": 8.38, "gmacs": 4.30})
