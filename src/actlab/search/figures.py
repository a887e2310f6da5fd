"""The search's figures: its progress over time and its finalists' f and f′."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .._io import make_folder
from ..viz import _pyplot, save

FILES = ("search_progress.png", "search_finalists.png")
"""The two figures' file names on the search's own page (the report names them after the search)."""


def search_figures(
    outcome: Any,
    directory: str | Path,
    finalists: int = 3,
    names: tuple[str, str] = FILES,
) -> list[Path]:
    """In ``directory`` (created if its parent exists), under ``names``:

    - ``search_progress.png``: each trained candidate's proxy metric in the order trained, and the best so
      far as a line;
    - ``search_finalists.png``: f (solid) and f′ (dashed) of the best ``finalists`` beside ReLU and SiLU.
    """
    import actlab

    plt = _pyplot()
    directory = make_folder(directory)
    trained = outcome.trained
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    xs = np.arange(1, len(trained) + 1)
    ys = np.array([t.metric for t in trained], dtype=float)
    ax.scatter(xs, np.where(np.isfinite(ys), ys, np.nan), s=12, color="#888", label="candidate (proxy, one seed)")
    best = outcome.best_so_far()
    ax.plot(xs, [b if math.isfinite(b) else np.nan for b in best], color="C0", label="best so far")
    ax.set(xlabel="candidates trained", ylabel="proxy test accuracy")
    ax.set_title(f"{outcome.settings.strategy} search of {outcome.settings.space}", fontsize=9)
    ax.legend(fontsize=8)
    paths = [save(fig, directory / names[0])]

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    grid = np.linspace(-5, 5, 401)
    shown = [("relu", "relu"), ("silu", "silu")]
    shown += [(t.canonical, t.canonical) for t in outcome.leaderboard(finalists)]
    for i, (name, label) in enumerate(shown):
        act = actlab.get(name)
        with np.errstate(all="ignore"):
            axes[0].plot(grid, act(grid), color=f"C{i}", label=label if len(label) < 40 else label[:37] + "...")
            axes[1].plot(grid, act.derivative(grid), color=f"C{i}", linestyle="--")
    axes[0].set(title="f", xlabel="x")
    axes[1].set(title="f′", xlabel="x")
    axes[0].legend(fontsize=7)
    paths.append(save(fig, directory / names[1]))
    return paths
