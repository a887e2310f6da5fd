"""PyTorch backend: every catalog activation as a function and an ``nn.Module``.

Each activation runs through one generic operator, ``actlab::apply``, registered with
``torch.library.custom_op``: its forward evaluates the catalog's formula on tensors, its
backward is the catalog's hand-written derivative (or vector-Jacobian product) and saves
only the input.  Being a registered operator with a fake (meta) implementation, it
traces under ``torch.compile(fullgraph=True)`` and ``torch.export`` without a graph break.

>>> import torch, actlab.torch as at
>>> at.get("swish_beta", beta=1.5)
Activation(name='swish_beta', beta=1.5)
>>> at.apply(torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64), "gelu")
tensor([-0.1587,  0.0000,  0.8413], dtype=torch.float64)

Requires the ``torch`` extra (``pip install 'actlab[torch]'``).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import torch
from torch import nn

from ..catalog import registry
from ..catalog.spec import Elementwise, Params, Spec
from ..namespaces import torch_ns

__all__ = ["Activation", "apply", "get"]

_HALF = (torch.float16, torch.bfloat16)


@functools.cache
def _namespace(dtype: torch.dtype) -> Any:
    return torch_ns(dtype)


@functools.lru_cache(maxsize=1024)
def _bind(name: str, params: str) -> tuple[Spec, Params]:
    spec = registry.spec(name)
    return spec, spec.bind(json.loads(params))


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    if not x.is_floating_point():
        raise TypeError(f"actlab activations take floating-point tensors, not {x.dtype}")
    return torch.float32 if x.dtype in _HALF else x.dtype


def _forward_impl(x: torch.Tensor, name: str, params: str) -> torch.Tensor:
    spec, p = _bind(name, params)
    spec.check_shape(tuple(x.shape), p)
    dtype = _compute_dtype(x)
    xc = x.to(dtype)
    y = spec.apply(xc, p, _namespace(dtype))
    if isinstance(spec, Elementwise):
        y = torch.where(torch.isnan(xc), xc, y)
    return y.to(x.dtype).contiguous()


def _vjp_impl(x: torch.Tensor, g: torch.Tensor, name: str, params: str) -> torch.Tensor:
    spec, p = _bind(name, params)
    dtype = _compute_dtype(x)
    xc, gc = x.to(dtype), g.to(dtype)
    v = spec.vjp(xc, gc, p, _namespace(dtype))
    if isinstance(spec, Elementwise):
        v = torch.where(torch.isnan(xc), xc, v)
    return v.to(x.dtype).contiguous()


@torch.library.custom_op("actlab::apply", mutates_args=())
def _apply_op(x: torch.Tensor, name: str, params: str) -> torch.Tensor:
    with torch.no_grad():
        return _forward_impl(x, name, params)


@_apply_op.register_fake
def _(x: torch.Tensor, name: str, params: str) -> torch.Tensor:
    spec, p = _bind(name, params)
    return x.new_empty(spec.out_shape(tuple(x.shape), p))


@torch.library.custom_op("actlab::vjp", mutates_args=())
def _vjp_op(x: torch.Tensor, g: torch.Tensor, name: str, params: str) -> torch.Tensor:
    with torch.no_grad():
        return _vjp_impl(x, g, name, params)


@_vjp_op.register_fake
def _(x: torch.Tensor, g: torch.Tensor, name: str, params: str) -> torch.Tensor:
    return torch.empty_like(x)


def _apply_setup(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    x, name, params = inputs
    ctx.save_for_backward(x)  # only the input: the derivative is recomputed from it
    ctx.name, ctx.params = name, params


def _apply_backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, None, None]:
    (x,) = ctx.saved_tensors
    return _vjp_op(x, grad, ctx.name, ctx.params), None, None


def _vjp_setup(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    x, g, name, params = inputs
    ctx.save_for_backward(x, g)
    ctx.name, ctx.params = name, params


def _vjp_backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, Any, None, None]:
    """Second order: differentiate the catalog's vjp formula with autograd."""
    x, g = ctx.saved_tensors
    with torch.enable_grad():
        xd = x.detach().requires_grad_()
        gd = g.detach().requires_grad_()
        v = _differentiable_vjp(xd, gd, ctx.name, ctx.params)
        gx, gg = torch.autograd.grad(v, (xd, gd), grad, allow_unused=True)
    gx = torch.zeros_like(x) if gx is None else gx
    gg = torch.zeros_like(g) if gg is None else gg
    return gx, gg, None, None


def _differentiable_vjp(x: torch.Tensor, g: torch.Tensor, name: str, params: str) -> torch.Tensor:
    spec, p = _bind(name, params)
    dtype = _compute_dtype(x)
    return spec.vjp(x.to(dtype), g.to(dtype), p, _namespace(dtype)).to(x.dtype)


_apply_op.register_autograd(_apply_backward, setup_context=_apply_setup)
_vjp_op.register_autograd(_vjp_backward, setup_context=_vjp_setup)


def _encode(spec: Spec, params: dict[str, Any]) -> str:
    p = spec.bind(params)
    return json.dumps(vars(p), sort_keys=True)


def apply(x: torch.Tensor, name: str, /, **params: Any) -> torch.Tensor:
    """f(x) for the catalog activation ``name`` with ``params``, differentiable."""
    spec = registry.spec(name)
    return _apply_op(x, spec.name, _encode(spec, params))


class Activation(nn.Module):
    """A catalog activation as a module; its parameters are fixed numbers shown by ``repr``.

    Shape: any shape for elementwise activations; for the others the size along
    ``dim`` changes as the kind says (halved by the gated family, divided by
    ``pieces`` for maxout, kept by softmax).
    """

    def __init__(self, name: str, **params: Any) -> None:
        super().__init__()
        self.spec = registry.spec(name)
        self._params = vars(self.spec.bind(params))
        self._encoded = _encode(self.spec, params)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _apply_op(x, self.spec.name, self._encoded)

    def extra_repr(self) -> str:
        return ", ".join([f"name={self.name!r}"] + [f"{k}={v!r}" for k, v in self._params.items()])


def get(name: str, /, **params: Any) -> Activation:
    """The module for the activation called ``name`` (any alias, any case) with ``params``."""
    return Activation(name, **params)
