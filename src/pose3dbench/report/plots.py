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


def save_figure(fig: Figure, path: Path, footer: str | None = None) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically; ``footer`` (how the figure was made) is stamped below it."""
    if footer:
        fig.text(0.005, 0.003, footer, fontsize=6.5, color="#59636e", ha="left", va="bottom", wrap=True)
        fig.get_layout_engine().set(rect=(0, 0.045, 1, 0.955))
    return write_with(path, lambda f: fig.savefig(f, format="png", dpi=DPI))


def _style(ax) -> None:
    ax.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def grouped_bars(path: Path, categories: Sequence[str], series: dict[str, Sequence[float]],
                 colors: dict[str, tuple], ylabel: str, title: str, footer: str | None = None) -> Path:
    """Grouped bar chart: one group per category (action or joint), one bar per model. NaN bars are left out.

    The title sits above the axes and the legend to the right of them (never over the title or the bars).
    """
    n_cat, n_ser = len(categories), max(len(series), 1)
    width = min(16.0, max(8.0, 0.28 * n_cat * n_ser + 2.0)) + (2.2 if n_ser > 1 else 0.0)
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
    if n_ser > 1:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0)
    ax.set_title(title, fontsize=11, loc="left")
    return save_figure(fig, path, footer)


def heatmap(path: Path, rows: Sequence[str], cols: Sequence[str], values: np.ndarray, label: str, title: str,
            footer: str | None = None) -> Path:
    """Rows x columns of values (e.g. models x joints, mm) as a heatmap with every cell's value written in it.

    NaN cells are grey and empty. One colour scale for the whole grid (the colourbar is labelled ``label``).
    """
    v = np.asarray(values, dtype=np.float64)
    n_r, n_c = v.shape
    fig = new_figure(max(7.0, 0.62 * n_c + 3.2), max(2.6, 0.36 * n_r + 1.9))
    ax = fig.add_subplot()
    masked = np.ma.masked_invalid(v)
    cmap = colormaps["viridis"].with_extremes(bad="#d0d7de")
    finite = v[np.isfinite(v)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi <= lo:  # one value everywhere (e.g. untrained models): a unit-wide scale around it
        lo, hi = lo - 0.5, lo + 0.5
    im = ax.imshow(masked, cmap=cmap, aspect="auto", vmin=lo, vmax=hi)
    ax.set_xticks(np.arange(n_c), list(cols), rotation=40, ha="right", fontsize=8)
    ax.set_yticks(np.arange(n_r), list(rows), fontsize=8)
    mid = (lo + hi) / 2
    for r in range(n_r):
        for c in range(n_c):
            if np.isfinite(v[r, c]):
                ax.text(c, r, f"{v[r, c]:.0f}" if abs(v[r, c]) >= 100 else f"{v[r, c]:.1f}", ha="center",
                        va="center", fontsize=6.5, color="white" if v[r, c] < mid else "black")
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    fig.colorbar(im, ax=ax, label=label, fraction=0.04, pad=0.02)
    ax.set_title(title, fontsize=11, loc="left")
    return save_figure(fig, path, footer)


def cost_scatter(path: Path, names: Sequence[str], errors: Sequence[float],
                 costs: dict[str, Sequence[float]], colors: dict[str, tuple], ylabel: str, title: str,
                 footer: str | None = None, draw_front: bool = True) -> Path:
    """One panel per cost axis (label -> values per model): error (mm) vs cost, Pareto front joined.

    The front (lower error and lower cost) is drawn as a dashed step line with ringed markers (``draw_front``).
    Models with a missing cost (NaN) are left out of that panel. Labels of the right-most points are
    written to their left so that none is clipped at the panel's edge.
    """
    err = np.asarray(errors, dtype=np.float64)
    fig = new_figure(4.4 * len(costs) + 0.6, 4.4)
    axes = fig.subplots(1, len(costs), squeeze=False)[0]
    for ax, (label, values) in zip(axes, costs.items()):
        c = np.asarray(values, dtype=np.float64)
        pts = np.stack([c, err], axis=1)
        ok = np.all(np.isfinite(pts), axis=1)
        front = pareto_front(pts) if draw_front else np.zeros(0, dtype=np.int64)
        right = np.nanmax(c[ok]) if ok.any() else 0.0
        left = np.nanmin(c[ok]) if ok.any() else 0.0
        for i in np.flatnonzero(ok):
            ax.scatter(c[i], err[i], s=46, color=colors.get(names[i]), zorder=3, label=names[i])
            at_right = ok.sum() > 1 and c[i] > left + 0.6 * (right - left)
            ax.annotate(names[i], (c[i], err[i]), textcoords="offset points", xytext=(-5 if at_right else 5, 4),
                        ha="right" if at_right else "left", fontsize=7.5, annotation_clip=False)
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
    return save_figure(fig, path, footer)


def ci_chart(path: Path, labels: Sequence[str], cis: Sequence[CI], colors: Sequence[tuple],
             xlabel: str, title: str, footer: str | None = None) -> Path:
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
    return save_figure(fig, path, footer)
