"""The network conformance vectors of tests/fixtures/conformance (copied from ../shared/conformance).

Recipe v1 fills a state dict deterministically from the bare key names; the recorded outputs come
from the authors' original code (see tests/fixtures/conformance/README.md).
"""
from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

CONFORMANCE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "conformance"
CONFIG_NAMES = sorted(p.stem for p in CONFORMANCE_DIR.glob("*.json"))


def load_vector(name: str) -> dict:
    return json.loads((CONFORMANCE_DIR / f"{name}.json").read_text())


def recipe_v1(manifest_or_state: dict | list) -> dict[str, torch.Tensor]:
    """Recipe v1 state dict from a ``{name: tensor}`` state dict or the JSON ``state_dict`` manifest."""
    if isinstance(manifest_or_state, dict):
        items = [(k, tuple(t.shape), "float" if t.is_floating_point() else "int") for k, t in manifest_or_state.items()]
    else:
        items = [(k, tuple(shape), dtype) for k, shape, dtype in manifest_or_state]
    out = {}
    for name, shape, dtype in items:
        if "float" not in dtype:
            out[name] = torch.zeros(shape, dtype=torch.int64)
            continue
        u = np.random.default_rng(zlib.crc32(name.encode("utf-8"))).random(shape)
        last = name.split(".")[-1]
        if last == "running_var":
            v = 0.5 + u
        elif last in ("running_mean", "bias"):
            v = 0.2 * (u - 0.5)
        elif last == "weight" and len(shape) == 1:
            v = 0.5 + 0.5 * u
        elif last == "weight":
            v = (2 * u - 1) * math.sqrt(3.0 / math.prod(shape[1:]))
        else:
            v = 0.2 * (u - 0.5)
        out[name] = torch.from_numpy(np.asarray(v).astype(np.float32))
    return out


def conformance_input(vector: dict) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(12345).standard_normal((2, 3, 256, 256)).astype(np.float32))


ROOTNET_K_VALUE = torch.tensor([[3000.0], [4500.0]], dtype=torch.float32)


def synthetic_heatmap(shape) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(99).standard_normal(tuple(shape)).astype(np.float32) * 4)


def assert_close(mine, ref, tol: dict, what: str) -> None:
    mine = np.asarray(mine, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert mine.shape == ref.shape, f"{what}: shape {mine.shape} != {ref.shape}"
    ok = np.allclose(mine, ref, rtol=tol.get("rtol", 1e-5), atol=tol.get("atol", 0.0))
    if not ok:
        diff = np.abs(mine - ref)
        raise AssertionError(f"{what}: max abs diff {diff.max():.3g} (tol {tol})")


def check_heatmap(heatmap: torch.Tensor, vector: dict) -> None:
    """Compare a raw network output with the recorded fingerprint."""
    ref = vector["outputs"]["heatmap"]
    tols = vector["verification"]["suggested_tolerances"]
    hm = heatmap.detach().contiguous().cpu()
    assert list(hm.shape) == ref["shape"], f"heatmap shape {list(hm.shape)} != {ref['shape']}"
    flat = hm.reshape(-1)
    assert_close(flat[ref["sample_indices"]].numpy(), ref["samples"], tols["heatmap_samples"], "heatmap samples")
    h64 = flat.double()
    assert_close(h64.sum().item(), ref["sum"], {"rtol": tols["heatmap_sum"]["rtol"], "atol": 0}, "heatmap sum")
    assert_close(h64.abs().mean().item(), ref["mean_abs"], {"rtol": tols["heatmap_mean_abs"]["rtol"], "atol": 0},
                 "heatmap mean |x|")


def manifest(model: nn.Module) -> list:
    return [[k, list(t.shape), str(t.dtype).replace("torch.", "")] for k, t in model.state_dict().items()]


def leaf_modules(model: nn.Module) -> list:
    """[name, repr] of every leaf module except ReLU, BatchNorm abbreviated as in the vectors."""
    out = []
    for name, m in model.named_modules():
        if list(m.children()) or isinstance(m, nn.ReLU):
            continue
        if isinstance(m, nn.BatchNorm2d):
            assert m.momentum == 0.1 and m.affine and m.track_running_stats, name
            out.append([name, f"BatchNorm2d({m.num_features}, eps={m.eps})"])
        else:
            out.append([name, repr(m)])
    return out
