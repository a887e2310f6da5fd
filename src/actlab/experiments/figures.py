"""Figures of training diagnostics and comparisons (matplotlib, written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._io import make_folder
from ..viz import _pyplot, save


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


def comparison_figures(results: list[dict[str, Any]], table: list[dict[str, Any]], directory: str | Path) -> list[Path]:
    """Learning curves (test accuracy per epoch, mean over seeds) and final accuracy with 95% CIs, as
    ``learning_curves.png`` and ``accuracy.png`` in ``directory`` (created if its parent exists)."""
    plt = _pyplot()
    directory = make_folder(directory)
    curves: dict[str, list[list[float]]] = {}
    for r in results:
        curves.setdefault(r["config"]["activation"], []).append([e["test_acc"] for e in r["result"]["history"]])
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rows in curves.items():
        n = min(len(x) for x in rows)
        ax.plot(np.arange(1, n + 1), np.mean([x[:n] for x in rows], axis=0), label=name)
    ax.set(xlabel="epoch", ylabel="test accuracy (mean over seeds)")
    ax.legend(fontsize=8)
    first = save(fig, directory / "learning_curves.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    names = [r["activation"] for r in table]
    ax.bar(names, [r["test_acc"] for r in table], yerr=[np.nan_to_num(r["ci95"]) for r in table], capsize=4)
    ax.set(ylabel="final test accuracy (mean ± 95% CI)")
    lo = min(r["test_acc"] for r in table)
    ax.set_ylim(max(0.0, lo - 0.1), 1.0)
    ax.tick_params(axis="x", rotation=30)
    second = save(fig, directory / "accuracy.png")
    return [first, second]
