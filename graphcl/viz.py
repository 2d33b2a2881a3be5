"""Plots people would rather look at than tables: training curves and speed comparisons.

Needs matplotlib (``pip install graphcl[plot]``); it is imported only when a plot is drawn.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["plot_compactness_histogram", "plot_curves", "plot_evaluations", "plot_paired_arms",
           "plot_speed_results", "plot_training_log"]


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("plotting needs matplotlib: pip install 'graphcl[plot]'") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_png: str | Path) -> Path:
    """Lay out, write (creating the folder) and close ``fig``; returns the path written."""
    plt = _pyplot()
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _plot_csv_columns(csv_path: str | Path, out_png: str | Path, skip: tuple[str, ...],
                      ylabel: str, **line_style) -> Path:
    """One line per column of ``csv_path`` (except ``epoch`` and ``skip``) against the epoch;
    empty cells are gaps."""
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{csv_path} has no rows to plot")
    epochs = [int(row["epoch"]) for row in rows]
    curves = {key: (epochs, [float(row[key]) if row.get(key) not in (None, "") else float("nan")
                             for row in rows])
              for key in rows[0] if key != "epoch" and key not in skip}
    return plot_curves(curves, out_png, ylabel=ylabel, **line_style)


def plot_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                out_png: str | Path, ylabel: str, xlabel: str = "epoch",
                title: str | None = None, **line_style) -> Path:
    """One labelled line per entry of ``curves`` (``label -> (xs, ys)``); NaN values are gaps.

    Returns:
        The path written.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, (xs, ys) in curves.items():
        ax.plot(xs, ys, label=label, **line_style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, out_png)


def plot_training_log(log_csv: str | Path, out_png: str | Path) -> Path:
    """Plot the loss (and its named parts) per epoch from a run's ``log.csv``.

    Args:
        log_csv: the ``log.csv`` of a run directory.
        out_png: where to write the figure.

    Returns:
        The path written.
    """
    return _plot_csv_columns(log_csv, out_png, skip=("seconds",), ylabel="loss")


def plot_evaluations(eval_csv: str | Path, out_png: str | Path) -> Path:
    """Plot every metric of a run's periodic evaluations (``eval.csv``, written with
    ``train.eval_every``) against the epoch.

    Args:
        eval_csv: the ``eval.csv`` of a run directory.
        out_png: where to write the figure.

    Returns:
        The path written.
    """
    return _plot_csv_columns(eval_csv, out_png, skip=(), ylabel="metric (%)", marker="o",
                             markersize=3)


def plot_speed_results(result_files: Sequence[str | Path], out_png: str | Path) -> Path:
    """Bar chart of seconds per epoch, graphcl vs reference, from ``speed_*.json`` records.

    A dataset whose reference was infeasible gets only graphcl's bar, labelled so.
    """
    records = [json.loads(Path(path).read_text()) for path in result_files]
    records.sort(key=lambda record: record["num_nodes"])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    positions = range(len(records))
    ours = [record["seconds_per_epoch"] for record in records]
    reference = [record.get("reference_seconds_per_epoch") or 0.0 for record in records]
    ax.bar([p - 0.2 for p in positions], ours, width=0.4, label="graphcl")
    ax.bar([p + 0.2 for p in positions], reference, width=0.4, label="reference (official form)")
    for position, record in zip(positions, records):
        note = (f"{record['speedup']:.1f}×" if record.get("speedup")
                else "reference infeasible")
        ax.annotate(note, (position, max(ours[position], reference[position])),
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(positions), [f"{r['dataset']}\nN={r['num_nodes']:,}" for r in records],
                  fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("seconds per epoch (log)")
    ax.legend()
    return _save(fig, out_png)


def plot_compactness_histogram(scores: Sequence, out_png: str | Path,
                               title: str = "node compactness", bins: int = 60) -> Path:
    """Histogram of node compactness (POT's analysis): one series per view (``[N]`` tensors
    or arrays), with the violation threshold 0 marked and the violating share in the legend."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    arrays = [np.asarray(s, dtype=float) for s in scores]
    edges = np.histogram_bin_edges(np.concatenate(arrays), bins=bins)
    for index, values in enumerate(arrays):
        share = 100.0 * float((values < 0).mean())
        ax.hist(values, bins=edges, alpha=0.55,
                label=f"view {index + 1}: {share:.1f}% below 0")
    ax.axvline(0.0, color="black", linewidth=1, linestyle="--")
    ax.set_xlabel("node compactness")
    ax.set_ylabel("nodes")
    ax.set_title(title)
    ax.legend()
    return _save(fig, out_png)


def plot_paired_arms(panels: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                     out_png: str | Path, arms: tuple[str, str] = ("without", "with"),
                     title: str | None = None) -> Path:
    """A paired comparison, one panel per metric: each seed is a line from its value under
    the first arm to its value under the second (green where the second is higher, red where
    lower, grey when equal), and each arm's mean is drawn with its 95 % t interval.

    Args:
        panels: ``metric -> (first_arm_values, second_arm_values)``, paired by position
            (``[n]`` each, the same seeds in the same order).
        out_png: where to write the figure.
        arms: the two arms' names, as the x-axis labels.
        title: the figure's title.

    Returns:
        The path written.
    """
    import numpy as np

    from .eval.metrics import t_interval_halfwidth

    if not panels:
        raise ValueError("nothing to plot: give at least one metric")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    for ax, (metric, (first, second)) in zip(axes[0], panels.items()):
        a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
        if a.shape != b.shape or a.ndim != 1 or a.size == 0:
            raise ValueError(f"{metric}: the two arms need equally many paired values, got "
                             f"{a.shape} and {b.shape}")
        for x0, x1 in zip(a, b):
            color = "tab:green" if x1 > x0 else "tab:red" if x1 < x0 else "grey"
            ax.plot([0, 1], [x0, x1], color=color, alpha=0.6, marker="o", markersize=3)
        for position, values in ((0, a), (1, b)):
            half = t_interval_halfwidth(values) if values.size > 1 else 0.0
            ax.errorbar(position + (-0.12 if position == 0 else 0.12), values.mean(), yerr=half,
                        color="black", marker="s", capsize=4)
        diff = b - a
        ax.set_title(f"{metric}: {diff.mean():+.2f} (n = {diff.size})", fontsize="medium")
        ax.set_xticks([0, 1], list(arms))
        ax.set_xlim(-0.4, 1.4)
        ax.grid(alpha=0.3, axis="y")
    if title:
        fig.suptitle(title, fontsize="medium")
    return _save(fig, out_png)
