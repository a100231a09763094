"""Report figures drawn with matplotlib's Agg canvas (no pyplot, no global backend change).

Every function writes one PNG atomically and returns its path. Errors are in mm; costs in the
unit given by the caller's axis label (ms, M parameters, GMACs).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .files import write_with
from .pareto import pareto_front
from .stats import CI

DPI = 110


def model_colors(names: Sequence[str]) -> dict[str, tuple]:
    """A stable colour per model name (in the given order): tab10 up to 10 models, tab20 beyond."""
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically."""
    return write_with(path, lambda f: fig.savefig(f, format="png", dpi=DPI))


def _style(ax) -> None:
    ax.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def grouped_bars(path: Path, categories: Sequence[str], series: dict[str, Sequence[float]],
                 colors: dict[str, tuple], ylabel: str, title: str) -> Path:
    """Grouped bar chart: one group per category (action or joint), one bar per model. NaN bars are left out."""
    n_cat, n_ser = len(categories), max(len(series), 1)
    width = min(16.0, max(8.0, 0.28 * n_cat * n_ser + 2.0))
    fig = new_figure(width, 4.6)
    ax = fig.add_subplot()
    x = np.arange(n_cat, dtype=np.float64)
    bar_w = 0.8 / n_ser
    for k, (name, values) in enumerate(series.items()):
        v = np.asarray(values, dtype=np.float64)
        ax.bar(x - 0.4 + bar_w * (k + 0.5), np.where(np.isfinite(v), v, 0.0), bar_w * 0.95,
               label=name, color=colors.get(name))
    ax.set_xticks(x, list(categories), rotation=35, ha="right")
    ax.set_xlim(-0.6, n_cat - 0.4)
    ax.set_ylabel(ylabel)
    _style(ax)
    ax.legend(fontsize=8, ncols=min(n_ser, 6), loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False,
              borderaxespad=0.2)
    ax.set_title(title, fontsize=11, loc="left")
    return save_figure(fig, path)


def cost_scatter(path: Path, names: Sequence[str], errors: Sequence[float],
                 costs: dict[str, Sequence[float]], colors: dict[str, tuple], ylabel: str, title: str) -> Path:
    """One panel per cost axis (label -> values per model): error (mm) vs cost, Pareto front joined.

    The front (lower error and lower cost) is drawn as a dashed step line with ringed markers.
    Models with a missing cost (NaN) are left out of that panel.
    """
    err = np.asarray(errors, dtype=np.float64)
    fig = new_figure(4.4 * len(costs) + 0.6, 4.4)
    axes = fig.subplots(1, len(costs), squeeze=False)[0]
    for ax, (label, values) in zip(axes, costs.items()):
        c = np.asarray(values, dtype=np.float64)
        pts = np.stack([c, err], axis=1)
        ok = np.all(np.isfinite(pts), axis=1)
        front = pareto_front(pts)
        for i in np.flatnonzero(ok):
            ax.scatter(c[i], err[i], s=46, color=colors.get(names[i]), zorder=3, label=names[i])
            ax.annotate(names[i], (c[i], err[i]), textcoords="offset points", xytext=(5, 4), fontsize=7.5)
        if front.size:
            fx, fy = c[front], err[front]
            ax.step(fx, fy, where="post", linestyle="--", color="#6e7781", linewidth=1.1, zorder=2,
                    label="Pareto front")
            ax.scatter(fx, fy, s=150, facecolors="none", edgecolors="#24292f", linewidths=1.2, zorder=4)
        if ok.sum() == 0:
            ax.text(0.5, 0.5, "no cost figures", transform=ax.transAxes, ha="center", color="#6e7781")
        ax.set_xlabel(label)
        ax.set_ylabel(ylabel)
        pos = c[ok & (c > 0)]
        if pos.size >= 2 and pos.max() / pos.min() > 20:  # e.g. 2 M to 60 M parameters: log axis
            ax.set_xscale("log")
        else:
            ax.ticklabel_format(axis="x", useOffset=False, style="plain")
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        ax.margins(x=0.18, y=0.15)
        _style(ax)
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)


def ci_chart(path: Path, labels: Sequence[str], cis: Sequence[CI], colors: Sequence[tuple],
             xlabel: str, title: str) -> Path:
    """Horizontal interval plot: point estimate and bootstrap CI per row (e.g. model x split)."""
    n = len(labels)
    fig = new_figure(8.0, 0.34 * n + 1.4)
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    est = np.array([c.estimate for c in cis])
    lo = np.array([c.low for c in cis])
    hi = np.array([c.high for c in cis])
    ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="none", ecolor="#57606a", capsize=3, zorder=2)
    ax.scatter(est, y, c=list(colors), s=30, zorder=3)
    ax.set_yticks(y, list(labels), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    ax.grid(axis="x", color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return save_figure(fig, path)
