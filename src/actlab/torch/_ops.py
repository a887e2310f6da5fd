"""The generic operators behind every activation that has no native PyTorch kernel.

``actlab::apply`` evaluates a catalog formula; its backward calls ``actlab::vjp`` (the
catalog's hand-written derivative or vector-Jacobian product) and, for learnable
parameters, ``actlab::param_grads``.  Backward keeps only the input and the (tiny)
parameter tensors: every intermediate is recomputed.  Registered with
``torch.library.custom_op`` and given fake implementations, the operators trace under
``torch.compile(fullgraph=True)`` and ``torch.export``.

Static parameters travel as a JSON string; learnable ones as tensors (already shaped to
broadcast against the input), named by ``learned`` (comma-separated).  Every argument is
required: the dispatcher drops an argument equal to its default, and the backward's result
must match the arguments as dispatched.

``wide`` picks the working precision of float16/bfloat16/float32 inputs: True (``exact=True``)
evaluates the formula in float64 and rounds once at the end, which keeps the NumPy reference's
bounds (1 ulp for f and f'); False evaluates it in float32, about twice as fast (geomean over the
generic entries, ``benchmarks/torch_exact_cost.py``) and within a few ulp for most entries, more
where a formula cancels or an intermediate underflows in float32 (``actlab accuracy --backend
torch`` measures both; the README gives the figures).  float64 inputs always run op by op in float64.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
import time
import types
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ..catalog import registry
from ..catalog.spec import Elementwise, Gated, Params, Spec
from ..errors import ActlabError
from ..namespaces import torch_ns

_SQRT1_2 = 0.7071067811865476


def _ndtr(x: torch.Tensor) -> torch.Tensor:
    """Φ(x) = erfc(-x/√2) / 2: accurate relative to Φ in both tails.

    ``torch.special.ndtr`` computes (1 + erf(x/√2)) / 2, which cancels to 0 once Φ(x) is
    below half an ulp of 1 (x <= -8.37 in float64, -5.42 in float32): GELU(-8.6) came back 0.
    """
    return 0.5 * torch.erfc(x * -_SQRT1_2)


@functools.cache
def namespace(dtype: torch.dtype, narrow: bool = False) -> Any:
    """The formula namespace computing in ``dtype``, with a Φ accurate in its left tail;
    ``narrow``: for a float16/bfloat16/float32 input, whose kernels are also compiled (fused)
    and so use the expm1 that compiles as written."""
    ns = types.SimpleNamespace(**{**vars(torch_ns(dtype)), "ndtr": _ndtr})
    if narrow:
        ns.expm1 = _expm1
        # the result is rounded to float32 or narrower: the catalog's shared pieces may take their
        # cheaper forms and skip the far tails (formulas.float64_result), as NumPy's do
        ns.target_bits = 24
    if not narrow:
        # float64 input: torch.sigmoid is within 2 ulp, the catalog's own σ (one e^{-|x|}, one division)
        # keeps the NumPy reference's bounds (quick_gelu' measured 7.56 ulp/κ with torch's, bound 7).
        # Rounded to float32 or narrower, torch's is as good (measured) and compiles to a shorter kernel.
        del ns.sigmoid
    return ns


def _namespace_for(x: torch.Tensor, dtype: torch.dtype) -> Any:
    return namespace(dtype, x.dtype != torch.float64)


@functools.lru_cache(maxsize=1024)
def _static(name: str, params: str) -> tuple[Spec, Params]:
    spec = registry.spec(name)
    return spec, spec.bind(json.loads(params))


def compute_dtype(x: torch.Tensor, wide: bool = False) -> torch.dtype:
    """The working precision: float64 for float64 input and, when ``wide``, for every narrower
    type (one rounding at the end); float32 for float16/bfloat16/float32 otherwise."""
    if not x.is_floating_point():
        raise TypeError(f"actlab activations take floating-point tensors, not {x.dtype}")
    if wide or x.dtype == torch.float64:
        return torch.float64
    return torch.float32


def _expm1(x: torch.Tensor) -> torch.Tensor:
    """e^x - 1 from u = e^x as (u - 1) x / log u (Kahan): the rounding error of u cancels
    between u - 1 and log u, leaving a few ulp of the working precision for every x.

    Inductor compiles ``torch.expm1`` on the CPU as ``exp(x) - 1``, which is 0 for |x| below
    half an ulp of 1 and wrong in every digit near it (ELU's f(-1e-8) was 0 in a fused
    float32 kernel): this form compiles as written, so fused and op-by-op kernels agree.
    """
    u = torch.exp(x)
    um1 = u - 1.0
    # u == 1: e^x - 1 rounds to x; u - 1 == -1: to -1 (x -> -inf); u == inf: to inf (x -> inf)
    scaled = torch.where((u == 1.0) | (um1 == -1.0) | (u == torch.inf), 1.0, x / torch.log(u))
    return torch.where(u == 1.0, x, um1 * scaled)


class _Params:
    """Bound parameters with learnable tensors in place (a plain class, so torch.compile can trace it)."""

    def __init__(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            setattr(self, key, value)


def _with_weights(p: Params, weights: Sequence[torch.Tensor], learned: str, dtype: torch.dtype) -> Any:
    if not learned:
        return p
    values = dict(vars(p))
    for key, w in zip(learned.split(","), weights):
        values[key] = w.to(dtype)
    return _Params(values)


def encode(spec: Spec, params: dict[str, Any]) -> str:
    """The static parameters as the operators take them (validated first)."""
    return json.dumps(vars(spec.bind(params)), sort_keys=True)


def _forward_kernel(spec: Spec, p: Any, x: torch.Tensor, dtype: torch.dtype, ns: Any) -> torch.Tensor:
    xc = x.to(dtype)
    y = spec.apply(xc, p, ns)
    if isinstance(spec, Elementwise):
        y = torch.where(xc != xc, xc, y)  # NaN in, NaN out (a compare vectorizes; isnan does not)
    return y.to(x.dtype)


def _vjp_kernel(spec: Spec, p: Any, x: torch.Tensor, g: torch.Tensor, dtype: torch.dtype, ns: Any) -> torch.Tensor:
    xc = x.to(dtype)
    v = spec.vjp(xc, g.to(dtype), p, ns)
    if isinstance(spec, Elementwise):
        v = torch.where(xc != xc, xc, v)
    return v.to(x.dtype)


FUSE_ENV = "ACTLAB_TORCH_FUSE"
"""The environment variable that turns the fused kernels off (``0``: every input runs op by op,
nothing is compiled) or on (``1``, the default); read when ``actlab.torch`` is imported."""


def _fuse_min_numel_from_env() -> int:
    value = os.environ.get(FUSE_ENV, "1").strip()
    if value not in ("0", "1"):
        raise ActlabError(f"{FUSE_ENV} must be 0 (no fused kernels) or 1 (the default); got {value!r}")
    return 1 << 16 if value == "1" else -1


FUSE_MIN_NUMEL = _fuse_min_numel_from_env()
"""float32/float16/bfloat16 inputs with at least this many elements (65536) run a ``torch.compile``d
(fused) kernel of the formula, compiled once per activation, parameters and dtype (and once
more, shape-generic, when the shape changes); smaller ones run it op by op.  -1: never
(``ACTLAB_TORCH_FUSE=0`` or ``set_fusion(None)``)."""


def set_fusion(min_numel: int | None) -> None:
    """Fuse the generic path's formulas for inputs of at least ``min_numel`` elements (None: never,
    so that nothing is compiled: no first-call stall, about half the speed on large float32 inputs)."""
    global FUSE_MIN_NUMEL
    FUSE_MIN_NUMEL = min_numel if min_numel is not None else -1


log = logging.getLogger("actlab.torch")
_announced = False
_expected = 0  # > 0 while a caller that shows its own "compiling" runs (bench, warm_up)
_announce_lock = threading.Lock()


@contextlib.contextmanager
def compiling_expected() -> Iterator[None]:
    """Within this block, a kernel compiling is logged at INFO only: the caller says so itself."""
    global _expected
    with _announce_lock:
        _expected += 1
    try:
        yield
    finally:
        with _announce_lock:
            _expected -= 1


def _announce(label: str) -> None:
    """The first compile of the process is a WARNING (a call that stalls for seconds, silently, looks
    hung); every later one is logged at INFO, with the seconds it took."""
    global _announced
    with _announce_lock:
        first = not _announced and not _expected
        _announced = _announced or first
    if first:
        log.warning(
            "actlab.torch: compiling a fused kernel (%s); the first call at each new shape takes seconds "
            "(up to tens of seconds on a CPU). Pre-compile with actlab.torch.warm_up(activation, shape), "
            "or run op by op with %s=0. Said once; each compile is logged at INFO on the 'actlab.torch' logger.",
            label,
            FUSE_ENV,
        )
    else:
        log.info("compiling a fused kernel (%s)", label)


class _Kernel:
    """A ``torch.compile``d kernel that says when a call is its first at a shape: the call that compiles."""

    def __init__(self, fn: Any, label: str) -> None:
        self.fn, self.label = fn, label
        self._shapes: set[tuple[tuple[int, ...], ...]] = set()

    def __call__(self, *args: torch.Tensor) -> Any:
        shapes = tuple(tuple(a.shape) for a in args)
        if shapes in self._shapes:
            return self.fn(*args)
        label = f"{self.label}, shape {tuple(args[0].shape)}"
        _announce(label)
        start = time.perf_counter()
        out = self.fn(*args)
        self._shapes.add(shapes)
        log.info("fused kernel ready (%s) after %.1f s", label, time.perf_counter() - start)
        return out


def _fuse(x: torch.Tensor) -> bool:
    """Fuse large float32/16 inputs; float64, the reference precision, always runs op by op
    (a compiled kernel may contract a*b + c into an FMA and move the last bit)."""
    return (
        x.dtype != torch.float64
        and 0 <= FUSE_MIN_NUMEL <= x.numel()
        and not torch.is_grad_enabled()
        and not torch.compiler.is_compiling()
    )


@functools.cache
def _compiled(what: str, name: str, params: str, learned: str, dtype: torch.dtype) -> Any:
    spec, p = _static(name, params)
    if isinstance(spec, Gated):
        spec._gate()  # resolve the gate before tracing
    ns = namespace(dtype, True)  # only float16/bfloat16/float32 inputs are fused
    base = dict(vars(p))
    keys = learned.split(",") if learned else []

    def bound(weights: Sequence[torch.Tensor]) -> Any:
        if not keys:
            return p
        values = dict(base)
        for key, w in zip(keys, weights):
            values[key] = w.to(dtype)
        return _Params(values)

    if what == "forward":

        def fn(x: torch.Tensor, *weights: torch.Tensor) -> Any:
            return _forward_kernel(spec, bound(weights), x, dtype, ns)

    elif what == "vjp":

        def fn(x: torch.Tensor, g: torch.Tensor, *weights: torch.Tensor) -> Any:  # type: ignore[misc]
            return _vjp_kernel(spec, bound(weights), x, g, dtype, ns)

    elif what == "param":

        def fn(x: torch.Tensor, g: torch.Tensor, *weights: torch.Tensor) -> Any:  # type: ignore[misc]
            return _param_grads_kernel(spec, bound(weights), keys, x, g, weights, dtype, ns)

    else:  # "backward": the input's gradient and the parameters' in one pass over x and g

        def fn(x: torch.Tensor, g: torch.Tensor, *weights: torch.Tensor) -> Any:  # type: ignore[misc]
            q = bound(weights)
            return (
                _vjp_kernel(spec, q, x, g, dtype, ns),
                *_param_grads_kernel(spec, q, keys, x, g, weights, dtype, ns),
            )

    # a code object of its own per activation: torch.compile caches by code object, and one shared
    # closure would recompile for every activation until it hit dynamo's recompile limit
    code = fn.__code__.replace(co_name=f"actlab_{what}_{spec.name}")
    unique = types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)
    label = f"{spec.name} {what}, {str(dtype).removeprefix('torch.')}"
    return _Kernel(torch.compile(unique, dynamic=None, fullgraph=True), label)


def _like(ref: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``y`` (of ``ref``'s shape) laid out as ``torch.empty_like(ref)`` is, which is what the fake
    kernels return: ``ref``'s strides when it is dense (channels_last, transposed); when it has gaps
    (sliced), dense in its memory format (contiguous or channels_last).  A compiled graph checks the
    real strides against the fake ones, and a channels_last input gets a channels_last output, as from
    any elementwise torch op."""
    out = torch.empty_like(ref, dtype=y.dtype)
    if y.stride() == out.stride():
        return y
    return out.copy_(y)


