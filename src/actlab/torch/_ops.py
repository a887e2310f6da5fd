"""The generic operators behind every activation that has no native PyTorch kernel.

``actlab::apply`` evaluates a catalog formula; its backward calls ``actlab::vjp`` (the
catalog's hand-written derivative or vector-Jacobian product) and, for learnable
parameters, ``actlab::param_grads``.  Backward keeps only the input and the (tiny)
parameter tensors: every intermediate is recomputed.  Registered with
``torch.library.custom_op`` and given fake implementations, the operators trace under
``torch.compile(fullgraph=True)`` and ``torch.export``.

Static parameters travel as a JSON string; learnable ones as tensors (already shaped to
broadcast against the input), named by ``learned`` (comma-separated).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import torch

from ..catalog import registry
from ..catalog.spec import Elementwise, Params, Spec
from ..namespaces import torch_ns

_HALF = (torch.float16, torch.bfloat16)


@functools.cache
def namespace(dtype: torch.dtype) -> Any:
    return torch_ns(dtype)


@functools.lru_cache(maxsize=1024)
def _static(name: str, params: str) -> tuple[Spec, Params]:
    spec = registry.spec(name)
    return spec, spec.bind(json.loads(params))


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    if not x.is_floating_point():
        raise TypeError(f"actlab activations take floating-point tensors, not {x.dtype}")
    return torch.float32 if x.dtype in _HALF else x.dtype


def _bound(name: str, params: str, weights: Sequence[torch.Tensor], learned: str, dtype: torch.dtype):
    spec, p = _static(name, params)
    if learned:
        p = SimpleNamespace(**vars(p))
        for key, w in zip(learned.split(","), weights):
            setattr(p, key, w.to(dtype))
    return spec, p


def encode(spec: Spec, params: dict[str, Any]) -> str:
    """The static parameters as the operators take them (validated first)."""
    return json.dumps(vars(spec.bind(params)), sort_keys=True)


def forward(x: torch.Tensor, weights: Sequence[torch.Tensor], name: str, params: str, learned: str):
    dtype = compute_dtype(x)
    spec, p = _bound(name, params, weights, learned, dtype)
    spec.check_shape(tuple(x.shape), p)
    xc = x.to(dtype)
    y = spec.apply(xc, p, namespace(dtype))
    if isinstance(spec, Elementwise):
        y = torch.where(torch.isnan(xc), xc, y)
    return y.to(x.dtype)


def vector_jacobian(
    x: torch.Tensor, weights: Sequence[torch.Tensor], g: torch.Tensor, name: str, params: str, learned: str
) -> torch.Tensor:
    dtype = compute_dtype(x)
    spec, p = _bound(name, params, weights, learned, dtype)
    xc = x.to(dtype)
    v = spec.vjp(xc, g.to(dtype), p, namespace(dtype))
    if isinstance(spec, Elementwise):
        v = torch.where(torch.isnan(xc), xc, v)
    return v.to(x.dtype)


@torch.library.custom_op("actlab::apply", mutates_args=())
def apply_op(x: torch.Tensor, weights: list[torch.Tensor], name: str, params: str, learned: str) -> torch.Tensor:
    with torch.no_grad():
        return forward(x, weights, name, params, learned).contiguous()


@apply_op.register_fake
def _(x: torch.Tensor, weights: list[torch.Tensor], name: str, params: str, learned: str) -> torch.Tensor:
    spec, p = _static(name, params)
    return x.new_empty(spec.out_shape(tuple(x.shape), p))


@torch.library.custom_op("actlab::vjp", mutates_args=())
def vjp_op(
    x: torch.Tensor, weights: list[torch.Tensor], g: torch.Tensor, name: str, params: str, learned: str
) -> torch.Tensor:
    with torch.no_grad():
        return vector_jacobian(x, weights, g, name, params, learned).contiguous()


@vjp_op.register_fake
def _(x: torch.Tensor, weights: list[torch.Tensor], g: torch.Tensor, name: str, params: str, learned: str):
    return torch.empty_like(x)


@torch.library.custom_op("actlab::param_grads", mutates_args=())
def param_grads_op(
    x: torch.Tensor, weights: list[torch.Tensor], g: torch.Tensor, name: str, params: str, learned: str
) -> list[torch.Tensor]:
    """d sum(g * f(x; w)) / d w for the learnable parameters, from the catalog's ∂f/∂θ,
    summed over the dimensions each parameter is broadcast along."""
    with torch.no_grad():
        dtype = compute_dtype(x)
        spec, p = _bound(name, params, weights, learned, dtype)
        xc, gc, ns = x.to(dtype), g.to(dtype), namespace(dtype)
        out = []
        for key, w in zip(learned.split(","), weights):
            d = spec.param_derivatives[key](xc, p, ns)  # type: ignore[attr-defined]
            out.append(_sum_to(gc * d, w.shape).to(w.dtype))
        return out


def _sum_to(t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum ``t`` down to ``shape`` (the reverse of broadcasting)."""
    lead = t.ndim - len(shape)
    t = t.sum(dim=tuple(range(lead))) if lead > 0 else t
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and t.shape[i] != 1)
    return (t.sum(dim=dims, keepdim=True) if dims else t).reshape(shape)


@param_grads_op.register_fake
def _(x: torch.Tensor, weights: list[torch.Tensor], g: torch.Tensor, name: str, params: str, learned: str):
    return [torch.empty_like(w) for w in weights]


def _apply_setup(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    x, weights, name, params, learned = inputs
    ctx.save_for_backward(x, *weights)  # the input only (and the parameters): nothing intermediate
    ctx.static = (name, params, learned)


def _apply_backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
    x, *weights = ctx.saved_tensors
    name, params, learned = ctx.static
    gx = vjp_op(x, weights, grad, name, params, learned) if ctx.needs_input_grad[0] else None
    gw: list[Any] = [None] * len(weights)
    if weights and ctx.needs_input_grad[1]:
        gw = param_grads_op(x, weights, grad, name, params, learned)
    return gx, gw, None, None, None


def _vjp_setup(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    x, weights, g, name, params, learned = inputs
    ctx.save_for_backward(x, g, *weights)
    ctx.static = (name, params, learned)


def _vjp_backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
    """Second order (gradgradcheck, Hessian-vector products): autograd through the vjp formula."""
    x, g, *weights = ctx.saved_tensors
    name, params, learned = ctx.static
    with torch.enable_grad():
        xd, gd = x.detach().requires_grad_(), g.detach().requires_grad_()
        v = vector_jacobian(xd, weights, gd, name, params, learned)
        gx, gg = torch.autograd.grad(v, (xd, gd), grad, allow_unused=True)
    gx = torch.zeros_like(x) if gx is None else gx
    gg = torch.zeros_like(g) if gg is None else gg
    return gx, [None] * len(weights), gg, None, None, None


apply_op.register_autograd(_apply_backward, setup_context=_apply_setup)
vjp_op.register_autograd(_vjp_backward, setup_context=_vjp_setup)
