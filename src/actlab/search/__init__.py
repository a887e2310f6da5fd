"""Activation search: discover activations the way Swish was found (Ramachandran, Zoph and Le, 2017).

A space of formulas (:mod:`actlab.search.space`), cheap filters before any training
(:mod:`actlab.search.filters`), random search and regularized evolution with a proxy task trained
through the experiment runner, and the finalists re-evaluated with the paired statistics
(:mod:`actlab.search.engine`); `actlab search` on the command line (:mod:`actlab.search.command`).
"""

from __future__ import annotations

from .engine import Outcome, Proxy, Settings, reevaluate, run_search
from .space import SPACES, Candidate, Space

__all__ = ["SPACES", "Candidate", "Outcome", "Proxy", "Settings", "Space", "reevaluate", "run_search"]
