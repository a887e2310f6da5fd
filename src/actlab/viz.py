"""Figures of activations: f and f' overlaid or as small multiples (matplotlib, written atomically).

>>> from actlab.viz import plot_activations                       # doctest: +SKIP
>>> plot_activations(["gelu", "silu", "mish"], "cmp.png", derivative=True)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._io import check_file, replacing
from .catalog.spec import Elementwise
from .errors import ActlabError
from .numpy import Activation, get

FORMATS = (".png", ".svg", ".pdf")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ActlabError("plotting needs matplotlib: pip install 'actlab[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_output(path: str | Path, what: str | None = None) -> Path:
    """Check a figure's path before drawing: a known format (by the suffix) in a folder that exists
    and takes files (:func:`actlab._io.check_file`)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ActlabError(f"cannot write {path.name!r}: the file name must end in {', '.join(FORMATS)}")
    return check_file(path, what)


def save(fig: Any, path: str | Path) -> Path:
    """Write a figure atomically (:func:`actlab._io.replacing`): a killed write never leaves half a file at
    ``path``, and the file gets the umask's mode.  The folder must exist."""
    path = check_output(path)
    try:
        with replacing(path) as fh:
            fig.savefig(fh, format=path.suffix.lower()[1:], dpi=150, bbox_inches="tight")
    finally:
        _pyplot().close(fig)
    return path


def _label(act: Activation) -> str:
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in act.params.items())
    return act.name + (f" ({params})" if params else "")


def plot_activations(
    activations: Sequence[Activation | str],
    path: str | Path,
    *,
    derivative: bool = False,
    x_range: tuple[float, float] = (-5.0, 5.0),
    grid: bool = False,
) -> Path:
    """f (and f') of each activation on ``x_range``: one overlay, or small multiples with ``grid``."""
    check_output(path)
    acts = [get(a) if isinstance(a, str) else a for a in activations]
    if not acts:
        raise ActlabError("name at least one activation to plot")
    for a in acts:
        if not isinstance(a.spec, Elementwise):
            raise ActlabError(f"{a.name} is not elementwise (kind: {a.kind}); plot takes elementwise activations")
    lo, hi = x_range
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ActlabError(f"the range must be two finite numbers, low < high; got {lo} {hi}")
    plt = _pyplot()
    x = np.linspace(lo, hi, 1001)
    if grid:
        cols = min(4, len(acts))
        rows = math.ceil(len(acts) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, sharex=True)
        for ax, a in zip(axes.flat, acts):
            ax.plot(x, a(x), label="f")
            if derivative:
                ax.plot(x, a.derivative(x), "--", label="f'")
            ax.axhline(0, color="0.7", lw=0.6)
            ax.axvline(0, color="0.7", lw=0.6)
            ax.set_title(_label(a), fontsize=9)
        for ax in list(axes.flat)[len(acts) :]:
            ax.set_visible(False)
        if derivative:
            axes.flat[0].legend(fontsize=8)
    else:
        fig, panels = plt.subplots(1, 2 if derivative else 1, figsize=(11 if derivative else 6, 4), squeeze=False)
        for a in acts:
            panels[0, 0].plot(x, a(x), label=_label(a))
            if derivative:
                panels[0, 1].plot(x, a.derivative(x), label=_label(a))
        titles = ["f(x)", "f'(x)"] if derivative else ["f(x)"]
        for ax, title in zip(panels[0], titles):
            ax.axhline(0, color="0.7", lw=0.6)
            ax.axvline(0, color="0.7", lw=0.6)
            ax.set(title=title, xlabel="x")
            ax.legend(fontsize=8)
    return save(fig, path)
