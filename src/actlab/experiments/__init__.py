"""Experiments on real data: does the activation matter for a model, and which one to use?

:func:`compare` trains a model (built in, or your own) once per activation and seed in a paired
design, keeps every run in a SQLite results store (:class:`ResultsStore`), and tests each activation
against a baseline (:mod:`actlab.experiments.stats`).  PyTorch is imported when a comparison runs,
not on import.
"""

from .runner import RunConfig, configs, run, sweep
from .store import DEFAULT_PATH, ResultsStore, StoreError


def __getattr__(name: str) -> object:
    if name in ("compare", "Comparison", "comparisons", "analyse"):
        from . import api, comparison

        return {
            "compare": api.compare,
            "Comparison": comparison.Comparison,
            "comparisons": comparison.comparisons,
            "analyse": comparison.analyse,
        }[name]
    raise AttributeError(f"module 'actlab.experiments' has no attribute {name!r}")


__all__ = [
    "DEFAULT_PATH",
    "Comparison",
    "ResultsStore",
    "RunConfig",
    "StoreError",
    "analyse",
    "compare",
    "comparisons",
    "configs",
    "run",
    "sweep",
]
