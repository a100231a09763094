"""Every registered variant: build, save as the authors do, load strictly (named and by its keys), run.

Parametrised over ``models.available()``: a family added to the registry is covered without editing
this file. CPU, batch 1 at the variant's own input size, untrained weights from a fixed seed.
"""
from __future__ import annotations

import pytest
import torch

from pose3dbench import load_model, models
from pose3dbench.models.codecs import codec_for
from pose3dbench.models.input import example_input


@pytest.mark.parametrize("name", models.available())
def test_build_save_load_run(name, tmp_path, one_thread):
    torch.manual_seed(0)
    model = models.create(name).eval()
    cfg = model.config
    path = tmp_path / f"{name}.pth.tar"
    torch.save({"network": {"module." + k: v for k, v in model.state_dict().items()}, "epoch": 3}, path)

    named = load_model(str(path), name)  # strict: every key and shape must fit the variant
    inferred = load_model(str(path))  # family and configuration from the keys alone
    assert named.config.to_dict() == cfg.to_dict()
    assert inferred.config.variant == name and inferred.config.to_dict() == cfg.to_dict()
    assert named.checkpoint_info["epoch"] == 3
    for a, b in zip(model.state_dict().values(), named.state_dict().values()):
        assert torch.equal(a, b)

    x = example_input(cfg, batch_size=1)
    codec = codec_for(model)  # RootNet: forward(img, k_value = 3000 mm) -> [1, 3]
    with torch.inference_mode():
        out, again = model(*codec.example_inputs(x)), named(*codec.example_inputs(x))
        if codec.output_kind == "root":
            assert out.shape == (1, 3)
        else:
            assert out.shape == (1, cfg.joint_num, 3)  # (x, y, z) in heatmap units
            h, w = cfg.heatmap_size
            assert (out[..., 0] >= 0).all() and (out[..., 0] <= w - 1).all()
            assert (out[..., 1] >= 0).all() and (out[..., 1] <= h - 1).all()
            assert (out[..., 2] >= 0).all() and (out[..., 2] <= cfg.depth_bins - 1).all()
    assert torch.isfinite(out).all()
    assert torch.equal(out, again)
