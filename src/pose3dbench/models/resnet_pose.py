"""ResNet-based families: 3DMPPE PoseNet, 3DMPPE RootNet, Integral Human Pose.

All three share ``backbone`` = ResNet with torchvision names (see ``resnet.py``) and a head of
3x [ConvTranspose2d(k4, s2, p1, no bias) -> BN -> ReLU] (256 channels) that brings the stride-32
features to input/4 (64x64 at 256x256 input).

- ``posenet`` (mks0601/3DMPPE_POSENET_RELEASE): ``head.deconv_layers`` + ``head.final_layer``
  (1x1 conv with bias, ``joint_num * depth_bins`` channels).
- ``integral`` (JimmySuen/integral-human-pose): ``head_layout="msra"`` puts the same layers in a
  ModuleList ``head.features.{0..9}``; ``head_layout="3dmppe"`` (mks0601's re-implementation) has
  PoseNet's keys. The MSRA code reports normalised coordinates (x/W - 0.5, ...); ours are always in
  heatmap units (``to_msra_normalised`` converts).
- ``rootnet`` (mks0601/3DMPPE_ROOTNET_RELEASE): ``root.deconv_layers``, ``root.xy_layer`` (1 channel,
  2D soft-argmax), ``root.depth_layer`` (1x1 conv on the global-average-pooled backbone feature ->
  gamma); absolute root depth = gamma * k (mm). Config: joint_num 1, depth_bins 1 (unused).

Coordinates: x, y in heatmap pixels, z in depth bins, 0-based (RootNet: z in mm).

Test-path conventions, pinned (read at the commits named; ``tests/eval/test_pipeline_conformance.py``
checks PoseNet from the JPEG against the authors' recorded coordinates):

- PoseNet (mks0601/3DMPPE_POSENET_RELEASE @ dd025c5): image ``cv2.imread(path, IMREAD_COLOR |
  IMREAD_IGNORE_ORIENTATION)`` (BGR uint8, ``data/dataset.py`` ``DatasetLoader.__getitem__``); box = GT box
  after ``process_bbox`` or the bbox_root file's box as is (``data/Human36M/Human36M.py``); crop
  ``generate_patch_image`` / ``gen_trans_from_patch_cv`` (three float32 point pairs, ``cv2.warpAffine``
  INTER_LINEAR, zero border) then ``img_patch[:, :, ::-1]`` (RGB) and ``.astype(np.float32)`` (0..255);
  normalisation ``Compose([ToTensor(), Normalize(cfg.pixel_mean, cfg.pixel_std)])`` in ``common/base.py``
  ``Tester._make_batch_generator`` with ImageNet mean/std (``main/config.py``): ToTensor leaves a float32
  array unscaled, so the input range is **0-255**; flip test ``main/test.py``: ``flip(input_img, dims=3)`` on
  the normalised tensor, ``x -> cfg.output_shape[1] - x - 1``, joints of ``flip_pairs`` swapped, plain and
  mirrored (x, y, z) averaged.
- RootNet (mks0601/3DMPPE_ROOTNET_RELEASE @ 735ce21): same reading, crop and normalisation
  (``data/dataset.py``, ``common/base.py``: 0-255, RGB); no flip test (``main/test.py``); box = GT box after
  ``process_bbox`` (``use_gt_bbox = True`` in ``main/config.py``); ``k_value = sqrt(bbox_real[0] * bbox_real[1]
  * f[0] * f[1] / area)`` with ``area`` = w * h of that processed box and ``bbox_real = (2000, 2000)`` mm
  (``data/Human36M/Human36M.py``, ``data/dataset.py``), float32.
- Integral, re-implementation (mks0601/Integral-Human-Pose-Regression-for-3D-Human-Pose-Estimation
  @ 9093008, ``head_layout="3dmppe"``): the same ``generate_patch_image`` and ``Compose`` (0-255, RGB), the
  soft-argmax applied outside the network, flip test as PoseNet (``main/test.py``).
- Integral, MSRA (JimmySuen/integral-human-pose @ ad3f875, ``head_layout="msra"``):
  ``common/utility/image_processing_cv.py`` ``get_single_patch_sample``: same ``cv2.imread`` flags and the same
  float32 ``gen_trans_from_patch_cv``; ``convert_cvimg_to_tensor`` (BGR -> RGB, float32 0..255); then
  ``(p - mean[c]) / std[c]`` with ``mean = 255 * (0.485, 0.456, 0.406)``, ``std = 255 * (0.229, 0.224, 0.225)``
  (``common_pytorch/config_pytorch.py``): range 0-255 with mean/std (123.675, ...), (58.395, ...). Flip test
  ``common_pytorch/net_modules.py`` ``validNet`` (``flip_fea_merge=False`` in ``integral_human_pose/test.py``):
  the mirrored pass is mapped back **in input-patch pixels**, ``x_px -> patch_width - x_px - 1`` with
  ``x_px = x_hm * patch_width / W_hm`` (``flip_mirror="patch"``), i.e. 63.75 - x instead of 63 - x in heatmap
  units at 256 -> 64. Its test box is the projection of a 2000 mm square around the ground-truth pelvis
  (``dataset/hm36.py`` ``from_worldjt_to_imagejt``); this tool gives every family the 3DMPPE box.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ModelConfigError
from .config import IMAGENET_MEAN, IMAGENET_STD, check_input_size_and_counts, ModelConfig
from .keys import factor_channels, has_prefix, indices, need, resnet_depth
from .registry import register_family, register_variant
from .resnet import ResNetBackbone, resnet_out_channels
from .codecs import VolumetricPoseModel, soft_argmax_2d

_POSENET_SOURCE = ("Moon, Chang, Lee, Camera Distance-aware Top-down Approach for 3D Multi-person Pose "
                   "Estimation from a Single RGB Image, ICCV 2019 (github.com/mks0601/3DMPPE_POSENET_RELEASE)")
_ROOTNET_SOURCE = ("Moon, Chang, Lee, Camera Distance-aware Top-down Approach for 3D Multi-person Pose "
                   "Estimation from a Single RGB Image, ICCV 2019 (github.com/mks0601/3DMPPE_ROOTNET_RELEASE)")
_INTEGRAL_SOURCE = ("Sun, Xiao, Wei, Liang, Wei, Integral Human Pose Regression, ECCV 2018 "
                    "(github.com/JimmySuen/integral-human-pose); re-implementation P2: "
                    "github.com/mks0601/Integral-Human-Pose-Regression-for-3D-Human-Pose-Estimation")

DECONV_WIDTH = 256
DECONV_LAYERS = 3
#: The MSRA Integral code's mean/std: ImageNet's times 255 in float64 (``config_pytorch.py``), on 0-255 pixels.
MSRA_MEAN = tuple(v * 255 for v in IMAGENET_MEAN)
MSRA_STD = tuple(v * 255 for v in IMAGENET_STD)


def _deconv_stack(in_channels: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(DECONV_LAYERS):
        layers += [
            nn.ConvTranspose2d(in_channels if i == 0 else DECONV_WIDTH, DECONV_WIDTH, kernel_size=4, stride=2,
                               padding=1, output_padding=0, bias=False),
            nn.BatchNorm2d(DECONV_WIDTH),
            nn.ReLU(inplace=True),
        ]
    return layers


def _init_head(module: nn.Module) -> None:
    """The authors' head init: (transposed) conv weights normal(0, 0.001), biases 0, BN 1/0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, mean=0.0, std=0.001)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class PoseNetHead(nn.Module):
    """3DMPPE layout: ``deconv_layers`` (Sequential) + ``final_layer``; stride 32 -> stride 4."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.deconv_layers = nn.Sequential(*_deconv_stack(in_channels))
        self.final_layer = nn.Conv2d(DECONV_WIDTH, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(x))


class MSRADeconvHead(nn.Module):
    """Integral Human Pose (MSRA) layout: ModuleList ``features`` = 3x (ConvT, BN, ReLU) + 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.features = nn.ModuleList(_deconv_stack(in_channels) + [nn.Conv2d(DECONV_WIDTH, out_channels, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.features:
            x = layer(x)
        return x


@dataclass(frozen=True)
class HeadLayout:
    """A head key layout of the PoseNet-style families and the input convention of the code its checkpoints come
    from (the module docstring cites each): the head module, ``mean``/``std`` on 0-255 pixels, ``flip_mirror``."""

    head: type[nn.Module]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    flip_mirror: str


#: head_layout -> head and input convention. ``msra``: the MSRA Integral code (JimmySuen/integral-human-pose):
#: ImageNet mean/std x 255 and the flip test mirrored in patch pixels; ``3dmppe``: mks0601's code (PoseNet, the
#: Integral re-implementation): ImageNet mean/std and the heatmap mirror. Both feed 0-255 RGB crops.
HEAD_LAYOUTS: dict[str, HeadLayout] = {
    "msra": HeadLayout(MSRADeconvHead, MSRA_MEAN, MSRA_STD, "patch"),
    "3dmppe": HeadLayout(PoseNetHead, IMAGENET_MEAN, IMAGENET_STD, "heatmap"),
}


class ResNetPoseNet(VolumetricPoseModel):
    """PoseNet / Integral: image [B, 3, H, W] -> [B, J, 3] (x, y, z) in heatmap units (0-based)."""

    def __init__(self, resnet_depth: int, joint_num: int, depth_bins: int, head_layout: str = "3dmppe"):
        super().__init__()
        self.joint_num = int(joint_num)
        self.depth_bins = int(depth_bins)
        self.backbone = ResNetBackbone(resnet_depth)
        head_cls = HEAD_LAYOUTS["msra" if head_layout == "msra" else "3dmppe"].head
        self.head = head_cls(self.backbone.out_channels, self.joint_num * self.depth_bins)
        _init_head(self.head)

    def forward_heatmaps(self, img: torch.Tensor) -> torch.Tensor:
        """Raw volumetric logits [B, J*D, H/4, W/4] (channel = joint * depth_bins + z)."""
        return self.head(self.backbone(img))



class RootNetHead(nn.Module):
    """``deconv_layers`` -> ``xy_layer`` (1-channel logits); ``depth_layer`` on the pooled feature."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.deconv_layers = nn.Sequential(*_deconv_stack(in_channels))
        self.xy_layer = nn.Conv2d(DECONV_WIDTH, 1, kernel_size=1)
        self.depth_layer = nn.Conv2d(in_channels, 1, kernel_size=1)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone feature -> (xy logits [B, 1, Hm, Wm], gamma [B, 1])."""
        xy = self.xy_layer(self.deconv_layers(feat))
        gamma = self.depth_layer(feat.mean(dim=(2, 3), keepdim=True)).reshape(-1, 1)
        return xy, gamma


class RootNet(nn.Module):
    """3DMPPE RootNet: (image [B, 3, H, W], k [B, 1] mm) -> [B, 3] = (x, y heatmap px, depth mm).

    ``takes_k_value`` tells callers that ``forward`` needs k (``models.codecs.RootCodec.k_value``).
    """

    takes_k_value = True

    def __init__(self, resnet_depth: int):
        super().__init__()
        self.joint_num = 1
        self.depth_bins = 1
        self.backbone = ResNetBackbone(resnet_depth)
        self.root = RootNetHead(self.backbone.out_channels)
        _init_head(self.root)

    def forward_heatmaps(self, img: torch.Tensor) -> torch.Tensor:
        """xy logits [B, 1, H/4, W/4] before the 2D softmax."""
        return self.root(self.backbone(img))[0]

    def forward_gamma(self, img: torch.Tensor) -> torch.Tensor:
        """gamma [B, 1] (depth = gamma * k; no activation)."""
        return self.root(self.backbone(img))[1]

    def coords_from_heatmaps(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """xy logits [B, 1, Hm, Wm] -> [B, 2] (x, y) in heatmap units (0-based soft-argmax)."""
        return soft_argmax_2d(heatmaps)

    def forward_with_gamma(self, img: torch.Tensor, k_value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass: (coord [B, 3] = (x_hm, y_hm, gamma * k in mm), gamma [B, 1])."""
        xy_logits, gamma = self.root(self.backbone(img))
        k = torch.as_tensor(k_value, dtype=gamma.dtype, device=gamma.device).reshape(-1, 1)
        if k.shape[0] != gamma.shape[0]:
            raise ValueError(f"RootNet: k_value has {k.shape[0]} entries for a batch of {gamma.shape[0]} images")
        depth = gamma * k
        return torch.cat((self.coords_from_heatmaps(xy_logits).to(depth.dtype), depth), dim=1), gamma

    def forward(self, img: torch.Tensor, k_value: torch.Tensor) -> torch.Tensor:
        return self.forward_with_gamma(img, k_value)[0]


def to_msra_normalised(coords: torch.Tensor, heatmap_size: tuple[int, int], depth_bins: int) -> torch.Tensor:
    """Heatmap units [..., 3] -> the Integral (MSRA) code's normalised (x/W - 0.5, y/H - 0.5, z/D - 0.5)."""
    h, w = heatmap_size
    scale = coords.new_tensor([w, h, depth_bins])
    return coords / scale - 0.5


def from_msra_normalised(coords: torch.Tensor, heatmap_size: tuple[int, int], depth_bins: int) -> torch.Tensor:
    """Inverse of ``to_msra_normalised``: normalised [..., 3] -> heatmap units."""
    h, w = heatmap_size
    return (coords + 0.5) * coords.new_tensor([w, h, depth_bins])


# --------------------------------------------------------------------------- registry


def _finalize_common(config: ModelConfig) -> ModelConfig:
    config = config.copy()
    if "resnet_depth" not in config.arch:
        raise ModelConfigError(f"{config.variant}: arch lacks resnet_depth (18, 34, 50, 101 or 152)")
    resnet_out_channels(config.arch["resnet_depth"])  # validates
    config.arch["resnet_depth"] = int(config.arch["resnet_depth"])
    h, w = check_input_size_and_counts(config, 32, "ResNet")
    config.heatmap_size = (h // 32 * 2 ** DECONV_LAYERS, w // 32 * 2 ** DECONV_LAYERS)
    return config


def finalize_posenet(config: ModelConfig) -> ModelConfig:
    """Validate; heatmap_size = input/4 (pixels)."""
    return _finalize_common(config)


def finalize_integral(config: ModelConfig) -> ModelConfig:
    """Validate (incl. head_layout, default "msra"); heatmap_size = input/4; input convention of the layout.

    The layout's convention is the declared one (``HEAD_LAYOUTS``). It replaces another layout's defaults only,
    so an explicit ``mean``/``std``/``flip_mirror`` override is kept.
    """
    config = _finalize_common(config)
    layout = config.arch.setdefault("head_layout", "msra")
    if layout not in HEAD_LAYOUTS:
        raise ModelConfigError(f"{config.variant}: head_layout must be one of {', '.join(HEAD_LAYOUTS)}, "
                               f"got {layout!r}")
    want = HEAD_LAYOUTS[layout]
    others = [conv for name, conv in HEAD_LAYOUTS.items() if name != layout]
    if any(tuple(config.mean) == tuple(o.mean) and tuple(config.std) == tuple(o.std) for o in others):
        config.mean, config.std = tuple(want.mean), tuple(want.std)
    if any(config.flip_mirror == o.flip_mirror != want.flip_mirror for o in others):
        config.flip_mirror = want.flip_mirror
    return config


def finalize_rootnet(config: ModelConfig) -> ModelConfig:
    """Validate; heatmap_size = input/4; joint_num and depth_bins are fixed at 1 (one root, depth regressed)."""
    config = _finalize_common(config)
    config.joint_num = 1
    config.depth_bins = 1
    return config


def build_posenet(config: ModelConfig) -> ResNetPoseNet:
    return ResNetPoseNet(config.arch["resnet_depth"], config.joint_num, config.depth_bins, "3dmppe")


def build_integral(config: ModelConfig) -> ResNetPoseNet:
    return ResNetPoseNet(config.arch["resnet_depth"], config.joint_num, config.depth_bins,
                         config.arch.get("head_layout", "msra"))


def build_rootnet(config: ModelConfig) -> RootNet:
    return RootNet(config.arch["resnet_depth"])


def claims_posenet(keys) -> bool:
    """3DMPPE PoseNet's head (``head.deconv_layers.*`` + ``head.final_layer``), also the Integral
    re-implementation's."""
    return has_prefix(keys, "head.deconv_layers.") and has_prefix(keys, "head.final_layer.")


def claims_rootnet(keys) -> bool:
    return has_prefix(keys, "root.")


def claims_integral(keys) -> bool:
    """The MSRA Integral head (``head.features.N``)."""
    return has_prefix(keys, "head.features.")


def _infer_pose_arch(family: str, shapes, joint_num, depth_bins, source) -> dict:
    msra = has_prefix(shapes, "head.features.")
    if msra:
        convs = [i for i in indices(shapes, "head.features.") if len(shapes.get(f"head.features.{i}.weight", ())) == 4]
        final_key = f"head.features.{convs[-1]}.weight"
    else:
        final_key = "head.final_layer.weight"
    channels = need(shapes, final_key, source, family)[0]
    j, d = factor_channels(channels, joint_num=joint_num, depth_bins=depth_bins, source=source)
    arch: dict = {"resnet_depth": resnet_depth(shapes, source)}
    if family == "integral":
        arch["head_layout"] = "msra" if msra else "3dmppe"
    return {"joint_num": j, "depth_bins": d, "arch": arch}


def infer_arch_posenet(shapes, *, joint_num=None, depth_bins=None, upsample_layers=None, source="checkpoint"):
    return _infer_pose_arch("posenet", shapes, joint_num, depth_bins, source)


def infer_arch_integral(shapes, *, joint_num=None, depth_bins=None, upsample_layers=None, source="checkpoint"):
    return _infer_pose_arch("integral", shapes, joint_num, depth_bins, source)


def infer_arch_rootnet(shapes, *, joint_num=None, depth_bins=None, upsample_layers=None, source="checkpoint"):
    """ResNet depth only: joints and depth bins are not in RootNet's keys."""
    need(shapes, "root.xy_layer.weight", source, "rootnet")
    need(shapes, "root.depth_layer.weight", source, "rootnet")
    return {"joint_num": None, "depth_bins": None, "arch": {"resnet_depth": resnet_depth(shapes, source)}}


register_family("posenet", build_posenet, finalize_posenet, claims=claims_posenet, infer_arch=infer_arch_posenet,
                key_priority=50)
register_family("rootnet", build_rootnet, finalize_rootnet, claims=claims_rootnet, infer_arch=infer_arch_rootnet,
                key_priority=30, output_kind="root")
register_family("integral", build_integral, finalize_integral, claims=claims_integral,
                infer_arch=infer_arch_integral, also_reads=("posenet",), key_priority=40)

_NO_NUMBERS = {"p2_mpjpe_mm": None, "p1_pa_mpjpe_mm": None, "params_m": None, "gmacs": None}

for _depth in (50, 101, 152):
    _is50 = _depth == 50
    register_variant(ModelConfig(
        family="posenet", variant=f"posenet-r{_depth}", joint_num=18, depth_bins=64,
        arch={"resnet_depth": _depth},
        description=f"3DMPPE PoseNet, ResNet-{_depth} + 3 deconv (256) + 1x1, 64x64x64 heatmap",
        published=({"p2_mpjpe_mm": 53.3, "p2_mpjpe_rootnet_mm": 54.4, "p1_pa_mpjpe_mm": 34.0,
                    "params_m": None, "gmacs": None, "published_for": "posenet-r50",
                    "note": "P2 53.3 with ground-truth root depth, 54.4 with RootNet's root",
                    "source": _POSENET_SOURCE} if _is50 else
                   {**_NO_NUMBERS, "published_for": "posenet-r50",
                    "note": "no published Human3.6M numbers for this depth", "source": _POSENET_SOURCE}),
    ))
    register_variant(ModelConfig(
        family="integral", variant=f"integral-r{_depth}", joint_num=18, depth_bins=64,
        arch={"resnet_depth": _depth, "head_layout": "msra"}, mean=HEAD_LAYOUTS["msra"].mean,
        std=HEAD_LAYOUTS["msra"].std, flip_mirror=HEAD_LAYOUTS["msra"].flip_mirror,
        description=(f"Integral Human Pose Regression, ResNet-{_depth} + 3 deconv (256) + 1x1, 64x64x64 heatmap "
                     "(MSRA key layout; head_layout='3dmppe' for the re-implementation's keys)"),
        published=({"p2_mpjpe_mm": 49.6, "p1_pa_mpjpe_mm": 40.6, "p2_mpjpe_reimpl_mm": 53.9,
                    "params_m": None, "gmacs": None, "published_for": "integral-r50",
                    "note": "paper: ResNet-50 (P2 49.6, P1 40.6); mks0601 re-implementation P2 53.9",
                    "source": _INTEGRAL_SOURCE} if _is50 else
                   {**_NO_NUMBERS, "published_for": "integral-r50",
                    "note": "no published Human3.6M numbers for this depth", "source": _INTEGRAL_SOURCE}),
    ))

register_variant(ModelConfig(
    family="rootnet", variant="rootnet-r50", joint_num=1, depth_bins=1, arch={"resnet_depth": 50},
    description=("3DMPPE RootNet, ResNet-50: root (x, y) by 2D soft-argmax on 64x64, absolute depth = gamma * k (mm); "
                 "joint_num/depth_bins are 1 and unused"),
    published={**_NO_NUMBERS, "mrpe_mm": 120.0, "mrpe_x_mm": 23.3, "mrpe_y_mm": 23.0, "mrpe_z_mm": 108.1,
               "published_for": "rootnet-r50", "source": _ROOTNET_SOURCE},
))
del _depth, _is50