def _layout(x: torch.Tensor, spec: Spec, shape: tuple[int, ...]) -> torch.Tensor:
    """An empty tensor of ``apply``'s result: laid out as ``x`` for an elementwise activation, contiguous
    for the gated, axis and pooled kinds (whose output shape differs, or which reduce along a dim)."""
    if isinstance(spec, Elementwise):
        return torch.empty_like(x)
    return x.new_empty(shape)


def _dense(g: torch.Tensor) -> torch.Tensor:
    """The output gradient, contiguous: a compiled kernel is specialised to its arguments'
    strides, and ``y.sum().backward()`` hands in a broadcast gradient (stride 0) that would compile the
    kernel again, for seconds, after ``warm_up`` or a training step at the same shape."""
    return g.detach().contiguous()


def forward(
    x: torch.Tensor, weights: Sequence[torch.Tensor], name: str, params: str, learned: str, wide: bool = False
) -> torch.Tensor:
    spec, p = _static(name, params)
    spec.check_shape(tuple(x.shape), p)
    dtype = compute_dtype(x, wide)
    if _fuse(x):
        return _compiled("forward", name, params, learned, dtype)(x.detach(), *(w.detach() for w in weights))
    return _forward_kernel(spec, _with_weights(p, weights, learned, dtype), x, dtype, _namespace_for(x, dtype))


