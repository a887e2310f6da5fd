"""The data a comparison trains on, in any of the forms PyTorch users hold it, behind one interface.

Accepted forms (``as_data``):

- four tensors or arrays ``(x_train, y_train, x_test, y_test)`` (what the built-in datasets return);
- two pairs ``((x_train, y_train), (x_test, y_test))``;
- two datasets ``(train, test)``, each item an ``(input, target)`` pair;
- two ``DataLoader``\\ s ``(train, test)``, used as they are (their batch size, workers, collation).

Minibatch order is a random stream shared by every activation of a seed: tensors and datasets are
shuffled with a generator seeded from (seed, epoch); a user's ``DataLoader`` shuffles from PyTorch's
global generator, which the runner seeds from (seed, epoch) just before the epoch's iterator is made
(see :func:`actlab.experiments.seeds.derive`).  The test data is never shuffled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ..errors import ActlabError
from .seeds import derive


def _tensor(a: Any, what: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a
    if isinstance(a, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.float() if t.is_floating_point() else t
    raise ActlabError(f"{what} must be a tensor or a NumPy array; got {type(a).__name__}")


class Data:
    """Training batches in a seeded order and test batches, whatever form the data came in."""

    def __init__(self, train: Any, test: Any, *, batch_size: int, tensors: bool) -> None:
        self.train, self.test, self.batch_size, self.tensors = train, test, batch_size, tensors

    @property
    def loaders(self) -> bool:
        return isinstance(self.train, DataLoader)

    def __len__(self) -> int:
        return len(self.train.dataset) if self.loaders else len(self.train)

    def train_batches(self, seed: int, epoch: int) -> Iterator[tuple[Any, Any]]:
        """The epoch's minibatches, in an order drawn from the stream (seed, "order", epoch)."""
        if self.loaders:
            torch.manual_seed(derive(seed, "order", epoch))  # a DataLoader's shuffle draws from here
            batches = iter(self.train)
            first = next(batches, None)  # the shuffle has drawn its seed by the first batch
            torch.manual_seed(derive(seed, "epoch", epoch))  # and the model's draws (dropout) their own stream
            if first is None:
                return
            yield first
            yield from batches
            return
        gen = torch.Generator().manual_seed(derive(seed, "order", epoch))
        if self.tensors:
            x, y = self.train.tensors
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), self.batch_size):
                idx = order[i : i + self.batch_size]
                yield x[idx], y[idx]
            return
        yield from DataLoader(self.train, batch_size=self.batch_size, shuffle=True, generator=gen)

    def test_batches(self) -> Iterator[tuple[Any, Any]]:
        if self.loaders:
            yield from self.test
            return
        if self.tensors:
            x, y = self.test.tensors
            # examples that are sequences (tokens: a transformer's activations grow with their length) go in
            # training-sized batches; single vectors in large ones
            step = self.batch_size if x.ndim > 1 and not x.is_floating_point() else max(self.batch_size, 4096)
            for i in range(0, len(x), step):
                yield x[i : i + step], y[i : i + step]
            return
        yield from DataLoader(self.test, batch_size=max(self.batch_size, 1024))

    def first_batch(self) -> tuple[Any, Any]:
        """A small training batch, for checking that model, data and task fit before any run."""
        return next(iter(self.train_batches(0, 0)))

    def fingerprint(self) -> str:
        """What identifies the data in a run's key: a hash of the values for tensors, else the
        types, lengths and first items' shapes (a ``tag`` tells apart data these cannot)."""
        h = hashlib.sha256()
        if self.tensors:
            for part in (self.train, self.test):
                for t in part.tensors:
                    c = t.detach().cpu().contiguous()
                    h.update(f"{c.dtype}{tuple(c.shape)}".encode())
                    h.update(c.numpy().tobytes() if c.dtype != torch.bfloat16 else c.float().numpy().tobytes())
        else:
            for part in (self.train, self.test):
                ds = part.dataset if isinstance(part, DataLoader) else part
                h.update(f"{type(part).__qualname__}{type(ds).__qualname__}{len(ds)}".encode())
                first = ds[0]
                h.update(str([tuple(getattr(v, "shape", ())) for v in first]).encode())
        return h.hexdigest()[:16]


def as_data(data: Any, batch_size: int = 128) -> Data:
    """``data`` in one of the accepted forms (module docstring) as a :class:`Data`; anything else is
    one error that names the forms."""
    forms = (
        "(x_train, y_train, x_test, y_test) tensors, ((x_train, y_train), (x_test, y_test)), "
        "(train, test) datasets or (train, test) DataLoaders"
    )
    if isinstance(data, Data):
        return data
    if not isinstance(data, (tuple, list)):
        raise ActlabError(f"data must be one of {forms}; got {type(data).__name__}")
    if len(data) == 4:
        xtr, ytr, xte, yte = (_tensor(a, w) for a, w in zip(data, ("x_train", "y_train", "x_test", "y_test")))
        return _tensors(xtr, ytr, xte, yte, batch_size)
    if len(data) == 2:
        train, test = data
        if all(isinstance(p, (tuple, list)) and len(p) == 2 for p in (train, test)):
            (xtr, ytr), (xte, yte) = train, test
            names = ("x_train", "y_train", "x_test", "y_test")
            return _tensors(*(_tensor(a, w) for a, w in zip((xtr, ytr, xte, yte), names)), batch_size)
        if isinstance(train, DataLoader) and isinstance(test, DataLoader):
            return Data(train, test, batch_size=train.batch_size or batch_size, tensors=False)
        if isinstance(train, DataLoader) or isinstance(test, DataLoader):
            raise ActlabError("data: give two DataLoaders or two datasets, not one of each")
        if all(isinstance(p, Dataset) or (hasattr(p, "__getitem__") and hasattr(p, "__len__")) for p in (train, test)):
            if len(train) == 0 or len(test) == 0:
                raise ActlabError(f"data: the training set has {len(train)} items and the test set {len(test)}")
            return Data(train, test, batch_size=batch_size, tensors=False)
    raise ActlabError(f"data must be one of {forms}; got a {type(data).__name__} of {len(data)}")


def _tensors(xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: torch.Tensor, batch_size: int) -> Data:
    for x, y, part in ((xtr, ytr, "training"), (xte, yte, "test")):
        if len(x) != len(y):
            raise ActlabError(f"data: the {part} inputs have {len(x)} rows and the targets {len(y)}")
        if len(x) == 0:
            raise ActlabError(f"data: the {part} set is empty")
    if xtr.shape[1:] != xte.shape[1:]:
        raise ActlabError(
            f"data: training inputs are {tuple(xtr.shape[1:])} per example and test inputs {tuple(xte.shape[1:])}"
        )
    return Data(TensorDataset(xtr, ytr), TensorDataset(xte, yte), batch_size=batch_size, tensors=True)
