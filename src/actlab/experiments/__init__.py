"""Experiments on real data: datasets, models, a resumable parallel runner and its results store."""

from .runner import RunConfig, configs, run, summarise, sweep
from .store import DEFAULT_PATH, ResultsStore, StoreError

__all__ = ["DEFAULT_PATH", "ResultsStore", "RunConfig", "StoreError", "configs", "run", "summarise", "sweep"]