def vector_jacobian(
    x: torch.Tensor,
    weights: Sequence[torch.Tensor],
    g: torch.Tensor,
    name: str,
    params: str,
    learned: str,
    wide: bool = False,
) -> torch.Tensor:
    dtype = compute_dtype(x, wide)
    if _fuse(x):
        return _compiled("vjp", name, params, learned, dtype)(x.detach(), _dense(g), *(w.detach() for w in weights))
    spec, p = _static(name, params)
    return _vjp_kernel(spec, _with_weights(p, weights, learned, dtype), x, g, dtype, _namespace_for(x, dtype))


@torch.library.custom_op("actlab::apply", mutates_args=())
def apply_op(
    x: torch.Tensor, weights: list[torch.Tensor], name: str, params: str, learned: str, wide: bool
) -> torch.Tensor:
    with torch.no_grad():
        y = forward(x, weights, name, params, learned, wide)
        spec, _ = _static(name, params)
        return _like(x, y) if isinstance(spec, Elementwise) else y.contiguous()


@apply_op.register_fake
def _(x: torch.Tensor, weights: list[torch.Tensor], name: str, params: str, learned: str, wide: bool) -> torch.Tensor:
    spec, p = _static(name, params)
    return _layout(x, spec, spec.out_shape(tuple(x.shape), p))


