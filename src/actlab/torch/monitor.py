"""Training diagnostics: watch every activation layer of any model while it trains.

For each activation module (found by :func:`actlab.torch.find_activations`, nested models
included) a forward hook records, over a sliding window of batches, the mean and standard
deviation of its output, the fraction of exact zeros, the fraction of **dead** units (zero
for every example in the window), the fraction of **saturated** inputs (|f'(x)| < 0.01, from
the catalog's derivative) and the norm of the gradient reaching the layer (gradient flow).

    with ActivationMonitor(model) as monitor:
        for x, y in loader:
            loss = ...; loss.backward(); opt.step()
            monitor.step()          # one point of history per training step
    print(monitor.table())

Hooks are removed on leaving the ``with`` block (or by :meth:`remove`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..catalog import registry
from ..catalog.spec import Elementwise
from ._ops import namespace
from .surgery import catalog_entry, find_activations

SATURATION = 0.01


@dataclass
class LayerSummary:
    path: str
    activation: str
    mean: float
    std: float
    zero_fraction: float
    dead_fraction: float
    saturated_fraction: float
    grad_norm: float


class _Layer:
    def __init__(self, path: str, module: nn.Module, window: int) -> None:
        self.path = path
        name, params = catalog_entry(module) or ("?", {})
        self.name = name
        spec = registry.spec(name) if name != "?" else None
        self.spec = spec if isinstance(spec, Elementwise) else None
        self.params = spec.bind(params) if self.spec is not None else None
        self.batches: deque[dict[str, Any]] = deque(maxlen=window)
        self.grads: deque[float] = deque(maxlen=window)

    def record(self, x: torch.Tensor, y: torch.Tensor) -> None:
        y = y.detach()
        flat = y.reshape(y.shape[0], y.shape[1], -1) if y.ndim >= 2 else y.reshape(-1, 1, 1)
        alive = (flat != 0).any(dim=2).any(dim=0)  # per unit (channel): nonzero for some example
        entry = {
            "n": y.numel(),
            "sum": float(y.double().sum()),
            "sumsq": float(y.double().pow(2).sum()),
            "zeros": int((y == 0).sum()),
            "alive": alive.cpu(),
            "saturated": None,
        }
        if self.spec is not None:
            xd = x.detach()
            dtype = torch.float32 if xd.dtype in (torch.float16, torch.bfloat16) else xd.dtype
            d = self.spec.derivative(xd.to(dtype), self.params, namespace(dtype))
            entry["saturated"] = int((d.abs() < SATURATION).sum())
        self.batches.append(entry)

    def summary(self) -> LayerSummary:
        b = list(self.batches)
        n = sum(e["n"] for e in b) or 1
        mean = sum(e["sum"] for e in b) / n
        var = max(sum(e["sumsq"] for e in b) / n - mean * mean, 0.0)
        alive = None
        for e in b:
            if alive is None or alive.shape != e["alive"].shape:
                alive = e["alive"].clone()
            else:
                alive |= e["alive"]
        dead = 1.0 - float(alive.double().mean()) if alive is not None else float("nan")
        saturated = [e["saturated"] for e in b if e["saturated"] is not None]
        return LayerSummary(
            path=self.path,
            activation=self.name,
            mean=mean,
            std=var**0.5,
            zero_fraction=sum(e["zeros"] for e in b) / n,
            dead_fraction=dead,
            saturated_fraction=sum(saturated) / n if saturated else float("nan"),
            grad_norm=float(np.mean(self.grads)) if self.grads else float("nan"),
        )


class ActivationMonitor:
    """Per-layer activation statistics of ``model`` over the last ``window`` batches."""

    def __init__(self, model: nn.Module, window: int = 50) -> None:
        if window < 1:
            raise ValueError(f"window must be a positive number of batches; got {window}")
        self.model = model
        self.window = window
        self.layers: list[_Layer] = []
        self.history: list[list[LayerSummary]] = []
        self._handles: list[Any] = []

    # -- hooks ------------------------------------------------------------------------------

    def attach(self) -> ActivationMonitor:
        if self._handles:
            return self
        found = find_activations(self.model)
        if not found:
            raise ValueError("the model has no activation module actlab recognises")
        for path, module in found:
            layer = _Layer(path, module, self.window)
            self.layers.append(layer)
            self._handles.append(module.register_forward_hook(self._forward_hook(layer)))
        return self

    def _forward_hook(self, layer: _Layer) -> Any:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if not isinstance(output, torch.Tensor) or not inputs or not isinstance(inputs[0], torch.Tensor):
                return
            layer.record(inputs[0], output)
            if output.requires_grad:
                output.register_hook(lambda g: layer.grads.append(float(g.detach().norm())))

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __enter__(self) -> ActivationMonitor:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # -- results ----------------------------------------------------------------------------

    def summary(self) -> list[LayerSummary]:
        return [layer.summary() for layer in self.layers]

    def step(self) -> list[LayerSummary]:
        """End of a training step: append the current summary to the history and return it."""
        s = self.summary()
        self.history.append(s)
        return s

    __call__ = step  # usable as a callback: monitor() after each step

    def history_array(self, field: str) -> np.ndarray:
        """steps × layers array of one summary field (e.g. "dead_fraction"), for a heatmap."""
        return np.array([[getattr(s, field) for s in row] for row in self.history])

    def table(self) -> str:
        rows = self.summary()
        header = ("layer", "activation", "mean", "std", "zeros", "dead", "saturated", "grad norm")
        cells = [
            (
                r.path,
                r.activation,
                f"{r.mean:.4g}",
                f"{r.std:.4g}",
                f"{r.zero_fraction:.3f}",
                f"{r.dead_fraction:.3f}",
                f"{r.saturated_fraction:.3f}",
                f"{r.grad_norm:.3g}",
            )
            for r in rows
        ]
        from .._text import table

        return table(cells, header)
