"""Datasets that never come from the network: generated (moons, spirals, MNIST-1D), bundled with a
package (scikit-learn's digits) or on every machine (``pystdlib``: the Python standard library's
source as bytes, :mod:`actlab.experiments.text`).  Each returns its train and test sets, split
deterministically: float32 inputs and int64 labels, or for ``pystdlib`` int64 byte windows and the
same windows shifted by one.  PyTorch is imported only when a dataset is made, so
that a command can check a dataset's name (``DATASETS``, ``NEEDS``) in an instant."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ActlabError, suggest
from .text import pystdlib

if TYPE_CHECKING:
    import torch

Split = tuple["torch.Tensor", "torch.Tensor", "torch.Tensor", "torch.Tensor"]


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> Split:
    import torch

    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return (
        t(x[train].astype(np.float32)),
        t(y[train].astype(np.int64)),
        t(x[test].astype(np.float32)),
        t(y[test].astype(np.int64)),
    )


def moons(n: int = 2000, noise: float = 0.15, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, math.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    return _split(x + noise * rng.standard_normal((n, 2)), label, 0.25, seed)


def spirals(n: int = 2000, noise: float = 0.05, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.5, 3 * math.pi + 0.5, n)
    label = rng.integers(0, 2, n)
    x = np.c_[t * np.cos(t + math.pi * label), t * np.sin(t + math.pi * label)] / 5
    return _split(x + noise * rng.standard_normal((n, 2)), label, 0.25, seed)


def digits(seed: int = 0) -> Split:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ActlabError("the digits dataset needs scikit-learn: pip install 'actlab[experiments]'") from None
    d = load_digits()
    return _split(d.data / 16.0, d.target, 0.25, seed)


def mnist1d(seed: int = 0) -> Split:
    """MNIST-1D (Greydanus 2020), generated offline by the ``mnist1d`` package: 4000 train, 1000 test."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ActlabError("the mnist1d dataset needs the mnist1d package: pip install 'actlab[experiments]'") from None
    import torch

    data = make_dataset(get_dataset_args())  # deterministic; its own seed, never downloaded
    t = lambda a, dt: torch.from_numpy(np.ascontiguousarray(a).astype(dt))  # noqa: E731
    return t(data["x"], np.float32), t(data["y"], np.int64), t(data["x_test"], np.float32), t(data["y_test"], np.int64)


DATASETS: dict[str, Callable[..., Split]] = {"moons": moons, "spirals": spirals, "digits": digits, "mnist1d": mnist1d}
DATASETS["pystdlib"] = pystdlib  # byte-level text: the Python standard library's source (actlab.experiments.text)

MACHINE_DEPENDENT: tuple[str, ...] = ("pystdlib",)
"""Built-in datasets whose contents depend on the machine (pystdlib: the running Python's standard
library): their fingerprint is part of each run's key (:attr:`RunConfig.data_version`)."""

NEEDS: dict[str, tuple[str, str]] = {"digits": ("sklearn", "scikit-learn"), "mnist1d": ("mnist1d", "mnist1d")}
"""The module each dataset imports beyond NumPy and PyTorch, and the package that provides it."""


def load(name: str, seed: int = 0) -> Split:
    if name not in DATASETS:
        raise ActlabError(f"unknown dataset {name!r}{suggest(name, DATASETS)}; choose from {', '.join(DATASETS)}")
    fn = DATASETS[name]
    return fn(seed=seed)