@torch.library.custom_op("actlab::vjp", mutates_args=())
def vjp_op(
    x: torch.Tensor,
    weights: list[torch.Tensor],
    g: torch.Tensor,
    name: str,
    params: str,
    learned: str,
    wide: bool,
) -> torch.Tensor:
    with torch.no_grad():
        return _like(x, vector_jacobian(x, weights, g, name, params, learned, wide))


@vjp_op.register_fake
def _(
    x: torch.Tensor,
    weights: list[torch.Tensor],
    g: torch.Tensor,
    name: str,
    params: str,
    learned: str,
    wide: bool,
):
    return torch.empty_like(x)


@torch.library.custom_op("actlab::param_grads", mutates_args=())
def param_grads_op(
    x: torch.Tensor,
    weights: list[torch.Tensor],
    g: torch.Tensor,
    name: str,
    params: str,
    learned: str,
    wide: bool,
) -> list[torch.Tensor]:
    """d sum(g * f(x; w)) / d w for the learnable parameters, from the catalog's ∂f/∂θ,
    summed over the dimensions each parameter is broadcast along (in the working precision)."""
    with torch.no_grad():
        dtype = compute_dtype(x, wide)
        if _fuse(x):
            fused = _compiled("param", name, params, learned, dtype)
            out = fused(x.detach(), _dense(g), *(w.detach() for w in weights))
        else:
            spec, p = _static(name, params)
            keys = learned.split(",")
            q = _with_weights(p, weights, learned, dtype)
            out = _param_grads_kernel(spec, q, keys, x, g, weights, dtype, _namespace_for(x, dtype))
        return [_like(w, d) for w, d in zip(weights, out)]


@torch.library.custom_op("actlab::backward", mutates_args=())
def backward_op(
    x: torch.Tensor,
    weights: list[torch.Tensor],
    g: torch.Tensor,
    name: str,
    params: str,
    learned: str,
    wide: bool,
) -> list[torch.Tensor]:
    """[d sum(g f) / dx, d sum(g f) / dw...] together: one read of x and g where a learnable
    activation needs both (first-order backward only; higher orders go through ``vjp``)."""
    with torch.no_grad():
        dtype = compute_dtype(x, wide)
        if _fuse(x):
            fused = _compiled("backward", name, params, learned, dtype)
            gx, *gw = fused(x.detach(), _dense(g), *(w.detach() for w in weights))
            return [_like(x, gx), *(_like(w, d) for w, d in zip(weights, gw))]
        return [
            _like(x, vector_jacobian(x, weights, g, name, params, learned, wide)),
            *param_grads_op(x, weights, g, name, params, learned, wide),
        ]


