"""Figures of training diagnostics and comparisons (matplotlib, written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._io import make_folder
from ..viz import _pyplot, save
from .runner import arm_label


def monitor_figure(monitor: Any, path: str | Path, field: str = "dead_fraction") -> Path:
    """Per-layer bars (zeros, dead, saturated) and a layer × step heatmap of ``field``."""
    plt = _pyplot()
    summary = monitor.summary()
    fig, (bars, heat) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1.4]})
    labels = [f"{s.path}\n{s.activation}" for s in summary]
    xs = np.arange(len(summary))
    for i, (name, key) in enumerate(
        (("zeros", "zero_fraction"), ("dead", "dead_fraction"), ("saturated", "saturated_fraction"))
    ):
        bars.bar(xs + (i - 1) * 0.27, [getattr(s, key) for s in summary], width=0.27, label=name)
    bars.set_xticks(xs, labels, fontsize=8)
    bars.set_ylim(0, 1)
    bars.set_ylabel("fraction")
    bars.legend(fontsize=8)
    bars.set_title("per layer (last window)")
    data = monitor.history_array(field) if monitor.history else np.zeros((1, len(summary)))
    image = heat.imshow(data.T, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    heat.set_yticks(xs, [s.path for s in summary], fontsize=8)
    heat.set_xlabel("training step")
    heat.set_title(field.replace("_", " "))
    fig.colorbar(image, ax=heat)
    return save(fig, path)


def dying_relu_figure(runs: dict[str, dict[str, Any]], path: str | Path) -> Path:
    """Dead fraction of the second hidden layer per step, one line per activation."""
    plt = _pyplot()
    fig, (dead, loss) = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, r in runs.items():
        dead.plot(r["dead"][:, -1], label=name)
        loss.plot(r["loss"], label=name)
    dead.set(xlabel="SGD step (learning rate 1.0)", ylabel="dead fraction, hidden layer 2", ylim=(-0.02, 1))
    loss.set(xlabel="SGD step", ylabel="training loss")
    dead.legend()
    dead.set_title("ReLU units die; Leaky ReLU and ELU units do not")
    return save(fig, path)


def _history_metric(row: dict[str, Any]) -> float:
    value = row.get("test_metric", row.get("test_acc"))
    return float("nan") if value is None else float(value)


def comparison_figures(comparison: Any, directory: str | Path) -> list[Path]:
    """The figures of one comparison (:class:`actlab.experiments.comparison.Comparison`) in ``directory``
    (created if its parent exists):

    - ``learning_curves.png``: the test metric per epoch, mean over seeds, one line per activation;
    - ``differences.png``: each activation's paired difference from the baseline with its 95% t
      interval, marked by verdict, the baseline at 0;
    - ``metric_vs_seconds.png``: every run's final metric against its training seconds.
    """
    plt = _pyplot()
    directory = make_folder(directory)
    c = comparison
    colours = {a: f"C{i % 10}" for i, a in enumerate(c.activations)}
    curves: dict[str, list[list[float]]] = {}
    for r in c.runs:
        label = arm_label(r["config"])
        rows = [_history_metric(e) for e in r["result"].get("history", [])]
        if rows:
            curves.setdefault(label, []).append(rows)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in c.activations:
        rows = curves.get(name)
        if not rows:
            continue
        n = min(len(x) for x in rows)
        ax.plot(np.arange(1, n + 1), np.nanmean([x[:n] for x in rows], axis=0), label=name, color=colours[name])
    ax.set(xlabel="epoch", ylabel=f"test {c.metric} (mean over seeds)")
    ax.legend(fontsize=8)
    paths = [save(fig, directory / "learning_curves.png")]

    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * max(2, len(c.activations))))
    paired = {p.activation: p for p in c.paired}
    ys = np.arange(len(c.activations))[::-1]
    marks = {"better": "#2a7", "worse": "#c33", "no detectable difference": "#888", "not tested": "#bbb"}
    for y, name in zip(ys, c.activations, strict=True):
        p = paired.get(name)
        if p is None:
            ax.plot([0], [y], "D", color="k")
            continue
        if np.isfinite(p.mean):
            lo, hi = p.ci_t
            if np.isfinite(lo):
                ax.plot([lo, hi], [y, y], color=marks.get(p.verdict, "#888"), lw=2)
            ax.plot([p.mean], [y], "o", color=marks.get(p.verdict, "#888"))
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(ys, [n + (" (baseline)" if n == c.baseline else "") for n in c.activations], fontsize=8)
    better = "higher" if c.higher_is_better else "lower"
    ax.set_xlabel(f"Δ {c.metric} vs {c.baseline}, paired over seeds (95% t interval; {better} is better)")
    handles = [plt.Line2D([], [], color=v, marker="o", lw=2, label=k) for k, v in marks.items() if k != "not tested"]
    ax.legend(handles=handles, fontsize=7, loc="best")
    paths.append(save(fig, directory / "differences.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in c.activations:
        pts = c.points(name)
        xs, ys2 = zip(*pts, strict=True) if pts else ((), ())
        ax.scatter(xs, ys2, label=name, color=colours[name], s=18)
    ax.set(xlabel="training seconds per run", ylabel=f"final test {c.metric}")
    ax.legend(fontsize=8)
    paths.append(save(fig, directory / "metric_vs_seconds.png"))
    return paths
