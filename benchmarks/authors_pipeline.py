"""The authors' own Human3.6M test pipelines (3DMPPE PoseNet, MobileHumanPose) versus `pose3dbench run`: wall time
and numbers.

What it measures: the wall time of two whole processes on the same data, checkpoint and machine, flip test on,
Protocol 2 (S9 + S11, every 64th frame), ground-truth boxes and roots:

- authors (``--model posenet-r50``): mks0601/3DMPPE_POSENET_RELEASE ``main/test.py --gpu 0 --test_epoch 24``
  (dataset, crop, DataLoader with their ``num_thread`` workers and ``test_batch_size``, forward + mirrored
  forward, their ``evaluate()``); (``--model mobilehumanpose-lpski``): SangbumChoi/MobileHumanPose ``main/test.py
  --gpu 0 --epochs 24-24 --backbone LPSKI`` (the same structure; the launcher sets its ``testset`` to Human36M,
  gives its Config the ``set_args`` its test.py calls, maps its absolute ``/data/Human36M`` paths below the copy's
  ``data/``, and a torchsummary stand-in is added when none imports); each run from a COPY of their checkout made
  at run time in a temp folder (nothing of theirs enters this repo);
- ours: ``python -m pose3dbench run --model NAME=CKPT --split p2 --root gt`` with our defaults otherwise (cost
  profile and report on; ``--lean`` adds ``--no-profile --no-report``) once per ``--backends`` entry (default:
  eager and auto, auto being the default backend whose ratio and choice are printed), each in a fresh --out
  folder; ``--cache cold`` (default): a fresh $POSE3DBENCH_CACHE per run; ``--cache warm``: one per backend,
  filled by an untimed run first (ONNX export and cost profile re-used).

Each process is timed with ``time.perf_counter`` around ``subprocess.run``; the sides alternate (authors, ours
eager, ours auto, authors, ...) for ``--repeats`` rounds and the best of each side is kept. Before timing the
script waits until the 1-minute load average is below ``--max-load`` (checked every 60 s), and before each run
until other processes keep at most ``--max-busy`` cores busy (5 s sample of /proc/stat), ``--quiet-wait`` s
at most in all (then it times anyway and says so). For every run it prints how many cores other processes
kept busy meanwhile (machine busy time from /proc/stat minus the run's own CPU time), so a run slowed by
someone else's job shows. Printed: the best wall times, the ratio ours/authors of
wall times (and its inverse, the speed-up); where our time went (inference against everything else, the forwards'
rate in GMAC/s beside this CPU's float32 GEMM rate, and the ceiling: the speed-up a run with no fixed cost at all
would reach, from our measured inference time); the authors' total and per-action MPJPE against ours from
results.json (max |difference|, mm), and the max |difference| of the per-image heatmap coordinates.

Run-time changes to the temp copy of the authors' code (their files are not edited):
- a launcher sets ``torch.Tensor.cuda`` and ``torch.nn.Module.cuda`` to no-ops (their code calls ``.cuda()``;
  ``DataParallel`` without a GPU just calls the module) and runs ``main/test.py`` with runpy from ``main/``;
- the launcher wraps ``Human36M.evaluate`` to record the unrounded values of their own ``np.mean`` calls
  (total, then one per action; their print keeps 2 decimals) and the predictions it was given;
- ``data/Human36M/{images,annotations,bbox_root/bbox_root_human36m_output.json}`` are symlinks into --data,
  and ``output/model_dump/snapshot_24.pth.tar`` is the checkpoint below (their paths need no config change);
- ``main/config.py``: ``test_batch_size`` / ``num_thread`` are rewritten only when --batch-size /
  --authors-workers differ from their values;
- when the authors' interpreter has no importable torchvision with ``models.resnet.model_urls`` (the
  torchvision 0.28.0 wheel's C ops do not load beside torch 2.13.0+cpu; newer ones lack model_urls), a
  stand-in package is put first on their PYTHONPATH: ``transforms.Compose/ToTensor/Normalize`` with
  torchvision's semantics (ToTensor: HWC -> CHW, uint8 / 255, float32 unscaled) and
  ``models.resnet.BasicBlock/Bottleneck`` (stride on the 3x3 conv) + ``model_urls``.

Checkpoint (``--weights``): ``untrained`` = ``torch.manual_seed(0); create('posenet-r50')`` saved as
``{'network': {'module.' + k: v}, 'epoch': 24}``. Its heatmaps are uniform (every coordinate is 31.5), so the
MPJPE check then covers boxes, roots, camera back-projection and evaluation only. ``input-dependent`` adds
batch-norm statistics from random images and a last layer scaled to logit std 1
(``backends.parity.make_input_dependent``, calibrated on 16 of the split's own crops), so the images, crop,
normalisation, network and flip test count.

Usage (interpreter with torch; this repo's src/ is put on PYTHONPATH for our runs):

    git --git-dir=.../3DMPPE_POSENET_RELEASE/repo archive HEAD | tar -x -C /tmp/posenet_authors
    python -m pose3dbench synth --out /tmp/h36m_small --size small
    python benchmarks/authors_pipeline.py --authors /tmp/posenet_authors \
        --authors-python /tmp/authors_venv/bin/python --data /tmp/h36m_small [--repeats 2] \
        [--backends eager auto] [--weights untrained|input-dependent] [--json OUT.json]

The authors' interpreter needs torch, numpy, opencv, pycocotools, tqdm and matplotlib (their utils/vis.py).
Nothing is asserted about time; the ratio printed is the one measured in this run.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EPOCH = 24
#: the authors' test.py arguments per model (MobileHumanPose's takes an epoch range and the backbone name)
AUTHORS_TEST_ARGS = {"posenet-r50": ["--gpu", "0", "--test_epoch", str(EPOCH)],
                     "mobilehumanpose-lpski": ["--gpu", "0", "--epochs", f"{EPOCH}-{EPOCH}", "--backbone", "LPSKI"]}

LAUNCHER = r'''
"""CPU launcher for the authors' main/test.py (written by pose3dbench benchmarks/authors_pipeline.py)."""
import json, os, runpy, sys
import numpy
import torch

