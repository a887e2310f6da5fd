"""What a comparison optimises and measures: the loss it trains and the metric it reports.

Three tasks are built in, chosen from the targets when not named:

=================  =====================================  =========================  ==========
task               targets                                 loss                       metric
=================  =====================================  =========================  ==========
classification     integer class per example, shape (N,)  cross-entropy              accuracy ↑
language_model     integer token per position, (N, T)     cross-entropy per token    bits per token ↓
regression         floating values, any shape             mean squared error         MSE ↓
=================  =====================================  =========================  ==========

A :class:`Task` of one's own (``loss``, ``metric``, its direction) serves any other problem.  The
metric is averaged over examples (tokens for a language model) across the whole test set, never as a
mean of batch means.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ActlabError


@dataclass(frozen=True)
class Task:
    """A loss to train and a metric to report.

    ``loss(output, target)`` returns the mean loss of a batch (a scalar tensor, differentiable);
    ``metric(output, target)`` the metric's *sum* over the batch and how many items it covers, so
    that the test set's metric is one average over all its items.
    """

    name: str
    metric_name: str
    higher_is_better: bool
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    metric: Callable[[torch.Tensor, torch.Tensor], tuple[float, int]]

    def check(self, output: Any, target: Any) -> None:
        """One line naming the mismatch when a model's output cannot be scored against the targets."""
        if not isinstance(output, torch.Tensor):
            raise ActlabError(f"the model returned {type(output).__name__}, not a tensor")


def _accuracy(out: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
    return float((out.argmax(-1) == y).sum()), y.numel()


def _cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def _bits(out: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
    nats = nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]).float(), y.reshape(-1), reduction="sum")
    return float(nats) / math.log(2), y.numel()


def _squared(out: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
    return float(nn.functional.mse_loss(out.float(), y.float(), reduction="sum")), y.numel()


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(out, y.to(out.dtype))


class _Classes(Task):
    def check(self, output: Any, target: Any) -> None:
        super().check(output, target)
        if output.ndim != target.ndim + 1 or output.shape[:-1] != target.shape:
            raise ActlabError(
                f"{self.name}: the model's output has shape {tuple(output.shape)} for targets of shape "
                f"{tuple(target.shape)}; it needs one score per class in a last axis "
                f"({tuple(target.shape)} + (classes,))"
            )
        classes = int(target.max()) + 1 if target.numel() else 0
        if output.shape[-1] < classes:
            raise ActlabError(
                f"{self.name}: the model scores {output.shape[-1]} classes but the targets go up to {classes - 1}"
            )


class _Values(Task):
    def check(self, output: Any, target: Any) -> None:
        super().check(output, target)
        if output.shape != target.shape:
            raise ActlabError(
                f"{self.name}: the model's output has shape {tuple(output.shape)} and the targets "
                f"{tuple(target.shape)}; they must match"
            )


TASKS: dict[str, Task] = {
    "classification": _Classes("classification", "accuracy", True, _cross_entropy, _accuracy),
    "language_model": _Classes("language_model", "bits per token", False, _cross_entropy, _bits),
    "regression": _Values("regression", "MSE", False, _mse, _squared),
}


def infer(target: torch.Tensor) -> str:
    """The built-in task the targets imply: floating → regression; integers per example →
    classification; integers per position (N, T) → language_model."""
    if target.is_floating_point():
        return "regression"
    if target.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        return "classification" if target.ndim == 1 else "language_model"
    raise ActlabError(f"cannot tell the task from targets of dtype {target.dtype}; pass task=")


def custom(
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
    metric: Callable[[torch.Tensor, torch.Tensor], float] | None,
    base: Task,
    *,
    metric_name: str | None = None,
    higher_is_better: bool | None = None,
) -> Task:
    """``base`` with its loss and/or metric replaced.  A metric of one's own returns the batch's
    mean; it is weighted by the batch's number of examples."""
    if metric is not None and higher_is_better is None:
        raise ActlabError("a metric of your own needs higher_is_better=True or False")

    def summed(out: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        assert metric is not None
        return float(metric(out, y)) * len(y), len(y)

    return type(base)(
        f"{base.name} (custom)",
        metric_name or (getattr(metric, "__name__", "metric") if metric is not None else base.metric_name),
        base.higher_is_better if higher_is_better is None else higher_is_better,
        loss if loss is not None else base.loss,
        summed if metric is not None else base.metric,
    )


def resolve(task: str | Task) -> Task:
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        from ..errors import suggest

        raise ActlabError(f"unknown task {task!r}{suggest(task, TASKS)}; choose from {', '.join(TASKS)}")
    return TASKS[task]
