"""The Python API beside the CLI: ``benchmark``, ``evaluate``, ``write_report`` (also ``pose3dbench.<name>``; the
report function is not called ``report``, which is the package ``pose3dbench.report``).

Stable under internal moves: notebooks and scripts call these, not ``pose3dbench.eval``/``report`` internals.

    import pose3dbench
    res = pose3dbench.benchmark(data="/data/h36m", models=["convnextpose-s:pretrained"], splits=["p2"])
    print(res.table())                                  # the run's summary (each split in its unit)
    res.value("convnextpose-s:pretrained", "h36m", "p2")  # 51.8 (mm): the split's primary value, GT root
    pose3dbench.evaluate("out/predictions/x.npz", data="/data/h36m")["total_mm"]
    pose3dbench.write_report("out", latex=True)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable


@dataclass(frozen=True)
class BenchmarkResults:
    """A run's results: ``document`` is its results.json (schema in ``results.schema``), ``out`` its folder."""

    out: Path
    document: dict

    @property
    def evaluations(self) -> list[dict]:
        return list(self.document["evaluations"])

    @property
    def models(self) -> dict[str, dict]:
        return dict(self.document["models"])

    def value(self, model: str, dataset: str | None = None, split: str | None = None, root: str = "gt") -> float | None:
        """The primary value (the split's declared metric, in its unit) of ``model`` on (dataset, split, root);
        ``dataset`` / ``split`` default to the run's first dataset and its primary split."""
        from .report.tables import datasets_of, value_of

        first = datasets_of(self.document)[0]
        dataset = dataset or first["name"]
        if split is None:
            entry = next(d for d in datasets_of(self.document) if d["name"] == dataset)
            split = entry.get("primary_split") or entry["splits"][0]
        for ev in self.document["evaluations"]:
            if (ev["model"], ev["dataset"], ev["split"], ev["root"]) == (model, dataset, split, root):
                return value_of(self.document, ev)
        return None

    def table(self) -> str:
        """The plain-text summary ``pose3dbench run`` prints."""
        from .report.tables import summary_table

        return summary_table(self.document)


def benchmark(data=None, models: Iterable[str] = (), *, dataset: str | Iterable[str] | None = None,
              splits: Iterable[str] | None = None, roots: Iterable[str] = ("gt", "rootnet"),
              out: str | Path = "pose3dbench-out", log: Callable[[str], None] | None = print,
              **options) -> BenchmarkResults:
    """Run the benchmark (``pose3dbench run``) and return its results.

    ``data``: a dataset folder or several (None: the built-in synthetic sets); ``models``: model specs (as
    ``--model``; empty: every registered variant, untrained); ``dataset``: the name(s) of what ``data`` holds
    (default: recognised); ``splits``: split names (e.g. ``["p2"]``; None: each dataset's own); ``roots``: root
    sources; ``out``: the output folder; ``options``: any other ``eval.options.RunOptions`` field (``limit``,
    ``limit_per_group``, ``flip``, ``batch_size``, ``backend``, ``device``, ``force``, ``report``, ...).
    """
    from .eval.options import RunOptions
    from .eval.runner import run_benchmark

    known = {f.name for f in dataclasses.fields(RunOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown benchmark option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    folders = () if data is None else ((data,) if isinstance(data, (str, Path)) else tuple(data))
    names = () if dataset is None else ((dataset,) if isinstance(dataset, str) else tuple(dataset))
    opts = RunOptions(data=tuple(Path(d) for d in folders), datasets=names, models=list(models),
                      splits=None if splits is None else tuple(str(s) for s in splits), roots=tuple(roots),
                      out=Path(out), **options)
    document = run_benchmark(opts, log=log or (lambda msg: None))
    return BenchmarkResults(Path(out), document)


def evaluate(predictions, data, *, dataset: str | None = None, split: str | None = None, root: str | None = None,
             joint_set: str | None = None) -> dict:
    """Score saved predictions (``pose3dbench evaluate``): the dataset's record of the split (JSON-able; the
    per-sample values under ``per_sample``). See ``eval.rescore.rescore``."""
    from .eval.rescore import rescore

    return rescore(predictions, data, dataset=dataset, split=split, root=root, joint_set=joint_set)


def write_report(out: str | Path, *, latex: bool = False, dataset: bool = True, **options) -> dict[str, Path]:
    """(Re)build the report of a run folder (``pose3dbench report``); returns the written files by kind.

    ``dataset``: re-read the run's datasets for the qualitative panel and root CIs; ``options``: ``n_resamples``,
    ``seed``, ``threshold_mm`` of ``report.build.build_report``.
    """
    from .commands.report import load_samples_for
    from .report.build import build_report
    from .report.collect import load_results

    samples = load_samples_for(load_results(Path(out)))[0] if dataset else None
    return build_report(Path(out), samples_by_split=samples, latex=latex, **options)


__all__ = ["BenchmarkResults", "benchmark", "evaluate", "write_report"]