torch.Tensor.cuda = lambda self, *a, **k: self
torch.nn.Module.cuda = lambda self, *a, **k: self

root, capture, family = sys.argv[1], sys.argv[2], sys.argv[3]
main_dir = os.path.join(root, "main")
os.chdir(main_dir)                      # their Human36M paths are relative to main/
sys.path.insert(0, main_dir)
import config  # noqa: E402  (adds their common/ and data/ folders to sys.path)
if family == "mobilehumanpose":
    # MobileHumanPose's release tests on MuPoTS by default and has no Config.set_args (test.py calls it): the test
    # set becomes Human36M (what its base.py imports by name at import time) and set_args a no-op (CPU anyway)
    config.cfg.testset = "Human36M"
    config.cfg.set_args = lambda *a, **k: None
    sys.path.insert(0, os.path.join(root, "data", "Human36M"))
import Human36M as h36m_module  # noqa: E402  (the module their base.py imports by name)
if family == "mobilehumanpose":
    import os.path as _osp

    class _DataPaths:
        """os.path for their Human36M module, with its absolute '/data/Human36M' paths put below their data/."""

        def __getattr__(self, name):
            return getattr(_osp, name)

        def join(self, *parts):
            if parts[:3] == ("/", "data", "Human36M"):
                parts = (os.path.join(root, "data", "Human36M"),) + parts[3:]
            return _osp.join(*parts)

    h36m_module.osp = _DataPaths()


class _RecordingNumpy:
    """numpy for their Human36M module, except that mean() also records its value during evaluate()."""

    def __init__(self):
        self.record = None

    def __getattr__(self, name):
        return getattr(numpy, name)

    def mean(self, *a, **k):
        value = numpy.mean(*a, **k)
        if self.record is not None:
            self.record.append(float(value))
        return value


