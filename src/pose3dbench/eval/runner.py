"""The benchmark runner behind ``pose3dbench run``: the orchestrator, read top to bottom.

Data flows one way: dataset split (``data.dataset``, ``data.splits``) -> crops (``data.crop_store``) -> model
(``eval.inference``: batched, flip-tested, resumable) -> raw predictions (heatmap units, saved as .npz) ->
camera mm and the dataset's metrics (``eval.scoring``) -> results.json (``results.store``) -> report
(``report``).

``run_benchmark(opts)``: validate the options, claim the output folder, open the datasets, plan the models
(``eval.planning``), then model by model: build, cost profile, every (dataset, split, root) (re-used from the
previous run when model, settings and data are the same), corruptions, free. Every finished evaluation is written to
results.json atomically at once; inference is saved in chunks under ``<out>/partial/`` so a killed run
resumes mid-split; ``--force`` computes into a staging folder and replaces the previous run at the end.
"""
from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import distributed
from ..data.dataset import Dataset
from ..data.fingerprint import describe_change, summary
from ..data.sources import resolve_datasets
from ..data.splits import CheckedSplits, bbox_root_for_datasets
from ..devices import environment, resolve_device
from ..errors import DatasetError, RunError
from ..outdir import check_writable, claim_run_folder, exclusive
from ..models.info import ModelInfo
from ..results.records import ModelEntry
from ..results.schema import RESULTS_SCHEMA_VERSION
from ..results.store import FORCE_STAGING, ResultsStore, writing
from ..version import __version__
from .corruption import corruption_plan, corruption_settings, run_corruptions
from .inference import PoseInference, model_progress, skipped_note, store_for
from .options import DEMO_DATASETS, RunOptions, apply_demo_defaults, validate_options
from .planning import (ModelPlan, choose_backend, choose_crop_mode, cost_entry, free_model, input_entry,
                       keep_probed, load_planned, model_identity, probe_model, published_of)
from .scoring import score_pose_split, score_root_split
from .stop import StopController


def run_benchmark(opts: RunOptions, log: Callable[[str], None] = print) -> dict:
    """Run every model on every (dataset, split, root); write results, predictions and the report.

    Started by torchrun (WORLD_SIZE > 1) the samples are sharded across the ranks (see
    ``pose3dbench.distributed``); only rank 0 logs and writes results, predictions and the report.
    """
    validate_options(opts)
    dist = distributed.setup(opts.device)
    try:
        with StopController().installed() as stop, contextlib.ExitStack() as owned:
            if dist.is_main:  # one run per --out folder, and only in a folder of pose3dbench's own
                claim_run_folder(Path(opts.out), log, prepare=check_writable)
                owned.enter_context(exclusive(Path(opts.out), "run"))
            return BenchmarkRun(opts, log if dist.is_main else (lambda msg: None), dist, stop).execute()
    finally:
        distributed.teardown(dist)


