"""Cost profiler: parameters, MACs/FLOPs, latency, throughput and peak memory of one model.

Every figure in the returned dict carries a label saying how it was made:

* ``params``: trainable parameter count (``requires_grad``), ``params_m`` in millions.
* ``macs`` / ``flops``: for ONE image of ``input_size``, counted by
  ``torch.utils.flop_counter.FlopCounterMode``, which counts only convolutions (incl. transposed
  and depthwise), matrix multiplications and attention, as FLOPs = 2 * multiply-accumulates.
  BatchNorm, activations, pooling, upsampling and the soft-argmax are not counted. The papers'
  "GFLOPs" for these networks are multiply-accumulates: compare them with ``gmacs``.
* latency: wall-clock ms per forward call (``time.perf_counter``, ``torch.cuda.synchronize``
  before and after each call on CUDA), under ``torch.inference_mode`` and ``model.eval()``,
  after warm-up runs; median and 90th percentile over the timed runs.
* throughput: images/s = batch size / median batch latency, at the largest batch size.
* peak memory: CUDA = ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``
  (tensor memory held by the caching allocator, weights included; ``increase_mb`` excludes what was
  allocated before the forward). CPU = peak increase of the process resident set size (RSS)
  during one forward over the RSS just before it: the kernel's own peak (``VmHWM``), reset through
  ``/proc/self/clear_refs`` before the forward, or where that reset is unavailable a background
  thread sampling ``/proc/self/statm`` every ~0.5 ms. ``malloc_trim(0)`` runs first so memory the
  C allocator cached from earlier runs is returned (otherwise the increase reads ~0). It covers
  everything the process touches (tensors, oneDNN scratch), not only torch tensors.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import inspect
import os
import threading
import time
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..devices import environment, resolve_device
from ..errors import ProfileError
from ..models.codecs import DEFAULT_K_VALUE, codec_for

__all__ = [
    "ProfileError",
    "count_parameters",
    "count_macs",
    "profile_model",
    "make_inputs",
    "needs_k_value",
    "format_table",
]

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_MB = 1024.0 * 1024.0


# --------------------------------------------------------------------------- helpers


def needs_k_value(model: nn.Module) -> bool:
    """True for RootNet-style models whose forward takes ``(img, k_value)``.

    Decided by the model's codec (``models.codecs.codec_for(model).takes_k_value``: a root-output family
    such as RootNet, or a model declaring ``takes_k_value``) or, for other modules, by a forward parameter
    named ``k_value``.
    """
    if codec_for(model).takes_k_value:
        return True
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False
    return "k_value" in params


def make_inputs(model: nn.Module, batch_size: int, input_size: Sequence[int] = (256, 256),
                device: str | torch.device = "cpu") -> tuple[torch.Tensor, ...]:
    """Random float32 inputs: image ``[B, 3, H, W]`` and, for RootNet-style models, ``k_value [B, 1]`` in
    mm (``models.codecs.DEFAULT_K_VALUE``). The image is made as ``run`` makes it: uniform uint8 noise crops through
    the model's own input convention (``models.input.normalize_crops``: pixel range, channel order,
    mean/std), so the values a profiled network sees have the scale of real input; models without a
    ``config`` get N(0, 1) values."""
    h, w = (int(v) for v in input_size)
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "mean") and hasattr(cfg, "std"):
        from ..models.input import example_input

        img = example_input(_SizedConfig(cfg, (h, w)), batch_size, seed=0, device=device)
    else:
        gen = torch.Generator().manual_seed(0)
        img = torch.randn(batch_size, 3, h, w, generator=gen).to(device)
    if needs_k_value(model):
        k = torch.full((batch_size, 1), DEFAULT_K_VALUE, dtype=torch.float32, device=device)
        return img, k
    return (img,)


class _SizedConfig:
    """A model config seen with another ``input_size`` (profiling at a size other than the config's)."""

    def __init__(self, cfg: Any, input_size: tuple[int, int]):
        self._cfg, self.input_size = cfg, input_size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cfg, name)


def count_parameters(model: nn.Module) -> dict[str, Any]:
    """Parameter counts: trainable (``params``), all parameters, and buffer elements (BN stats)."""
    trainable = total = 0
    for p in model.parameters():  # parameters() de-duplicates shared tensors
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return {
        "params": int(trainable),
        "params_m": round(trainable / 1e6, 4),
        "params_all": int(total),
        "buffer_elements": int(buffers),
        "params_method": "sum of numel() of parameters with requires_grad (BatchNorm running stats "
                         "are buffers, counted separately in buffer_elements)",
    }


