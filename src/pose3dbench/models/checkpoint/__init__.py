"""Read released checkpoints safely, infer the architecture from their keys, and load them.

One module per job:

- ``read``: files -> (bare state dict, info): ``.pth``, ``.pth.tar`` and torch zip archives under any name,
  legacy (pre-1.6, non-zip) torch files; ``torch.load(weights_only=True)`` first, full unpickling only with
  ``trust_checkpoint``; archives, images, HTML pages and truncated files refused with what they are.
- ``state``: the state dict inside a checkpoint (under ``network`` (3DMPPE / ConvNeXtPose), ``state_dict``,
  ``model``, ... or the whole file), ``module.`` (DataParallel) prefixes stripped, ``key -> shape``.
- ``infer``: family, architecture and registered variant from bare ``key -> shape`` mappings (the
  families' ``claims`` / ``infer_arch`` hooks); joints x depth bins from the final layer's channels.
- ``load``: strict loading with a key/shape diff, ``load_model``, ``inspect_checkpoint``, ``check_checkpoint``.

Coordinates are not touched here: a loaded model outputs heatmap units.
"""
from .infer import infer_architecture, infer_config, infer_family
from .load import (CheckpointWarning, check_checkpoint, check_dtypes, closest_variant, format_diff,
                   inspect_checkpoint, load_model, state_dict_diff)
from .read import read_checkpoint
from .state import state_dict_shapes

__all__ = [
    "CheckpointWarning", "check_checkpoint", "check_dtypes", "closest_variant", "format_diff", "infer_architecture",
    "infer_config", "infer_family", "inspect_checkpoint", "load_model", "read_checkpoint", "state_dict_diff",
    "state_dict_shapes",
]
