"""Model zoo: ConvNeXtPose, 3DMPPE PoseNet/RootNet, MobileHumanPose, Integral Human Pose.

Every pose model maps a normalised image batch [B, 3, H, W] to coordinates [B, J, 3] in heatmap
units (x, y in output-heatmap pixels, z in depth bins); ``forward_heatmaps`` returns the raw
network output (NCHW, channel = joint * depth_bins + z). RootNet maps (img, k_value [B, 1]) to
[B, 3] = (x, y in heatmap units, depth in mm). ``codecs.codec_for(model)`` says which of the two a model is
and turns its output into pixels and camera millimetres.
"""
from .config import ModelConfig
from .registry import available, build_from_config, create, families, get_config

__all__ = ["ModelConfig", "available", "build_from_config", "create", "families", "get_config"]