class BenchmarkRun:
    """One ``pose3dbench run``: its options, device, datasets and splits, results store and the models' shared
    state. ``run_splits``: the (dataset, split) pairs evaluated, in order."""

    def __init__(self, opts: RunOptions, log: Callable[[str], None], dist, stop: StopController):
        self.opts, self.log, self.dist, self.stop = opts, log, dist, stop
        self.warnings: list[dict] = []  # every warning of the run, into results.json and the report's Notes
        self.root_predictions: dict[tuple[str, str, str], np.ndarray] = {}  # (dataset, split, box) -> root_cam

    def execute(self) -> dict:
        opts, log, dist = self._prepare(), self.log, self.dist
        plan = self._plan_models()
        poses = [m for m in plan if m.output_kind == "pose"]
        self.store = ResultsStore(Path(opts.out), force=opts.force, document=self._new_document(),
                                  write_enabled=dist.is_main)
        previous = dist.broadcast(self.store.load_previous() if dist.is_main else None)
        for note in self.store.notes:
            self._split_warning("results", "warning: " + note)
        if not self.store.adopt_previous(previous) and previous is not None:
            log(f"settings differ from the previous run in {self.store.out}: recomputing everything")
        self.splits = CheckedSplits(self.datasets, self._split_warning)
        self.corruptions = corruption_plan(opts, poses, self.run_splits, self.splits.unchecked, log)
        crop_mode = choose_crop_mode(opts, plan, self.run_splits, self.splits.unchecked)  # sizes only
        self.crops = store_for(opts, self.device, crop_mode)
        self.crops.warn = lambda msg: self._split_warning("crop store", "warning: " + msg)
        self.store.document["settings"]["crop_cache"] = {"requested": opts.crop_cache, "mode": crop_mode,
                                                         "budget_mb": float(opts.crop_budget_mb)}
        if crop_mode != "off":
            log(f"crop store: {crop_mode}" + (f" ({self.crops.root})" if crop_mode == "disk" else "")
                + f" (--crop-cache {opts.crop_cache}): each (image, box, input size) is decoded once for all models")

        queue = [m for m in plan if m.output_kind == "root"] + poses  # RootNet first: its roots feed rootnet-model
        keep_probed(queue[0].spec if queue else None)
        t_models = time.perf_counter()
        for k, entry in enumerate(queue, 1):
            log(model_progress(k, len(queue), entry.name, time.perf_counter() - t_models))
            self._run_model(entry)

        self.store.document["crop_cache"] = self.crops.stats()
        self.store.document["complete"] = True
        self.store.write()
        if opts.force and dist.is_main:
            self.store.swap_in(log)
        if opts.report and dist.is_main:
            from ..report import build_report

            with writing(self.store.final_out / "report.html", self.store.final_out):
                build_report(self.store.final_out,
                             samples_by_split={(ds.name, split, r): self.splits(ds.name, split, ds.box_of(r))
                                               for ds, split in self.run_splits for r in self.roots_of(ds)})
        return self.store.document

    # --- before the models
    def _prepare(self) -> RunOptions:
        """Output folder, threads, device and dataset; returns the options with the demo defaults applied."""
        opts, dist = self.opts, self.dist
        final_out = Path(opts.out)
        if dist.is_main:  # --force computes into a staging folder: the previous results stay whole until the end
            shutil.rmtree(final_out / FORCE_STAGING, ignore_errors=True)  # an unfinished --force (the lock is ours)
            check_writable(final_out / FORCE_STAGING if opts.force else final_out)
        else:
            check_writable(final_out)
        if opts.threads is not None:
            torch.set_num_threads(int(opts.threads))
        self.device = dist.device if dist.enabled else resolve_device(opts.device)
        if not dist.is_main:
            dist.barrier()  # rank 0 finds (or generates) the data first
        self.sources = resolve_datasets(opts.data, opts.datasets, opts.synthetic_size, self.log, DEMO_DATASETS,
                                        warn=lambda msg: self._split_warning("synthetic data", msg))
        if dist.is_main:
            dist.barrier()
        demo = all(src.synthetic is not None for src in self.sources) and not opts.models
        self.opts = opts = apply_demo_defaults(opts, demo, self.log)
        bbox_roots = bbox_root_for_datasets(opts.bbox_root, [src.cls for src in self.sources])
        self.datasets: list[Dataset] = [src.cls(src.folder, bbox_root=br, limit=opts.limit,
                                                limit_per_group=opts.limit_per_group)
                                        for src, br in zip(self.sources, bbox_roots)]
        self.run_splits = self._choose_splits()
        used = [i for i, ds in enumerate(self.datasets) if any(d is ds for d, _ in self.run_splits)]
        for i, ds in enumerate(self.datasets):
            if i not in used:
                self.log(f"{ds.title} ({ds.folder}) is left out: it has none of the splits --split names "
                         f"({ds.split_words or ', '.join(ds.splits)})")
        self.datasets = [self.datasets[i] for i in used]  # --split named none of a dataset's splits: left out
        self.sources = [self.sources[i] for i in used]
        return self.opts

    def _choose_splits(self) -> list[tuple[Dataset, str]]:
        """(dataset, split) pairs to evaluate: each ``--split`` on the dataset that has it, else the defaults."""
        if self.opts.splits is None:
            return [(ds, s) for ds in self.datasets for s in ds.default_splits]
        out, unknown = [], []
        for text in self.opts.splits:
            owners = []
            for ds in self.datasets:
                try:
                    owners.append((ds, ds.split_name(text)))
                except DatasetError:
                    continue
            if not owners:
                unknown.append(text)
            out += [o for o in owners if o not in out]
        if unknown:
            words = "; ".join(f"{ds.title}: {ds.split_words or ', '.join(ds.splits)}" for ds in self.datasets)
            raise RunError(f"--split {' '.join(unknown)}: no dataset of this run has such a split ({words})")
        return out

    def roots_of(self, ds: Dataset) -> list[str]:
        """The run's root sources a dataset has boxes for."""
        return [r for r in self.opts.roots if ds.box_of(r) in ds.box_sources]

    def _plan_models(self) -> list[ModelPlan]:
        """Every ``--model`` spec (default: every registered variant) as a uniquely named plan entry."""
        from ..models import available

        opts, plan, names = self.opts, [], set()
        for spec in list(opts.models) or available():
            probe = probe_model(spec, opts, self.log, self.warnings)
            name = probe.name
            while name in names:
                name += "'"
            names.add(name)
            plan.append(dataclasses.replace(probe, name=name))
        rootnets = [m for m in plan if m.output_kind == "root"]
        if "rootnet-model" in opts.roots and not rootnets:
            raise RunError("--root rootnet-model needs a RootNet model in the run (e.g. --model rootnet-r50=CKPT)")
        if "rootnet-model" in opts.roots and len(rootnets) > 1:
            raise RunError("--root rootnet-model is ambiguous with several RootNet models in one run; keep one")
        return plan

    def _new_document(self) -> dict:
        opts = self.opts
        settings = {
            "batch_size": opts.batch_size, "flip": opts.flip, "dtype": "float32", "workers": opts.workers,
            "backend": opts.backend, "compile": bool(opts.compile), "amp": opts.amp,
            "corruptions": corruption_settings(opts),
            "roots": list(opts.roots), "limit": opts.limit, "limit_per_group": opts.limit_per_group,
            "datasets": [{**ds.describe(), "synthetic": src.synthetic is not None, "synthetic_meta": src.synthetic,
                          "splits": [s for d, s in self.run_splits if d is ds]}
                         for ds, src in zip(self.datasets, self.sources)],
        }
        return {"schema_version": RESULTS_SCHEMA_VERSION, "pose3dbench_version": __version__,
                "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "environment": environment(self.device), "settings": settings, "models": {}, "evaluations": [],
                "root_evaluations": [], "corruption_evaluations": [], "warnings": self.warnings,
                "complete": False}  # True only in the final write: a killed or failed run leaves False

    def _split_warning(self, source: str, msg: str) -> None:
        self.log(msg)
        self.warnings.append({"source": source, "message": msg.removeprefix("warning: ")})

    # --- one model
    def _run_model(self, entry: ModelPlan) -> None:
        opts, name = self.opts, entry.name
        model, info = load_planned(entry, opts, self.device, self.log, self.warnings)
        info.name = name
        previous = self._previous_if_all_reused(name, entry, model_identity(info, model))
        if previous is not None:  # nothing to compute: no export, no parity check; the outputs' backend is kept
            backend, reuse = dict(previous.get("backend_choice") or {"backend": previous["backend"]}), {}
            backend["reused"] = ("every evaluation re-used from the previous run in this folder, with the backend "
                                 "and the parity measured then; no backend choice made in this run")
            self.log(f"[{name}] every evaluation is re-used: no export and no parity check "
                     f"(backend {previous['backend']}, as computed)")
        else:
            model, backend, reuse = choose_backend(model, info, opts, self.device, entry, self.run_splits,
                                                   self.splits, self.splits.unchecked, self.crops, self.log,
                                                   warn=lambda msg: self._split_warning(name, "warning: " + msg))
        self._record_model(name, model, info, backend)
        if entry.output_kind == "root":
            self._run_rootnet(name, model, reuse)
        else:
            self._run_pose(name, model, reuse)
        self.store.drop_partials(name)  # its predictions files exist now
        free_model(model)

    def _record_model(self, name: str, model, info: ModelInfo, backend: dict) -> None:
        cfg, ident = model.config, model_identity(info, model)
        prev, cost = self.store.previous_model(name), None
        if (prev and prev.get("_identity") == ident and prev.get("cost")
                and prev["cost"].get("device") == self.device.type):
            cost = prev["cost"]
            self.log(f"[{name}] cost profile reused from the previous run in {self.store.out} (--force recomputes)")
        elif self.opts.profile and self.dist.is_main:
            from .cost_cache import cached_cost

            def measure():
                self.log(f"[{name}] profiling cost on {self.device.type}")
                return cost_entry(model, self.opts, self.device)

            o = self.opts
            cost = cached_cost(model, {"device": self.device.type, "batch_sizes": [1, o.profile_batch or o.batch_size],
                                       "iters": o.profile_iters or 5, "channels_last": bool(o.channels_last),
                                       "compile": bool(o.compile)}, measure, self.log,
                               lambda msg: self._split_warning(name, "warning: " + msg), name)
        ck = info.checkpoint_info or {}
        # backend: the runtime this model really ran on (a foreign .onnx file runs on onnxruntime whatever
        # --backend says)
        self.store.document["models"][name] = ModelEntry(
            spec=info.spec, family=cfg.family, variant=cfg.variant, config=cfg.to_dict(),
            weights={"kind": info.weights, "path": info.checkpoint, "sha256": info.sha256,
                     "epoch": ck.get("epoch")},
            label=info.label, published=published_of(cfg, info), cost=cost,
            input=input_entry(cfg, info), backend=backend["backend"], backend_choice=backend,
            identity=ident).to_json()
        self.store.write()

    def _previous_if_all_reused(self, name: str, entry: ModelPlan, identity: dict) -> dict | None:
        """The previous run's ``models[name]`` when every evaluation this model makes in this run can be re-used
        (same settings and model identity, each predictions file matching its sha256, each split's data unchanged,
        the cost profile there when one is asked for), checked without a word: ``_reuse`` says it per evaluation.
        None when anything is to be computed. Corrupted-crop evaluations and sharded runs are decided per
        evaluation only."""
        prev = self.store.previous_model(name)
        if (prev is None or prev.get("_identity") != identity or not prev.get("backend") or self.corruptions
                or self.dist.enabled):
            return None
        if self.opts.profile and (prev.get("cost") or {}).get("device") != self.device.type:
            return None
        kind = "root_evaluations" if entry.output_kind == "root" else "evaluations"
        for ds, split in self.run_splits:
            roots = self.roots_of(ds)
            pairs = ([(b, b) for b in dict.fromkeys(ds.box_of(r) for r in roots)] if kind == "root_evaluations"
                     else [(r, ds.box_of(r)) for r in roots])
            for root, box in pairs:
                ev = self.store.previous_evaluation(kind, name, identity, ds.name, split, root)
                if (ev is None or self.store.check_predictions(ev) is not None
                        or describe_change(ev.get("data"), self.splits.fingerprint(ds.name, split, box))):
                    return None
        return prev

    def _reuse(self, kind: str, name: str, ds: Dataset, split: str, root: str, box: str,
               corruption: tuple[str, int] | None = None) -> dict | None:
        """The previous evaluation to re-use, when model, settings and data are the same (rank 0 decides)."""
        decision = None
        identity = self.store.document["models"][name]["_identity"]
        ev = (self.store.previous_evaluation(kind, name, identity, ds.name, split, root, corruption)
              if self.dist.is_main else None)
        what = (f"[{name}] {ds.title} {split} {'boxes' if kind == 'root_evaluations' else 'root'}={root}"
                + (f" {corruption[0]} s{int(corruption[1])}" if corruption else ""))
        problem = self.store.check_predictions(ev) if ev is not None else None
        before = (self.store.previous_model(name) or {}).get("backend")
        now = self.store.document["models"][name].get("backend")
        if ev is not None and problem is None and before != now:
            problem = f"it was computed on {before}, this run uses {now} for this model"
        if problem is not None:
            self._split_warning(name, f"warning: {what}: not re-using the previous evaluation: {problem}; computing "
                                "it again")
            ev = None
        if ev is not None:  # previous evaluations without their predictions file were pruned
            fp = self.splits.fingerprint(ds.name, split, box)
            changed = describe_change(ev.get("data"), fp)
            results_file = self.store.final_out / "results.json"
            if changed:
                self.log(f"{what}: recomputing, the data changed since the evaluation in {results_file}: {changed}")
            else:
                self.log(f"{what}: re-using the evaluation in {results_file} (same model, settings and data: "
                         f"{summary(fp)}); --force recomputes it")
                decision = {**ev, "data": fp}  # where and when the same content is now
        decision = self.dist.broadcast(decision)
        if decision is not None:
            self.log(f"{what}: reused from the previous run in {self.store.out} (--force recomputes)")
        return decision

    def _run_rootnet(self, name: str, model, reuse: dict | None = None) -> None:
        doc, cache = self.store.document, dict(reuse or {})  # crops the backend choice computed already
        for ds, split in self.run_splits:
            for box in dict.fromkeys(ds.box_of(r) for r in self.roots_of(ds)):
                prev = self._reuse("root_evaluations", name, ds, split, box, box)
                samples = self.splits(ds.name, split, box)
                if prev is not None:
                    doc["root_evaluations"].append(prev)
                    if self.dist.is_main:
                        with np.load(self.store.out / prev["predictions"]) as z:
                            self.root_predictions[(ds.name, split, box)] = z["root_cam"]
                    continue
                self.log(f"[{name}] {ds.title} {split} boxes={box}: {len(samples)} images{skipped_note(samples)}")
                record, root_cam = score_root_split(
                    model, name, ds, samples, self.opts, self.device, self.store,
                    lambda: self.splits.fingerprint(ds.name, split, box), dist=self.dist, cache=cache,
                    crops=self.crops, stop=self.stop)
                if record is not None:
                    self.root_predictions[(ds.name, split, box)] = root_cam
                    doc["root_evaluations"].append(record.to_json())
                    self.store.write()

    def _run_pose(self, name: str, model, reuse: dict | None = None) -> None:
        opts, dist, doc, cfg = self.opts, self.dist, self.store.document, model.config
        engine = PoseInference(model, opts, self.device, name, dist=dist, identity=doc["models"][name]["_identity"],
                               store=self.crops, log=self.log, stop=self.stop,
                               warn=lambda msg: self._split_warning(name, "warning: " + msg))
        engine.cache.update(reuse or {})  # crops the backend choice computed already, on the chosen backend
        for ds, split in self.run_splits:
            for root in self.roots_of(ds):
                box = ds.box_of(root)
                samples = self.splits(ds.name, split, box)
                prev = self._reuse("evaluations", name, ds, split, root, box)
                if prev is not None:
                    doc["evaluations"].append(prev)
                    continue
                partial = self.store.partial_dir(name, ds.name, split, f"{box}__flip{int(opts.flip)}")
                if not dist.is_main:  # compute this rank's shard; rank 0 scores and writes
                    engine.run(samples, partial)
                    continue
                root_cam = self._root_cam(ds, split, root, samples)
                self.log(f"[{name}] {ds.title} {split} root={root}: {len(samples)} images{skipped_note(samples)}"
                         + (f" on {dist.world_size} ranks" if dist.enabled else ""))
                record = score_pose_split(engine, name, cfg, ds, samples, root, root_cam, opts, self.device,
                                          self.store, lambda: self.splits.fingerprint(ds.name, split, box), partial,
                                          self.log)
                doc["evaluations"].append(record.to_json())
                self.store.write()
        if self.corruptions and dist.is_main:
            run_corruptions(self, engine, name, cfg)

    def _root_cam(self, ds: Dataset, split: str, root: str, samples) -> np.ndarray:
        """[N,3] camera mm: the root a split's predictions are back-projected with (RootNet's for rootnet-model)."""
        if root == "rootnet-model":
            return self.root_predictions[(ds.name, split, ds.box_of(root))]
        return samples.root_cam