def count_macs(model: nn.Module, inputs: Sequence[torch.Tensor]) -> dict[str, Any]:
    """FLOPs and MACs of one forward call on ``inputs``, divided by the batch size (per image).

    Uses ``FlopCounterMode`` (FLOPs = 2 * MACs; conv/matmul/attention only). ``by_op`` lists
    FLOPs per aten operator for the whole batch.
    """
    batch = int(inputs[0].shape[0])
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(*inputs)
    total = int(counter.get_total_flops())
    by_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    flops = total // batch
    macs = flops // 2
    return {
        "macs": int(macs),
        "flops": int(flops),
        "gmacs": round(macs / 1e9, 4),
        "gflops": round(flops / 1e9, 4),
        "flops_by_op": by_op,
        "complexity_method": (
            "torch.utils.flop_counter.FlopCounterMode, one input of shape {} per image; FLOPs = 2*MACs, counting "
            "convolutions (incl. transposed/depthwise), matmuls and attention only (BatchNorm, "
            "activations, pooling, upsampling, softmax/soft-argmax not counted). The papers' 'GFLOPs' "
            "for these networks are MACs: compare them with gmacs.".format(list(inputs[0].shape[1:]))
        ),
    }


# --------------------------------------------------------------------------- memory


class _RssSampler:
    """Background thread that records the maximum resident set size (bytes) of this process."""

    def __init__(self, period_s: float = 0.0005):
        self.period_s = period_s
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def read(self) -> int:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.read())
            self.samples += 1
            self._stop.wait(self.period_s)

    def __enter__(self) -> "_RssSampler":
        self.peak = self.read()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.read())


def _rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _status_bytes(field: str) -> int:
    """A ``kB`` field of /proc/self/status (e.g. ``VmHWM``, the peak RSS) in bytes."""
    with open("/proc/self/status", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field}")


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0); True only if VmHWM really dropped to RSS."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return _status_bytes("VmHWM") <= _rss_bytes() + (1 << 20)
    except (OSError, ValueError):
        return False


def _malloc_trim() -> bool:
    """Return freed heap memory to the OS (glibc only); False where unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def _peak_memory(run_once, device: torch.device, repeats: int = 2) -> dict[str, Any]:
    """Peak memory of ``run_once()`` (one forward); max over ``repeats`` measurements."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        run_once()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return {
            "peak_mb": round(peak / _MB, 2),
            "increase_mb": round((peak - base) / _MB, 2),
            "method": "cuda: torch.cuda.max_memory_allocated after reset_peak_memory_stats "
                      "(peak_mb includes weights; increase_mb = peak - allocated before the forward)",
        }
    if not os.path.exists("/proc/self/statm"):
        return {"peak_mb": None, "increase_mb": None,
                "method": "cpu: not measured (/proc/self/statm unavailable on this OS)"}
    best_inc, best_peak, samples, trimmed, used_hwm = 0, 0, 0, False, True
    for _ in range(max(1, repeats)):
        trimmed = _malloc_trim()
        base = _rss_bytes()
        if used_hwm and _reset_hwm():
            run_once()
            peak = _status_bytes("VmHWM")
        else:  # kernel peak not resettable here (non-Linux procfs, gVisor, ...): sample RSS instead
            used_hwm = False
            sampler = _RssSampler()
            with sampler:
                run_once()
            peak, samples = sampler.peak, samples + sampler.samples
        if peak - base >= best_inc:
            best_inc, best_peak = peak - base, peak
    how = ("the kernel's peak RSS (VmHWM in /proc/self/status) after resetting it with "
           "'5' > /proc/self/clear_refs" if used_hwm else
           "RSS sampled every ~0.5 ms from /proc/self/statm by a background thread (can miss spikes "
           "shorter than that)")
    out = {
        "peak_mb": round(best_peak / _MB, 2),
        "increase_mb": round(max(best_inc, 0) / _MB, 2),
        "method": f"cpu: peak process RSS increase during one forward over the RSS just before it; {how}"
                  + ("; malloc_trim(0) first, so memory cached by the C allocator from earlier runs is not "
                     "silently reused" if trimmed else "; malloc_trim unavailable: allocator caching may hide "
                     "reused memory")
                  + f"; max of {max(1, repeats)} runs; peak_mb is the whole process RSS",
    }
    if not used_hwm:
        out["rss_samples"] = int(samples)
    return out


