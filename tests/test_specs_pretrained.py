"""`--model NAME:pretrained` resolves the authors' weights through the weights registry, and
`SPEC@key=value` passes architecture overrides a state dict cannot tell."""
from __future__ import annotations

import pytest
import torch

from pose3dbench.models import create
from pose3dbench.specs import resolve_model_spec
from pose3dbench.errors import ModelSpecError
from pose3dbench.weights.cache import entry_dir
from pose3dbench.errors import WeightsError
from pose3dbench.weights.registry import get_entry


def _save_authors_style(model, path):
    torch.save({"network": {"module." + k: v for k, v in model.state_dict().items()}, "epoch": 24}, path)


def test_pretrained_uses_a_manually_placed_file(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE3DBENCH_CACHE", str(tmp_path / "cache"))
    entry = get_entry("convnextpose-xs:pretrained")
    folder = entry_dir(entry.name)
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    source = create("convnextpose-xs")
    _save_authors_style(source, folder / entry.file_name)
    model, info = resolve_model_spec("convnextpose-xs:pretrained")
    assert info.weights == "checkpoint" and info.weights_entry == entry.name
    assert model.config.variant == "convnextpose-xs"
    for k, v in source.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_pretrained_offline_error_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE3DBENCH_CACHE", str(tmp_path / "cache"))
    entry = get_entry("convnextpose-xs:pretrained")
    with pytest.raises(WeightsError) as exc:
        resolve_model_spec("convnextpose-xs:pretrained")
    assert entry.file_name in str(exc.value) and str(entry_dir(entry.name)) in str(exc.value)


def test_overrides_suffix(tmp_path):
    model, info = resolve_model_spec("convnextpose-m@upsample_layers=2")
    assert tuple(model.config.heatmap_size) == (32, 32) and info.overrides == {"upsample_layers": 2}
    ckpt = tmp_path / "m_up2.tar"
    _save_authors_style(model, ckpt)
    default, _ = resolve_model_spec(f"convnextpose-m={ckpt}")
    assert tuple(default.config.heatmap_size) == (64, 64)  # 64 bins: up3 unless told otherwise
    up2, _ = resolve_model_spec(f"convnextpose-m={ckpt}@upsample_layers=2")
    assert tuple(up2.config.heatmap_size) == (32, 32)
    with pytest.raises(ModelSpecError):
        resolve_model_spec("convnextpose-m@upsample_layers")


def test_misnamed_checkpoint_is_labelled_with_what_it_is(tmp_path):
    ckpt = tmp_path / "ConvNeXtPose_L.tar"  # really an XS file
    _save_authors_style(create("convnextpose-xs"), ckpt)
    with pytest.warns(Warning, match="convnextpose-xs"):
        model, info = resolve_model_spec(f"convnextpose-l={ckpt}")
    assert model.config.variant == "convnextpose-xs" and info.name == "convnextpose-xs"


def test_named_variant_with_head_override_keeps_its_name_and_paper_numbers(tmp_path, recwarn):
    # the authors' released ConvNeXtPose-M runs with 2 upsampling blocks (their code cannot build 3)
    ckpt = tmp_path / "ConvNeXtPose_M.tar"
    _save_authors_style(create("convnextpose-m", upsample_layers=2), ckpt)
    model, info = resolve_model_spec(f"convnextpose-m={ckpt}@upsample_layers=2")
    assert model.config.variant == "convnextpose-m" and info.name == "convnextpose-m"
    assert tuple(model.config.heatmap_size) == (32, 32)
    assert model.config.published.get("p2_mpjpe_mm") == 51.05
    assert not [w for w in recwarn.list if "you asked for" in str(w.message)]