@backward_op.register_fake
def _(
    x: torch.Tensor,
    weights: list[torch.Tensor],
    g: torch.Tensor,
    name: str,
    params: str,
    learned: str,
    wide: bool,
):
    return [torch.empty_like(x), *(torch.empty_like(w) for w in weights)]


def _param_grads_kernel(
    spec: Spec,
    p: Any,
    keys: Sequence[str],
    x: torch.Tensor,
    g: torch.Tensor,
    weights: Sequence[torch.Tensor],
    dtype: torch.dtype,
    ns: Any,
) -> tuple[torch.Tensor, ...]:
    xc, gc = x.to(dtype), g.to(dtype)
    out = []
    for key, w in zip(keys, weights):
        d = spec.param_derivatives[key](xc, p, ns)  # type: ignore[attr-defined]
        out.append(_sum_to(gc * d, w.shape).to(w.dtype))
    return tuple(out)


def _sum_to(t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum ``t`` down to ``shape`` (the reverse of broadcasting)."""
    lead = t.ndim - len(shape)
    t = t.sum(dim=tuple(range(lead))) if lead > 0 else t
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and t.shape[i] != 1)
    return (t.sum(dim=dims, keepdim=True) if dims else t).reshape(shape)


@param_grads_op.register_fake
def _(
    x: torch.Tensor,
    weights: list[torch.Tensor],
    g: torch.Tensor,
    name: str,
    params: str,
    learned: str,
    wide: bool,
):
    return [torch.empty_like(w) for w in weights]


def _apply_setup(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    x, weights, name, params, learned, wide = inputs
    ctx.save_for_backward(x, *weights)  # the input only (and the parameters): nothing intermediate
    ctx.static = (name, params, learned, wide)


def _apply_backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
    x, *weights = ctx.saved_tensors
    static = ctx.static
    if weights and ctx.needs_input_grad[0] and ctx.needs_input_grad[1] and not torch.is_grad_enabled():
        gx, *gw = backward_op(x, weights, grad, *static)
        return gx, gw, None, None, None, None
    gx = vjp_op(x, weights, grad, *static) if ctx.needs_input_grad[0] else None
    gw: list[Any] = [None] * len(weights)
    if weights and ctx.needs_input_grad[1]:
        gw = param_grads_op(x, weights, grad, *static)
    return gx, gw, None, None, None, None


def _vjp_setup(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    x, weights, g, name, params, learned, wide = inputs
    ctx.save_for_backward(x, g, *weights)
    ctx.static = (name, params, learned, wide)


def _vjp_backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
    """Second order (gradgradcheck, Hessian-vector products): autograd through the vjp formula."""
    x, g, *weights = ctx.saved_tensors
    with torch.enable_grad():
        xd, gd = x.detach().requires_grad_(), g.detach().requires_grad_()
        v = vector_jacobian(xd, weights, gd, *ctx.static)
        gx, gg = torch.autograd.grad(v, (xd, gd), grad, allow_unused=True)
    gx = torch.zeros_like(x) if gx is None else gx
    gg = torch.zeros_like(g) if gg is None else gg
    return gx, [None] * len(weights), gg, None, None, None, None


apply_op.register_autograd(_apply_backward, setup_context=_apply_setup)
vjp_op.register_autograd(_vjp_backward, setup_context=_vjp_setup)


ONNX_REFUSAL = (
    "actlab's generic operator (actlab::apply: {name}) has no ONNX form; export the model with torch.export "
    "instead (and `import actlab.torch` where it is loaded), or swap in modules with a native kernel"
)


def _refuse_onnx(g: Any, x: Any, weights: Any, name: Any, *rest: Any) -> Any:
    """The TorchScript-based ONNX exporter's symbolic for ``actlab::apply``: a one-line refusal in place of
    "unrecognized namespace" (the catalog's formulas are Python, which ONNX cannot hold)."""
    from torch.onnx.errors import SymbolicValueError

    label = name if isinstance(name, str) else "an activation"
    raise SymbolicValueError(ONNX_REFUSAL.format(name=label), x)


def _register_onnx_refusal() -> None:
    from torch.onnx import register_custom_op_symbolic

    register_custom_op_symbolic("actlab::apply", _refuse_onnx, 1)


_register_onnx_refusal()