# --------------------------------------------------------------------------- timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_calls(run_once, device: torch.device, warmup: int, iters: int) -> np.ndarray:
    """Wall-clock seconds of ``iters`` calls of ``run_once`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run_once()
    _sync(device)
    times = np.empty(iters, dtype=np.float64)
    for i in range(iters):
        _sync(device)
        t0 = time.perf_counter()
        run_once()
        _sync(device)
        times[i] = time.perf_counter() - t0
    return times


def _latency_stats(seconds: np.ndarray, batch_size: int) -> dict[str, Any]:
    ms = seconds * 1000.0
    median = float(np.median(ms))
    return {
        "batch_size": int(batch_size),
        "median_ms": round(median, 4),
        "p90_ms": round(float(np.percentile(ms, 90)), 4),
        "mean_ms": round(float(ms.mean()), 4),
        "min_ms": round(float(ms.min()), 4),
        "max_ms": round(float(ms.max()), 4),
        "iters": int(ms.size),
        "images_per_s": round(batch_size / (median / 1000.0), 3) if median > 0 else None,
    }


def _autocast(device: torch.device, dtype_name: str):
    if dtype_name == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[dtype_name])


# --------------------------------------------------------------------------- main entry


def profile_model(model: nn.Module, *, device: str | torch.device = "cpu",
                  input_size: Sequence[int] = (256, 256), batch_sizes: Iterable[int] = (1, 8),
                  dtypes: Iterable[str] = ("float32",), warmup: int = 3, iters: int = 10,
                  threads: int | None = None, measure_memory: bool = True,
                  name: str | None = None) -> dict[str, Any]:
    """Profile ``model`` and return one JSON-serialisable dict (see the module docstring).

    device: ``cpu``, ``cuda[:N]`` or ``auto``. input_size: (H, W) pixels of the input crop.
    batch_sizes: latency is reported at the smallest, throughput (images/s) at the largest.
    dtypes: ``float32`` runs plainly; ``float16`` / ``bfloat16`` run under ``torch.autocast``
    (weights stay float32). threads: ``torch.set_num_threads`` for the run (restored after).
    The model is put in eval mode on ``device`` for the run; its previous mode and device are restored.
    """
    dev = resolve_device(device)
    sizes = sorted({int(b) for b in batch_sizes})
    if not sizes or sizes[0] < 1:
        raise ProfileError(f"batch sizes must be positive integers, got {list(batch_sizes)!r}")
    dtype_list = list(dict.fromkeys(str(d).lower() for d in dtypes))
    bad = [d for d in dtype_list if d not in _DTYPES]
    if bad or not dtype_list:
        raise ProfileError(f"unknown dtype(s) {bad or dtype_list!r}; choose from {', '.join(_DTYPES)}")
    if warmup < 0 or iters < 1:
        raise ProfileError(f"need warmup >= 0 and iters >= 1, got warmup={warmup}, iters={iters}")
    if len(input_size) != 2 or min(int(v) for v in input_size) < 1:
        raise ProfileError(f"input_size must be (H, W) in pixels, got {input_size!r}")

    config = getattr(model, "config", None)
    result: dict[str, Any] = {
        "model": name or getattr(config, "variant", None) or type(model).__name__,
        "family": getattr(config, "family", None),
        "input_size": [int(v) for v in input_size],
        "inputs": "image [B,3,H,W] float32" + (f" + k_value [B,1] = {DEFAULT_K_VALUE} mm"
                                                 if needs_k_value(model) else ""),
    }
    result.update(count_parameters(model))

    was_training = model.training
    try:
        first_param = next(iter(model.parameters()))
        orig_device = first_param.device
    except StopIteration:
        orig_device = None
    prev_threads = torch.get_num_threads()
    if threads is not None:
        if int(threads) < 1:
            raise ProfileError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    try:
        model.eval()
        model.to(dev)
        try:
            result.update(count_macs(model, make_inputs(model, 1, input_size, dev)))
        except Exception as exc:  # the model itself failed on a standard input
            raise ProfileError(f"model {result['model']!r} failed on a [1,3,{input_size[0]},"
                               f"{input_size[1]}] input ({type(exc).__name__}: {exc}); check that it takes "
                               "a float32 image batch (and k_value for RootNet)") from exc

        result.update(_compare_published(config, result))

        by_dtype: dict[str, Any] = {}
        for dtype_name in dtype_list:
            by_dtype[dtype_name] = _profile_dtype(model, dev, dtype_name, sizes, input_size,
                                                  warmup, iters, measure_memory)
        result["timing"] = by_dtype
        main = by_dtype[dtype_list[0]]
        result["latency"] = main.get("latency")
        result["throughput"] = main.get("throughput")
        result["peak_memory"] = main.get("peak_memory")
        result["timing_method"] = (
            "wall clock (time.perf_counter) per forward call under torch.inference_mode, model.eval(), "
            f"after {warmup} warm-up calls, over {iters} timed calls"
            + ("; torch.cuda.synchronize before and after each call" if dev.type == "cuda" else "")
            + "; latency = smallest batch size, throughput = largest batch size / its median latency"
        )
        result["environment"] = dict(environment(dev), batch_sizes=sizes, dtypes=dtype_list,
                                     warmup=int(warmup), iters=int(iters),
                                     threads_requested=threads)
    finally:
        if threads is not None:
            torch.set_num_threads(prev_threads)
        if orig_device is not None:
            model.to(orig_device)
        model.train(was_training)
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return result


def _compare_published(config: Any, result: dict[str, Any]) -> dict[str, Any]:
    """Published GMACs / params (``config.published``) beside ours, with the relative difference."""
    published = getattr(config, "published", None) or {}
    out: dict[str, Any] = {}
    if [int(v) for v in getattr(config, "input_size", (256, 256))] != result["input_size"]:
        return out  # published figures are for the config's own input size
    ours = {"gmacs": result["macs"] / 1e9, "params_m": result["params"] / 1e6}
    for key, value in ours.items():
        pub = published.get(key)
        if isinstance(pub, (int, float)) and pub > 0:
            out[f"published_{key}"] = float(pub)
            out[f"{key}_vs_published_pct"] = round(100.0 * (value - pub) / pub, 2)
    return out


def _profile_dtype(model: nn.Module, dev: torch.device, dtype_name: str, sizes: list[int],
                   input_size: Sequence[int], warmup: int, iters: int,
                   measure_memory: bool) -> dict[str, Any]:
    """Latency/throughput/memory of ``model`` at every batch size for one dtype."""
    if dev.type == "cuda" and dtype_name == "bfloat16" and not torch.cuda.is_bf16_supported():
        return {"dtype": dtype_name, "skipped": f"bfloat16 is not supported by {torch.cuda.get_device_name(dev)}"}
    out: dict[str, Any] = {
        "dtype": dtype_name,
        "precision": "float32 weights and activations" if dtype_name == "float32"
        else f"torch.autocast({dev.type!r}, {dtype_name}) over float32 weights",
        "per_batch": {},
    }
    for bs in sizes:
        inputs = make_inputs(model, bs, input_size, dev)

        def run_once(inputs=inputs):
            with torch.inference_mode(), _autocast(dev, dtype_name):
                return model(*inputs)

        try:
            seconds = _time_calls(run_once, dev, warmup, iters)
        except RuntimeError as exc:
            if dtype_name != "float32":  # e.g. an operator without a reduced-precision kernel
                return {"dtype": dtype_name, "skipped": f"{type(exc).__name__}: {exc}"[:300]}
            if dev.type == "cuda" and "out of memory" in str(exc).lower():
                torch.cuda.empty_cache()
                out["per_batch"][str(bs)] = {"batch_size": bs, "skipped": "CUDA out of memory"}
                continue
            raise
        stats = _latency_stats(seconds, bs)
        if measure_memory:
            stats["peak_memory"] = _peak_memory(run_once, dev)
        out["per_batch"][str(bs)] = stats
    done = [s for s in out["per_batch"].values() if "skipped" not in s]
    if done:
        lat, thr = done[0], done[-1]
        out["latency"] = {k: lat[k] for k in ("batch_size", "median_ms", "p90_ms", "mean_ms", "min_ms",
                                              "iters")}
        out["throughput"] = {"batch_size": thr["batch_size"], "images_per_s": thr["images_per_s"],
                             "median_batch_ms": thr["median_ms"]}
        if measure_memory:
            out["peak_memory"] = dict(done[-1]["peak_memory"], batch_size=done[-1]["batch_size"])
    return out


# --------------------------------------------------------------------------- text output


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """One line per (model, dtype): params, GMACs, latency, throughput, peak memory."""
    header = ("model", "dtype", "params(M)", "GMACs", "GFLOPs", "lat.med(ms)", "lat.p90(ms)",
              "img/s@B", "peak.inc(MB)")
    rows = [header]
    for r in results:
        for dtype_name, t in r.get("timing", {}).items():
            lat, thr, mem = t.get("latency") or {}, t.get("throughput") or {}, t.get("peak_memory") or {}
            if "skipped" in t:
                rows.append((r["model"], dtype_name, f"{r['params_m']:.3f}", f"{r['gmacs']:.3f}",
                             f"{r['gflops']:.3f}", "skipped", "", "", ""))
                continue
            rows.append((
                r["model"], dtype_name, f"{r['params_m']:.3f}", f"{r['gmacs']:.3f}", f"{r['gflops']:.3f}",
                _fmt(lat.get("median_ms"), ".2f"), _fmt(lat.get("p90_ms"), ".2f"),
                f"{_fmt(thr.get('images_per_s'), '.1f')}@{_fmt(thr.get('batch_size'))}",
                _fmt(mem.get("increase_mb"), ".1f"),
            ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