recording = _RecordingNumpy()
h36m_module.np = recording
_evaluate = h36m_module.Human36M.evaluate


def evaluate(self, preds, result_dir):
    recording.record = []
    try:
        result = _evaluate(self, preds, result_dir)
    finally:
        means, recording.record = recording.record, None
    numpy.savez(capture + ".npz", coords_hm=numpy.asarray(preds, dtype=numpy.float64),
                image_id=numpy.asarray([d["img_id"] for d in self.data], dtype=numpy.int64))
    with open(capture, "w") as f:
        json.dump({"total_mm": means[0], "per_action_mm": dict(zip(self.action_name, means[1:])),
                   "num_samples": len(self.data), "protocol": self.protocol,
                   "use_gt_info": bool(config.cfg.use_gt_info), "flip_test": bool(config.cfg.flip_test),
                   "test_batch_size": config.cfg.test_batch_size, "num_thread": config.cfg.num_thread,
                   "torchvision": getattr(sys.modules.get("torchvision"), "__file__", None)}, f)
    return result


h36m_module.Human36M.evaluate = evaluate
sys.argv = ["test.py"] + sys.argv[4:]
runpy.run_path("test.py", run_name="__main__")
'''

SHIM_INIT = '''"""Stand-in for torchvision (written by pose3dbench benchmarks/authors_pipeline.py): only what 3DMPPE
PoseNet's test path imports, with torchvision's semantics."""
__version__ = "0.0-shim"
from . import models, transforms  # noqa: F401
'''

SHIM_TRANSFORMS = '''import numpy as np
import torch


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img


class ToTensor:
    """numpy HWC -> CHW tensor; uint8 is divided by 255, any other dtype is left unscaled (as torchvision)."""

    def __call__(self, pic):
        if not isinstance(pic, np.ndarray):
            raise TypeError("this torchvision stand-in's ToTensor takes numpy arrays only")
        if pic.ndim == 2:
            pic = pic[:, :, None]
        img = torch.from_numpy(pic.transpose((2, 0, 1))).contiguous()
        if isinstance(img, torch.ByteTensor):
            return img.to(dtype=torch.get_default_dtype()).div(255)
        return img


class Normalize:
    """(x - mean[c]) / std[c] on a copy (as torchvision with inplace=False)."""

    def __init__(self, mean, std, inplace=False):
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, tensor):
        if not self.inplace:
            tensor = tensor.clone()
        mean = torch.as_tensor(self.mean, dtype=tensor.dtype, device=tensor.device)
        std = torch.as_tensor(self.std, dtype=tensor.dtype, device=tensor.device)
        return tensor.sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))
'''

SHIM_RESNET = '''"""torchvision.models.resnet's BasicBlock, Bottleneck (stride on the 3x3 conv) and old model_urls."""
import torch.nn as nn

model_urls = {
    "resnet18": "https://download.pytorch.org/models/resnet18-5c106cde.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-333f7ec4.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-19c8e357.pth",
    "resnet101": "https://download.pytorch.org/models/resnet101-5d3b4d8f.pth",
    "resnet152": "https://download.pytorch.org/models/resnet152-b121ed2d.pth",
}


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)
'''

SHIM_TORCHSUMMARY = '''"""torchsummary stand-in: MobileHumanPose's backbones import it, main/test.py never calls it."""


def summary(*args, **kwargs):
    raise NotImplementedError("torchsummary stand-in (pose3dbench benchmarks/authors_pipeline.py)")
'''

TORCHVISION_PROBE = ("import torchvision.transforms as t; t.Compose; t.ToTensor; t.Normalize; "
                     "from torchvision.models.resnet import BasicBlock, Bottleneck, model_urls")


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_quiet(max_load: float, budget_s: float) -> tuple[bool, float]:
    """Wait until the 1-minute load is below max_load (re-checked every 60 s, at most budget_s)."""
    t0 = time.monotonic()
    while True:
        load = load1()
        if load < max_load:
            return True, load
        if time.monotonic() - t0 >= budget_s:
            print(f"machine not quiet after {budget_s:.0f} s (1-min load {load:.2f}); timing anyway", flush=True)
            return False, load
        print(f"waiting for a quiet machine: 1-min load {load:.2f} >= {max_load}", flush=True)
        time.sleep(60)


def others_busy_cores(window_s: float = 5.0) -> float:
    """Cores kept busy by the machine's processes over a short window (call while nothing of ours runs)."""
    b0, t0 = busy_cpu_s(), time.perf_counter()
    time.sleep(window_s)
    return (busy_cpu_s() - b0) / (time.perf_counter() - t0)


def wait_idle(max_cores: float, deadline: float) -> float:
    """Before each timed run: wait (re-checking every 60 s, until ``deadline``) while other processes keep
    more than ``max_cores`` cores busy; returns the last reading."""
    while True:
        busy = others_busy_cores()
        if busy <= max_cores or time.monotonic() >= deadline:
            return busy
        print(f"  waiting: other processes keep {busy:.2f} cores busy", flush=True)
        time.sleep(60)


def our_env(cache: Path | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if cache is not None:
        env["POSE3DBENCH_CACHE"] = str(cache)
    return env


def make_checkpoint(path: Path, weights: str, data: Path, model: str = "posenet-r50") -> None:
    code = (
        "import sys, torch\n"
        "import pose3dbench.models as M\n"
        "torch.manual_seed(0)\n"
        "m = M.create(sys.argv[4])\n"
        "if sys.argv[2] == 'input-dependent':\n"
        "    import numpy as np\n"
        "    from pose3dbench.backends.parity import make_input_dependent\n"
        "    from pose3dbench.data.h36m import load_split\n"
        "    from pose3dbench.data.loader import iterate_crops\n"
        "    from pose3dbench.models.input import normalize_crops\n"
        "    s = load_split(sys.argv[3], 2, 'gt')\n"
        "    rows = np.linspace(0, len(s) - 1, 16).astype(int)\n"
        "    (_, p), = iterate_crops(s.image_path, s.bbox, rows, batch_size=16, out_hw=(256, 256), workers=0,\n"
        "                            image_size=s.image_size)\n"
        "    m = make_input_dependent(m, normalize_crops(p, m.config, torch.device('cpu')))\n"
        "torch.save({'network': {'module.' + k: v for k, v in m.state_dict().items()}, 'epoch': %d}, sys.argv[1])\n"
        % EPOCH)
    subprocess.run([sys.executable, "-c", code, str(path), weights, str(data), model], check=True, env=our_env())


def prepare_authors(src: Path, work: Path, data: Path, ckpt: Path, authors_python: str, batch_size: int | None,
                    workers: int | None) -> tuple[Path, dict, list[str]]:
    """Copy of the authors' checkout in ``work`` with the run-time changes; returns (root, env, changes)."""
    root = work / "authors"
    shutil.copytree(src, root, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "__pycache__", "output", "assets", "vis", "*.gif", "*.png"))
    changes = []
    h36m = root / "data" / "Human36M"
    (h36m / "bbox_root").mkdir(parents=True, exist_ok=True)
    bbox_root = Path("bbox_root") / "bbox_root_human36m_output.json"
    links = {h36m / "images": data / "images", h36m / "annotations": data / "annotations",
             h36m / bbox_root: data / bbox_root}
    for link, target in links.items():
        if not target.exists():
            raise SystemExit(f"--data lacks {target} (the authors' loader expects the 3DMPPE layout)")
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.exists():
            shutil.rmtree(link)
        link.symlink_to(target.resolve())
    changes.append(f"symlinks data/Human36M/{{images,annotations,bbox_root/...json}} -> {data}")
    dump = root / "output" / "model_dump"
    dump.mkdir(parents=True, exist_ok=True)
    (dump / f"snapshot_{EPOCH}.pth.tar").symlink_to(ckpt.resolve())
    changes.append(f"output/model_dump/snapshot_{EPOCH}.pth.tar -> {ckpt}")

    cfg_path = root / "main" / "config.py"
    text = cfg_path.read_text()
    for key, value in (("test_batch_size", batch_size), ("num_thread", workers)):
        m = re.search(rf"^(\s*){key}\s*=\s*(\d+)", text, re.M)
        if m is None:
            raise SystemExit(f"main/config.py has no '{key} = N' line")
        if value is not None and int(m.group(2)) != value:
            text = text[:m.start()] + f"{m.group(1)}{key} = {value}" + text[m.end():]
            changes.append(f"main/config.py: {key} {m.group(2)} -> {value}")
    cfg_path.write_text(text)

    launcher = work / "launch_authors_cpu.py"
    launcher.write_text(LAUNCHER)
    changes.append("launcher: torch.Tensor.cuda / nn.Module.cuda -> no-ops; Human36M.evaluate wrapped to record "
                   "its np.mean values and predictions")

    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    probe = subprocess.run([authors_python, "-c", TORCHVISION_PROBE], env=env, capture_output=True, text=True)
    if probe.returncode != 0:
        shim = work / "torchvision_shim"
        (shim / "torchvision" / "models").mkdir(parents=True)
        (shim / "torchvision" / "__init__.py").write_text(SHIM_INIT)
        (shim / "torchvision" / "transforms.py").write_text(SHIM_TRANSFORMS)
        (shim / "torchvision" / "models" / "__init__.py").write_text("from . import resnet  # noqa: F401\n")
        (shim / "torchvision" / "models" / "resnet.py").write_text(SHIM_RESNET)
        env["PYTHONPATH"] = str(shim)
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        changes.append(f"torchvision: stand-in package on PYTHONPATH (real one: {last})")
    else:
        changes.append("torchvision: the interpreter's own")
    probe = subprocess.run([authors_python, "-c", "import torchsummary"], env=env, capture_output=True, text=True)
    if probe.returncode != 0 and any(root.glob("common/backbone/*.py")):  # MobileHumanPose's backbones import it
        shim = work / "torchsummary_shim"
        (shim / "torchsummary").mkdir(parents=True, exist_ok=True)
        (shim / "torchsummary" / "__init__.py").write_text(SHIM_TORCHSUMMARY)
        env["PYTHONPATH"] = os.pathsep.join([p for p in (env.get("PYTHONPATH"), str(shim)) if p])
        changes.append("torchsummary: stand-in package on PYTHONPATH (summary() is never called by main/test.py)")
    return root, env, changes


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all processes), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], env: dict, log: Path, cwd: Path | None = None) -> tuple[float, float]:
    """Wall time of one process, and the cores other processes of the machine kept busy meanwhile."""
    load = load1()
    busy0, ours0 = busy_cpu_s(), children_cpu_s()
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=cwd)
    wall = time.perf_counter() - t0
    ours = children_cpu_s() - ours0
    others = max(0.0, busy_cpu_s() - busy0 - ours) / wall
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]}... failed (rc {proc.returncode}); see {log}")
    print(f"  {log.stem}: {wall:.1f} s, its CPU {ours:.0f} s; other processes kept {others:.2f} of "
          f"{os.cpu_count()} cores busy meanwhile (1-min load at start {load:.2f})", flush=True)
    return wall, others


def our_evaluation(out: Path) -> tuple[dict, dict]:
    res = json.loads((out / "results.json").read_text())
    (ev,) = [e for e in res["evaluations"] if (e["dataset"], e["split"], e["root"]) == ("h36m", "p2", "gt")]
    model = next(iter(res["models"].values()))
    return ev, {"backend": model.get("backend"), "backend_choice": model.get("backend_choice")}


def gemm_rate(threads: int = 2, n: int = 4096) -> float:
    """This CPU's float32 matrix-multiply rate (GMAC/s) with ``threads`` threads: the median of 3 ``torch.mm`` of
    two n x n matrices after one warm-up, a practical ceiling for convolution kernels on the same cores."""
    import statistics

    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(prev)
    return n ** 3 / statistics.median(times) / 1e9


def where_time_went(outs: list[Path], authors_best: float, flip: bool) -> dict:
    """Of our runs (their results.json): the inference time (decode, crop, forward and mirrored forward of the crops
    the run computed, ``timing.seconds``), the rate of the forwards in GMAC/s (decode counted as forward time, so a
    lower bound), and the ceiling: the authors' best wall time over the time our fastest inference would take for
    every image of the split, the speed-up a run without any fixed cost (start-up, export, parity checks, cost
    profile, scoring, report) would reach."""
    rows = []
    for out in outs:
        res = json.loads((out / "results.json").read_text())
        ev, _ = our_evaluation(out)
        cost = (next(iter(res["models"].values())).get("cost") or {})
        seconds, ips = ev["timing"]["seconds"], ev["timing"]["images_per_s"]
        computed = ev["timing"].get("computed_images") or (round(seconds * ips) if seconds and ips else 0)
        rows.append({"inference_s": seconds, "computed": computed, "num_samples": ev["num_samples"],
                     "gmacs": cost.get("gmacs")})
    best = min((r for r in rows if r["computed"]), key=lambda r: r["inference_s"] / r["computed"])
    per_crop = best["inference_s"] / best["computed"]
    forwards = best["computed"] * (2 if flip else 1)
    return {"inference_s": best["inference_s"], "computed_crops": best["computed"], "forwards": forwards,
            "seconds_per_crop": per_crop,
            "forward_gmac_per_s": (best["gmacs"] * forwards / best["inference_s"]) if best["gmacs"] else None,
            "ceiling_speedup": authors_best / (per_crop * best["num_samples"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--authors", type=Path, required=True, help="extracted checkout of 3DMPPE_POSENET_RELEASE")
    ap.add_argument("--authors-python", required=True, help="interpreter for the authors' code")
    ap.add_argument("--data", type=Path, required=True, help="Human3.6M folder in the 3DMPPE layout")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--backends", nargs="+", default=["eager", "auto"], choices=["eager", "auto", "onnxruntime"])
    ap.add_argument("--batch-size", type=int, default=None, help="both sides (default: the authors' test_batch_size)")
    ap.add_argument("--authors-workers", type=int, default=None, help="their num_thread (default: their config's)")
    ap.add_argument("--workers", type=int, default=0, help="our --workers (default 0, our CPU default)")
    ap.add_argument("--weights", choices=["untrained", "input-dependent"], default="untrained")
    ap.add_argument("--model", choices=list(AUTHORS_TEST_ARGS), default="posenet-r50",
                    help="whose pipeline: posenet-r50 (3DMPPE_POSENET_RELEASE) or mobilehumanpose-lpski "
                         "(MobileHumanPose, backbone LPSKI)")
    ap.add_argument("--cache", choices=["cold", "warm"], default="cold",
                    help="our $POSE3DBENCH_CACHE: cold = a new empty folder for every run (a first run ever); warm = "
                         "one folder per backend, filled by an untimed run before the timed ones (ONNX export and "
                         "cost profile of this checkpoint on this machine cached: a repeated run)")
    ap.add_argument("--lean", action="store_true",
                    help="our runs with --no-profile --no-report (default: our defaults, cost profile and report on)")
    ap.add_argument("--max-load", type=float, default=0.6)
    ap.add_argument("--max-busy", type=float, default=0.3,
                    help="before each timed run, wait while other processes keep more cores than this busy")
    ap.add_argument("--quiet-wait", type=float, default=2400.0,
                    help="seconds to wait for a quiet machine at most, in all (then time anyway and say so)")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a new temp folder, kept)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="authors_pipeline_"))
    work.mkdir(parents=True, exist_ok=True)
    data = args.data.resolve()
    ckpt = work / f"snapshot_{EPOCH}.pth.tar"
    make_checkpoint(ckpt, args.weights, data, args.model)
    family = "mobilehumanpose" if args.model.startswith("mobilehumanpose") else "posenet"
    cfg_text = (args.authors / "main" / "config.py").read_text()
    their_batch = int(re.search(r"^\s*test_batch_size\s*=\s*(\d+)", cfg_text, re.M).group(1))
    batch = args.batch_size or their_batch
    root, authors_env, changes = prepare_authors(args.authors, work, data, ckpt, args.authors_python, batch,
                                                 args.authors_workers)
    print(f"work folder: {work}")
    print("changes to the temp copy of the authors' code:\n  - " + "\n  - ".join(changes))

    deadline = time.monotonic() + args.quiet_wait
    quiet, load = wait_quiet(args.max_load, args.quiet_wait)
    print(f"timing: 1-min load {load:.2f}{'' if quiet else ' (NOT quiet)'}; {args.repeats} interleaved rounds",
          flush=True)
    walls: dict[str, list[float]] = {"authors": []} | {f"ours-{b}": [] for b in args.backends}
    others = {k: [] for k in walls}
    capture = work / "authors_capture.json"
    ours_out = {}

    def ours_cmd(b: str, out: Path) -> list[str]:
        return ([sys.executable, "-m", "pose3dbench", "run", "--data", str(data), "--model", f"{args.model}={ckpt}",
                 "--split", "p2", "--root", "gt", "--batch-size", str(batch), "--workers", str(args.workers),
                 "--out", str(out), "--backend", b, "--no-progress"] + (["--no-profile", "--no-report"] if args.lean
                                                                         else []))

    if args.cache == "warm":  # one untimed run per backend fills its cache folder
        for b in args.backends:
            print(f"warming the cache of --backend {b} (untimed run)", flush=True)
            subprocess.run(ours_cmd(b, work / f"ours_{b}_warmup"), env=our_env(work / f"cache_{b}_warm"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    for r in range(args.repeats):
        cmd = ([args.authors_python, str(work / "launch_authors_cpu.py"), str(root), str(capture), family]
               + AUTHORS_TEST_ARGS[args.model])
        wait_idle(args.max_busy, deadline)
        wall, busy = timed(cmd, authors_env, work / f"authors_{r}.log")
        walls["authors"].append(wall)
        others["authors"].append(busy)
        for b in args.backends:
            out = work / f"ours_{b}_{r}"
            wait_idle(args.max_busy, deadline)
            cache = work / (f"cache_{b}_warm" if args.cache == "warm" else f"cache_{b}_{r}")
            wall, busy = timed(ours_cmd(b, out), our_env(cache), work / f"ours_{b}_{r}.log")
            walls[f"ours-{b}"].append(wall)
            others[f"ours-{b}"].append(busy)
            ours_out[b] = out

    authors = json.loads(capture.read_text())
    a_pred = np.load(str(capture) + ".npz")
    best = {k: min(v) for k, v in walls.items()}
    report = {"model": args.model, "cache": args.cache, "lean": args.lean, "weights": args.weights,
              "batch_size": batch, "our_workers": args.workers,
              "authors_num_thread": authors["num_thread"], "authors_flip_test": authors["flip_test"],
              "authors_use_gt_info": authors["use_gt_info"], "changes": changes, "walls_s": walls, "best_s": best,
              "other_processes_busy_cores": others,
              "load_quiet": quiet, "load_at_start": load, "authors": authors, "ours": {}}
    print(f"\n{args.model}: {authors['num_samples']} Protocol-2 images, batch {batch}, flip test "
          f"{authors['flip_test']}, GT box+root {authors['use_gt_info']}, weights {args.weights}; authors' num_thread "
          f"{authors['num_thread']}, our --workers {args.workers}; our cache {args.cache}, "
          + ("--no-profile --no-report" if args.lean else "our defaults (cost profile and report on)"))
    busiest = max(max(v) for v in others.values())
    print(f"other processes kept up to {busiest:.2f} cores busy during a timed run"
          + (" (NOT a quiet machine: times are inflated)" if busiest > 0.3 else ""))
    print(f"authors: best {best['authors']:.1f} s of {len(walls['authors'])} "
          f"({', '.join(f'{w:.1f}' for w in walls['authors'])})")
    for b in args.backends:
        ev, ran = our_evaluation(ours_out[b])
        z = np.load(ours_out[b] / ev["predictions"])  # predictions/posenet-r50__h36m__p2__gt.npz
        order = {int(i): n for n, i in enumerate(z["image_id"])}
        if sorted(order) != sorted(int(i) for i in a_pred["image_id"]):
            coord_diff = float("nan")
        else:
            ours_c = z["coords_hm"][[order[int(i)] for i in a_pred["image_id"]]]
            coord_diff = float(np.abs(ours_c - a_pred["coords_hm"]).max())
        act = {k: abs(ev["per_action_mm"][k] - v) for k, v in authors["per_action_mm"].items()}
        w = walls[f"ours-{b}"]
        ratio = best[f"ours-{b}"] / best["authors"]
        default = " [the default backend]" if b == "auto" else ""
        print(f"ours --backend {b}{default} (ran: {ran['backend']}): best {best[f'ours-{b}']:.1f} s of {len(w)} "
              f"({', '.join(f'{x:.1f}' for x in w)}); ours/authors wall {ratio:.3f} (speed-up {1 / ratio:.2f}x)")
        choice = ran.get("backend_choice") or {}
        if choice.get("first_batch"):
            print(f"  backend choice: {choice.get('reason')}")
        print(f"  total MPJPE authors {authors['total_mm']:.6f} mm, ours {ev['total_mm']:.6f} mm, "
              f"|diff| {abs(ev['total_mm'] - authors['total_mm']):.2e}; per-action max |diff| "
              f"{max(act.values()):.2e} mm ({max(act, key=act.get)}); samples {ev['num_samples']} vs "
              f"{authors['num_samples']}; heatmap coords max |diff| {coord_diff:.2e}")
        went = where_time_went([work / f"ours_{b}_{r}" for r in range(args.repeats)], best["authors"],
                               bool(authors["flip_test"]))
        rate = went["forward_gmac_per_s"]
        print(f"  where the time went: inference {went['inference_s']:.1f} s for {went['computed_crops']} crops "
              f"({went['forwards']} forwards" + (f", {rate:.0f} GMAC/s" if rate else "") + "), the rest "
              f"{best[f'ours-{b}'] - went['inference_s']:.1f} s; ceiling without any fixed cost: authors / our "
              f"inference of all {ev['num_samples']} images = {went['ceiling_speedup']:.2f}x")
        report["ours"][b] = {"ran": ran, "where_time_went": went, "total_mm": ev["total_mm"],
                             "per_action_mm": ev["per_action_mm"],
                             "num_samples": ev["num_samples"], "ratio_ours_over_authors": ratio,
                             "max_abs_diff_total_mm": abs(ev["total_mm"] - authors["total_mm"]),
                             "max_abs_diff_per_action_mm": max(act.values()), "max_abs_diff_coords_hm": coord_diff}
    report["gemm_gmac_per_s"] = gemm_rate(2)
    print(f"this CPU's float32 GEMM rate (torch.mm 4096x4096, 2 threads): {report['gemm_gmac_per_s']:.0f} GMAC/s")
    print("authors per action (mm): " + ", ".join(f"{k} {v:.4f}" for k, v in authors["per_action_mm"].items()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
