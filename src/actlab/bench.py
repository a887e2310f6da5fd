"""``actlab bench``: how fast each activation runs, against the streaming bandwidth of the machine.

An activation is an elementwise pass over memory, so its speed limit is the rate at which
the machine streams an array in and another out.  This module measures, for every
activation of the catalog and side by side with its peers, three passes:

``forward``
    y = f(x).
``derivative``
    the backward kernel.  In the NumPy backend, f'(x) for elementwise activations
    (``act.derivative(x)``) and the vector-Jacobian product ``act.vjp(x, g)`` for the vector
    kinds (softmax, gated, maxout); in the PyTorch backend always the vector-Jacobian product
    g·f'(x), the kernel autograd runs (a retained graph differentiated again, or the ATen
    backward kernel itself for ``torch_out``).
``forward_backward``
    y and the backward kernel from one input, as a training step needs them.

**Byte model.**  Each pass is charged the least memory traffic it could have: every array it
needs read once and every array it makes written once, with ``b`` bytes per element, ``n``
input and ``m`` output elements (m = n except for the gated kinds and maxout, m = n/2):

* forward: x read, y written: (n + m) b;
* derivative as f'(x): x read, f'(x) written: 2n b;
* derivative as a vector-Jacobian product: x and g read, dx written: (2n + m) b;
* forward_backward as y and f'(x): x read, y and f'(x) written: (2n + m) b;
* forward_backward with a vector-Jacobian product: x and g read, y and dx written: 2(n + m) b.

GB/s is that byte count over the median time, and ``fraction_of_bandwidth`` that rate over
the bandwidth of a large ``np.copyto`` into a preallocated array of the same size and dtype
(2n b per copy) measured in the same run, at its start and at its end.  An implementation
that keeps no intermediate array in memory can reach a fraction near 1; every temporary
array written and read back costs another 2n b.

**Method.**  The input is a fixed-seed standard normal × 3 array of shape (size/1024, 1024),
so both branches of piecewise functions are taken and the gated kinds and maxout split the
last axis evenly.  For each activation every implementation and pass is run once to warm up
(allocations, compiled kernels), then ``repeats`` times, interleaved — one call of each in
turn, the order rotated each round — so that a slow spell of the machine hits all of them
alike; the median, minimum and maximum times are kept.  The copy bandwidth is the median of
at least five copies lasting 0.2 s in all.  The run is marked ``busy`` when the load average
exceeded the core count at the start, when the copy bandwidth moved by more than 25 % between
start and end (a drop means the machine got busier; a rise, that the reference was taken on
a busy machine), or when the repeats of a typical measurement spread by more than a factor 1.5.
``identity`` in PyTorch returns its input without a pass over memory: its fraction of the
bandwidth exceeds 1 and means only that there is nothing to do.

**Implementations.** NumPy backend: ``actlab`` (``act(x)``, allocating), ``actlab_out`` (``act(x,
out=buf)``), ``actlab_fast`` (``act(x, out=buf, fast=True)``: float16/32 computed in their own type,
see :class:`actlab.numpy.Activation`), ``textbook`` (the catalog's textbook definition — the forward
formula where the catalog has no separate one, the textbook form being exact there — and its
derivative formula, evaluated directly on the array in its own dtype, as a user would type it; for
the gated kinds a·gate(b) the same way; none for softmax and maxout), ``scipy`` (``scipy.special``
where it has the function: expit, log_expit, x·ndtr(x) for gelu, softmax, log_softmax; softplus's
``np.logaddexp(x, 0)`` is the textbook-stable form and is not counted as a peer); ``numexpr`` and
``jax`` when they are installed. PyTorch backend: ``actlab_torch`` (the module of
:func:`actlab.torch.get`), ``torch_eager`` (PyTorch's own function, allocating, autograd for the
backward) and ``torch_out`` (the ATen kernels with a preallocated output: ``aten.sigmoid.out``,
``aten.sigmoid_backward.grad_input``, ...), where PyTorch has them.

>>> from actlab import bench
>>> r = bench.run(names=["relu"], backends=("numpy",), size=4096, repeats=1)
>>> sorted({row["impl"] for row in r["rows"]})
['actlab', 'actlab_fast', 'actlab_out', 'textbook']
"""

from __future__ import annotations

import argparse
import datetime as _dt
import inspect
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .catalog import registry
from .catalog.spec import Elementwise, Gated
from .errors import ActlabError

SCHEMA = "actlab.bench/1"
DEFAULT_PATH = "actlab-bench.json"
QUICK: dict[str, int] = dict(size=2**20, repeats=3)
"""The settings of ``actlab bench --quick`` (a few seconds per activation)."""
DEFAULT_SIZE = 16 * 2**20
DEFAULT_REPEATS = 7
ROW = 1024
"""Length of the last axis of the input: the gated kinds and maxout split it."""
BACKENDS = ("numpy", "torch")
PASSES = ("forward", "derivative", "forward_backward")
DTYPES = ("float32", "float64")
OWN_IMPL = {"numpy": "actlab", "torch": "actlab_torch"}
PEERS = {"numpy": ("actlab_out", "textbook", "scipy", "numexpr", "jax"), "torch": ("torch_eager", "torch_out")}
CROSS = (
    ("actlab", "torch", "torch_eager"),
    ("actlab_out", "torch", "torch_out"),
    ("actlab_fast", "numpy", "textbook"),
    ("actlab_fast", "torch", "torch_out"),
)
"""Extra columns of the NumPy tables: (NumPy implementation, peer backend, peer implementation), so that
actlab's NumPy backend is set against PyTorch's kernels and its fast mode against the textbook forms."""
BUSY_DROP = 0.25
BANDWIDTH_MIN_S = 0.2
BUSY_SPREAD = 1.5


class BenchError(ActlabError, ValueError):
    """A benchmark that cannot be run or a results file that cannot be read."""


# --- the cases measured ----------------------------------------------------------------------


@dataclass
class Case:
    """One implementation of one pass of one activation: ``fn()`` runs it once."""

    backend: str
    impl: str
    pass_: str
    fn: Callable[[], Any]
    bytes: int


def _nbytes(pass_: str, n: int, m: int, b: int, vjp: bool) -> int:
    """The byte model of the module docstring."""
    if pass_ == "forward":
        return (n + m) * b
    if pass_ == "derivative":
        return (2 * n + m) * b if vjp else 2 * n * b
    return 2 * (n + m) * b if vjp else (2 * n + m) * b


def _accepts(fn: Callable[..., Any], keyword: str) -> bool:
    try:
        return keyword in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _numpy_cases(name: str, x: np.ndarray, g: np.ndarray, threads: int) -> list[Case]:
    import actlab

    act = actlab.get(name)
    spec = act.spec
    p = act.bound
    elementwise = isinstance(spec, Elementwise)
    n, m, b = x.size, g.size, x.itemsize
    cases: list[Case] = []

    def add(impl: str, pass_: str, fn: Callable[[], Any], vjp: bool = not elementwise) -> None:
        cases.append(Case("numpy", impl, pass_, fn, _nbytes(pass_, n, m, b, vjp)))

    kw = {"threads": threads} if _accepts(act.__call__, "threads") else {}
    dkw = {"threads": threads} if _accepts(act.derivative, "threads") else {}
    y = np.empty(g.shape, x.dtype)
    d = np.empty_like(x)
    vad = getattr(act, "value_and_derivative", None)
    vkw = {"threads": threads} if vad is not None and _accepts(vad, "threads") else {}

    # actlab, allocating
    add("actlab", "forward", lambda: act(x, **kw))
    if elementwise:
        add("actlab", "derivative", lambda: act.derivative(x, **dkw))
        if vad is not None:
            add("actlab", "forward_backward", lambda: vad(x, **vkw))
        else:
            add("actlab", "forward_backward", lambda: (act(x, **kw), act.derivative(x, **dkw)))
    else:
        add("actlab", "derivative", lambda: act.vjp(x, g))
        add("actlab", "forward_backward", lambda: (act(x, **kw), act.vjp(x, g)))

    # actlab into preallocated arrays
    add("actlab_out", "forward", lambda: act(x, out=y, **kw))
    if elementwise:
        add("actlab_out", "derivative", lambda: act.derivative(x, out=d, **dkw))
        if vad is not None and _accepts(vad, "dout"):
            add("actlab_out", "forward_backward", lambda: vad(x, out=y, dout=d, **vkw))
        else:
            add("actlab_out", "forward_backward", lambda: (act(x, out=y, **kw), act.derivative(x, out=d, **dkw)))
    elif _accepts(act.vjp, "out"):
        add("actlab_out", "derivative", lambda: act.vjp(x, g, out=d))
        add("actlab_out", "forward_backward", lambda: (act(x, out=y, **kw), act.vjp(x, g, out=d)))

    # actlab's fast mode (float16/32 computed in their own type), into preallocated arrays
    if elementwise and x.dtype != np.float64 and _accepts(act.__call__, "fast"):
        add("actlab_fast", "forward", lambda: act(x, out=y, fast=True, **kw))
        add("actlab_fast", "derivative", lambda: act.derivative(x, out=d, fast=True, **dkw))
        if vad is not None and _accepts(vad, "fast"):
            add("actlab_fast", "forward_backward", lambda: vad(x, out=y, dout=d, fast=True, **vkw))

    # the textbook formulas, evaluated directly in the array's dtype
    from .namespaces import numpy_ns as ns

    if elementwise:  # the definition, or the forward formula where the catalog states it is the textbook one
        f, df = spec.textbook(), spec.derivative
        probe = x[:1, :8]
        if f(probe, p, ns) is probe:  # identity: the formula returns its input, there is nothing to time
            f = lambda v, p, ns: v.copy()  # noqa: E731 - as a user would write it: a copy
        add("textbook", "forward", lambda: _quiet(f, x, p, ns))
        add("textbook", "derivative", lambda: _quiet(df, x, p, ns))
        add("textbook", "forward_backward", lambda: (_quiet(f, x, p, ns), _quiet(df, x, p, ns)))
    elif isinstance(spec, Gated):
        gspec = registry.spec(spec.gate)
        if isinstance(gspec, Elementwise):
            gp = gspec.bind(spec.gate_params)
            gf, gd = gspec.textbook(), gspec.derivative
            half = x.shape[-1] // 2
            a_, b_ = x[..., :half], x[..., half:]

            def gated_fwd() -> Any:
                with np.errstate(all="ignore"):
                    return a_ * gf(b_, gp, ns)

            def gated_vjp() -> Any:
                with np.errstate(all="ignore"):
                    return np.concatenate([g * gf(b_, gp, ns), g * a_ * gd(b_, gp, ns)], axis=-1)

            def gated_both() -> Any:
                with np.errstate(all="ignore"):
                    s = gf(b_, gp, ns)
                    return a_ * s, np.concatenate([g * s, g * a_ * gd(b_, gp, ns)], axis=-1)

            add("textbook", "forward", gated_fwd)
            add("textbook", "derivative", gated_vjp)
            add("textbook", "forward_backward", gated_both)

    # scipy.special, forward only (it has no derivatives)
    scipy_fn = _scipy_for(name, p)
    if scipy_fn is not None:
        add("scipy", "forward", lambda: scipy_fn(x))

    expr = _NUMEXPR.get(name)
    if expr is not None and not vars(p) and _importable("numexpr"):
        import numexpr

        add("numexpr", "forward", lambda: numexpr.evaluate(expr, local_dict={"x": x}, out=y))

    cases += _jax_cases(name, x, g, elementwise)
    return cases


def _quiet(f: Callable[..., Any], x: np.ndarray, p: Any, ns: Any) -> Any:
    with np.errstate(all="ignore"):
        return f(x, p, ns)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _scipy_for(name: str, p: Any) -> Callable[[np.ndarray], Any] | None:
    import scipy.special as sc

    if name == "sigmoid":
        return sc.expit
    if name == "log_sigmoid":
        return sc.log_expit
    if name == "gelu" and p.approximate == "none":
        return lambda x: x * sc.ndtr(x)
    if name in ("softmax", "log_softmax") and p.temperature == 1.0:
        fn = sc.softmax if name == "softmax" else sc.log_softmax
        return lambda x: fn(x, axis=p.dim)
    return None


_NUMEXPR = {
    "relu": "where(x > 0, x, 0)",
    "sigmoid": "1 / (1 + exp(-x))",
    "tanh": "tanh(x)",
    "silu": "x / (1 + exp(-x))",
    "softsign": "x / (1 + abs(x))",
}
"""numexpr expressions of parameter-free activations (evaluated in one blocked pass)."""


def _jax_cases(name: str, x: np.ndarray, g: np.ndarray, elementwise: bool) -> list[Case]:
    """jax.nn's function under jit, where there is one (CPU, the input copied to the device once)."""
    table = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "silu": "silu", "gelu": "gelu", "elu": "elu"}
    table.update({"softplus": "softplus", "log_sigmoid": "log_sigmoid", "softmax": "softmax", "mish": "mish"})
    if name not in table or not _importable("jax"):
        return []
    import jax
    import jax.numpy as jnp

    fn = getattr(jax.nn, table[name], None)
    if fn is None:
        return []
    if name == "gelu":
        fn = lambda v: jax.nn.gelu(v, approximate=False)  # noqa: E731 - the catalog's gelu is exact
    xj, gj = jnp.asarray(x), jnp.asarray(g)
    fwd = jax.jit(fn)

    def _vjp(v: Any, w: Any) -> Any:
        y, pull = jax.vjp(fn, v)
        return y, pull(w)[0]

    both = jax.jit(_vjp)
    back = jax.jit(lambda v, w: _vjp(v, w)[1])
    n, m, b = x.size, g.size, x.itemsize
    return [
        Case("numpy", "jax", "forward", lambda: fwd(xj).block_until_ready(), _nbytes("forward", n, m, b, True)),
        Case(
            "numpy", "jax", "derivative", lambda: back(xj, gj).block_until_ready(), _nbytes("derivative", n, m, b, True)
        ),
        Case(
            "numpy",
            "jax",
            "forward_backward",
            lambda: jax.block_until_ready(both(xj, gj)),
            _nbytes("forward_backward", n, m, b, True),
        ),
    ]


def _torch_out_kernels(name: str, p: Any) -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    """(forward(x, out), backward(g, x, y, out)): PyTorch's ATen kernels writing into ``out``."""
    import torch

    aten = torch.ops.aten
    fwd: Callable[..., Any] | None = None
    bwd: Callable[..., Any] | None = None
    if name == "relu":
        fwd = lambda x, o: aten.clamp_min.out(x, 0, out=o)  # noqa: E731 - max(x, 0) is relu exactly
        bwd = lambda g, x, y, o: aten.threshold_backward.grad_input(g, y, 0, grad_input=o)  # noqa: E731
    elif name in ("sigmoid", "tanh"):
        fwd = lambda x, o: getattr(aten, name).out(x, out=o)  # noqa: E731
        bk = getattr(aten, f"{name}_backward").grad_input
        bwd = lambda g, x, y, o: bk(g, y, grad_input=o)  # noqa: E731
    elif name in ("gelu", "gelu_tanh"):
        approx = "tanh" if name == "gelu_tanh" else p.approximate
        fwd = lambda x, o: aten.gelu.out(x, approximate=approx, out=o)  # noqa: E731
        bwd = lambda g, x, y, o: aten.gelu_backward.grad_input(g, x, approximate=approx, grad_input=o)  # noqa: E731
    elif name == "silu":
        fwd = lambda x, o: aten.silu.out(x, out=o)  # noqa: E731
        bwd = lambda g, x, y, o: aten.silu_backward.grad_input(g, x, grad_input=o)  # noqa: E731
    elif name == "mish":
        fwd = lambda x, o: aten.mish.out(x, out=o)  # noqa: E731 - mish_backward has no out= form
    elif name == "elu":
        a = p.alpha
        fwd = lambda x, o: aten.elu.out(x, a, 1, 1, out=o)  # noqa: E731
        bwd = lambda g, x, y, o: aten.elu_backward.grad_input(g, a, 1, 1, False, x, grad_input=o)  # noqa: E731
    elif name == "celu":
        a = p.alpha
        fwd = lambda x, o: aten.elu.out(x, a, 1, 1 / a, out=o)  # noqa: E731 - what torch.celu runs
        bwd = lambda g, x, y, o: aten.elu_backward.grad_input(g, a, 1, 1 / a, False, x, grad_input=o)  # noqa: E731
    elif name == "softplus" and p.threshold is not None:
        be, th = p.beta, p.threshold
        fwd = lambda x, o: aten.softplus.out(x, be, th, out=o)  # noqa: E731
        bwd = lambda g, x, y, o: aten.softplus_backward.grad_input(g, x, be, th, grad_input=o)  # noqa: E731
    elif name in ("hardswish", "hardsigmoid"):
        if name == "hardsigmoid" and not (p.slope == 1.0 / 6.0 and p.offset == 0.5):
            return None, None
        fwd = lambda x, o: getattr(aten, name).out(x, out=o)  # noqa: E731
        bk = getattr(aten, f"{name}_backward")
        if name == "hardswish":
            bwd = lambda g, x, y, o: bk.out(g, x, out=o)  # noqa: E731
        else:
            bwd = lambda g, x, y, o: bk.grad_input(g, x, grad_input=o)  # noqa: E731
    elif name == "leaky_relu":
        s = p.negative_slope
        fwd = lambda x, o: aten.leaky_relu.out(x, s, out=o)  # noqa: E731
        bwd = lambda g, x, y, o: aten.leaky_relu_backward.grad_input(g, x, s, False, grad_input=o)  # noqa: E731
    elif name in ("hardtanh", "relu6"):
        lo, hi = (p.min_val, p.max_val) if name == "hardtanh" else (0.0, 6.0)
        fwd = lambda x, o: aten.hardtanh.out(x, lo, hi, out=o)  # noqa: E731
        bwd = lambda g, x, y, o: aten.hardtanh_backward.grad_input(g, x, lo, hi, grad_input=o)  # noqa: E731
    elif name in ("softshrink", "hardshrink"):
        lam = p.lambd
        fwd = lambda x, o: getattr(aten, name).out(x, lam, out=o)  # noqa: E731
        bk = getattr(aten, f"{name}_backward").grad_input
        bwd = lambda g, x, y, o: bk(g, x, lam, grad_input=o)  # noqa: E731
    elif name in ("softmax", "log_softmax") and p.temperature == 1.0:
        dim = p.dim
        f_op = aten._softmax if name == "softmax" else aten._log_softmax
        b_op = aten._softmax_backward_data if name == "softmax" else aten._log_softmax_backward_data
        fwd = lambda x, o: f_op.out(x, dim, False, out=o)  # noqa: E731
        if name == "softmax":
            bwd = lambda g, x, y, o: b_op.out(g, y, dim, x.dtype, grad_input=o)  # noqa: E731
        else:
            bwd = lambda g, x, y, o: b_op.out(g, y, dim, x.dtype, out=o)  # noqa: E731
    elif name == "glu":
        dim = p.dim
        fwd = lambda x, o: aten.glu.out(x, dim, out=o)  # noqa: E731
        bwd = lambda g, x, y, o: aten.glu_backward.grad_input(g, x, dim, grad_input=o)  # noqa: E731
    return fwd, bwd


def _torch_cases(name: str, x_np: np.ndarray, g_np: np.ndarray) -> list[Case]:
    import torch

    import actlab.torch as at

    from .torch.native import native_for

    module = at.get(name)
    spec = registry.spec(name)
    p = spec.defaults()
    x = torch.from_numpy(x_np)
    g = torch.from_numpy(g_np)
    n, m, b = x.numel(), g.numel(), x.element_size()
    cases: list[Case] = []

    def add(impl: str, pass_: str, fn: Callable[[], Any]) -> None:
        cases.append(Case("torch", impl, pass_, fn, _nbytes(pass_, n, m, b, True)))

    def autograd_cases(impl: str, f: Callable[[torch.Tensor], torch.Tensor]) -> None:
        def forward() -> Any:
            with torch.no_grad():
                return f(x)

        xr = x.detach().clone().requires_grad_()
        graph: dict[str, Any] = {}

        def derivative() -> Any:
            if "y" not in graph:  # the forward runs once; the backward kernel is what is timed
                graph["y"] = f(xr)
            return torch.autograd.grad(graph["y"], xr, g, retain_graph=True)[0]

        def forward_backward() -> Any:
            xr.grad = None
            y = f(xr)
            y.backward(g)
            return y, xr.grad

        add(impl, "forward", forward)
        add(impl, "derivative", derivative)
        add(impl, "forward_backward", forward_backward)

    autograd_cases("actlab_torch", module)
    native = native_for(spec.name, p)
    if native is not None:
        autograd_cases("torch_eager", lambda t: native.fn(t, p))
        fwd, bwd = _torch_out_kernels(spec.name, p)
        if fwd is not None:
            y = torch.empty(g.shape, dtype=x.dtype)
            d = torch.empty_like(x)
            fwd(x, y)
            add("torch_out", "forward", lambda: fwd(x, y))
            if bwd is not None:
                add("torch_out", "derivative", lambda: bwd(g, x, y, d))
                add("torch_out", "forward_backward", lambda: (fwd(x, y), bwd(g, x, y, d)))
    return cases


# --- measuring -------------------------------------------------------------------------------


def _copy_bandwidth(src: np.ndarray, dst: np.ndarray, repeats: int) -> list[float]:
    """Times of ``np.copyto(dst, src)``: at least ``repeats`` of them and at least BANDWIDTH_MIN_S in all."""
    times: list[float] = []
    while len(times) < repeats or (sum(times) < BANDWIDTH_MIN_S and len(times) < 1000):
        t = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t)
    return times


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _torch_version() -> str | None:
    if "torch" in sys.modules:
        return str(sys.modules["torch"].__version__)
    return None


def _check(names: Sequence[str] | None, backends: Sequence[str], dtype: str, size: int, threads: int, repeats: int):
    if isinstance(backends, str):
        backends = (backends,)
    bad = [b for b in backends if b not in BACKENDS]
    if bad or not backends:
        raise BenchError(f"unknown backend {bad[0]!r}; use numpy, torch or all" if bad else "no backend to measure")
    if dtype not in DTYPES:
        raise BenchError(f"dtype must be float32 or float64, not {dtype!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < ROW or size % ROW:
        raise BenchError(f"size must be a multiple of {ROW} (rows of {ROW} elements), at least {ROW}; got {size!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise BenchError(f"threads must be an integer of at least 1; got {threads!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise BenchError(f"repeats must be an integer of at least 1; got {repeats!r}")
    canonical = list(registry.names()) if not names else [registry.spec(nm).name for nm in names]
    return list(dict.fromkeys(canonical)), list(dict.fromkeys(backends))


def run(
    names: Sequence[str] | None = None,
    backends: Sequence[str] = BACKENDS,
    dtype: str = "float32",
    size: int = DEFAULT_SIZE,
    threads: int = 1,
    repeats: int = DEFAULT_REPEATS,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Measure the activations ``names`` (default: the whole catalog); returns the results as a dict.

    ``progress(i, total, label)`` is called as the measurement advances.  The PyTorch
    backend is skipped, with a note, when PyTorch is not installed.
    """
    names, backends = _check(names, backends, dtype, size, threads, repeats)
    notes: list[str] = []
    if "torch" in backends and not _importable("torch"):
        backends.remove("torch")
        notes.append("torch is not installed: the torch backend was skipped")
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    reasons = []
    if load > cores:
        reasons.append(f"load average {load:.1f} above {cores} cores at the start")

    torch_threads = None
    if "torch" in backends:
        import torch

        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)

    rng = np.random.default_rng(0)
    x = rng.standard_normal(size, dtype=np.dtype(dtype).type)
    x *= 3
    x = x.reshape(size // ROW, ROW)
    copy_dst = np.empty_like(x)
    copy_bytes = 2 * x.nbytes
    bw_repeats = max(5, repeats)
    _copy_bandwidth(x, copy_dst, 1)
    start = statistics.median(_copy_bandwidth(x, copy_dst, bw_repeats))

    rows: list[dict[str, Any]] = []
    spreads: list[float] = []
    total = len(names) * (repeats + 1)
    step = 0
    try:
        for name in names:
            spec = registry.spec(name)
            act_p = spec.defaults()
            out_shape = spec.out_shape(x.shape, act_p)
            g = rng.standard_normal(out_shape, dtype=np.dtype(dtype).type)
            cases: list[Case] = []
            if "numpy" in backends:
                cases += _numpy_cases(name, x, g, threads)
            if "torch" in backends:
                cases += _torch_cases(name, x, g)
            if progress is not None:
                progress(step, total, f"{name} warm-up")
            live = []
            for c in cases:  # warm-up; a peer that fails on this input is left out
                try:
                    c.fn()
                    live.append(c)
                except Exception as exc:  # a peer's own failure is noted, not raised
                    notes.append(f"{name} {c.backend}/{c.impl}/{c.pass_} skipped: {type(exc).__name__}: {exc}")
            step += 1
            times: list[list[float]] = [[] for _ in live]
            for r in range(repeats):
                if progress is not None:
                    progress(step, total, name)
                k = len(live)
                for j in range(k):
                    i = (j + r) % k
                    t = time.perf_counter()
                    live[i].fn()
                    times[i].append(time.perf_counter() - t)
                step += 1
            for c, ts in zip(live, times):
                med, lo, hi = statistics.median(ts), min(ts), max(ts)
                med = max(med, 1e-9)
                gbs = c.bytes / med / 1e9
                rows.append(
                    {
                        "name": name,
                        "backend": c.backend,
                        "impl": c.impl,
                        "pass": c.pass_,
                        "median_s": med,
                        "min_s": max(lo, 1e-9),
                        "max_s": max(hi, 1e-9),
                        "elements_per_s": x.size / med,
                        "gbs": gbs,
                        "fraction_of_bandwidth": gbs / (copy_bytes / start / 1e9),
                    }
                )
                spreads.append(hi / max(lo, 1e-12))
            del cases, live
    finally:
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)
    if progress is not None:
        progress(total, total, "done")

    end = statistics.median(_copy_bandwidth(x, copy_dst, bw_repeats))
    gbs_start, gbs_end = copy_bytes / start / 1e9, copy_bytes / end / 1e9
    if min(gbs_start, gbs_end) < (1 - BUSY_DROP) * max(gbs_start, gbs_end):
        change = "fell" if gbs_end < gbs_start else "rose"
        reasons.append(f"copy bandwidth {change} from {gbs_start:.1f} to {gbs_end:.1f} GB/s during the run")
    if repeats > 1 and spreads and statistics.median(spreads) > BUSY_SPREAD:
        reasons.append(f"repeats spread by a median factor {statistics.median(spreads):.2f} (max/min)")

    result = {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpu": _cpu_name(),
            "cores": cores,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": _torch_version(),
        },
        "config": {
            "dtype": dtype,
            "size": size,
            "threads": threads,
            "repeats": repeats,
            "backends": backends,
            "names": names,
        },
        "bandwidth": {"gbs": gbs_start, "gbs_end": gbs_end, "median_s": start},
        "busy": bool(reasons),
        "busy_reason": "; ".join(reasons) if reasons else None,
        "rows": rows,
        "notes": notes,
    }
    return result


# --- results files ---------------------------------------------------------------------------


def save(result: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``result`` as JSON atomically: a temporary file in the same folder, then ``os.replace``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".actlab-bench-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a file written by :func:`save`; :class:`BenchError` if it is missing, corrupt or of another schema."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise BenchError(f"no benchmark results at {path}; run `actlab bench --json {path}`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"cannot read benchmark results {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise BenchError(f"{path} is not an actlab benchmark file (schema {found!r}, expected {SCHEMA!r})")
    keys = ("config", "bandwidth", "rows", "machine")
    if any(k not in data for k in keys) or not isinstance(data["rows"], list):
        raise BenchError(f"{path} is an incomplete actlab benchmark file (needs {', '.join(keys)})")
    return data


# --- summaries -------------------------------------------------------------------------------


def _medians(result: dict[str, Any], backend: str, pass_: str, impl: str) -> dict[str, float]:
    return {
        r["name"]: r["median_s"]
        for r in result["rows"]
        if r["backend"] == backend and r["pass"] == pass_ and r["impl"] == impl
    }


def speed_vs_relu(
    result: dict[str, Any], backend: str = "numpy", pass_: str = "forward_backward", impl: str | None = None
) -> dict[str, float]:
    """Median time of each activation over relu's, for one implementation (actlab's own by default)."""
    impl = impl or OWN_IMPL.get(backend)
    if impl is None:
        raise BenchError(f"unknown backend {backend!r}")
    times = _medians(result, backend, pass_, impl)
    if "relu" not in times:
        raise BenchError(f"relu was not measured for {backend}/{impl}/{pass_}: nothing to compare against")
    return {name: t / times["relu"] for name, t in times.items()}


def _geomean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def format_tables(result: dict[str, Any]) -> str:
    """The human-readable report: per backend and pass, actlab's time, its share of the bandwidth,
    and actlab's time over each peer's (below 1: actlab is faster); a geomean line per peer."""
    bw = result["bandwidth"]
    cfg = result["config"]
    lines = [
        f"size {cfg['size']:,} {cfg['dtype']}, {cfg['repeats']} repeats, {cfg['threads']} thread(s); "
        f"streaming copy {bw['gbs']:.1f} GB/s (end of run {bw['gbs_end']:.1f})",
        "ratios are actlab time / peer time: below 1 means actlab is faster",
    ]
    if result.get("busy"):
        lines.append(f"warning: the machine was busy ({result['busy_reason']}); timings are noisy")
    for backend in cfg["backends"]:
        own = OWN_IMPL[backend]
        present = {r["impl"] for r in result["rows"] if r["backend"] == backend}
        peers = [p for p in PEERS[backend] if p in present]
        for pass_ in PASSES:
            mine = {
                r["name"]: r
                for r in result["rows"]
                if r["backend"] == backend and r["pass"] == pass_ and r["impl"] == own
            }
            if not mine:
                continue
            # (label, numerator times, denominator times) for each ratio column
            ratio_cols = [(f"/{p}", None, _medians(result, backend, pass_, p)) for p in peers]
            if backend == "numpy":
                for mine_impl, other_backend, other_impl in CROSS:
                    num = _medians(result, "numpy", pass_, mine_impl)
                    den = _medians(result, other_backend, pass_, other_impl)
                    if num and den:
                        short = mine_impl.replace("actlab_", "").replace("actlab", "")
                        other = "torch" if other_impl == "torch_eager" else other_impl
                        ratio_cols.append((f"{short}/{other}", num, den))
            ratio_cols = [c for c in ratio_cols if c[2]]
            cols = [c[0] for c in ratio_cols]
            header = ["activation", f"{own} ms", "% bw", *cols]
            body = []
            ratios: dict[str, list[float]] = {c: [] for c in cols}
            for name, r in mine.items():
                cells = [name, f"{r['median_s'] * 1e3:.2f}", f"{100 * r['fraction_of_bandwidth']:.0f}"]
                for label, num, den in ratio_cols:
                    t = den.get(name)
                    mine_t = r["median_s"] if num is None else num.get(name)
                    if t is None or mine_t is None:
                        cells.append("-")
                    else:
                        ratio = mine_t / t
                        ratios[label].append(ratio)
                        cells.append(f"{ratio:.2f}")
                body.append(cells)
            geo = ["geomean", "", ""] + [
                f"{_geomean(ratios[p]):.2f} ({len(ratios[p])})" if ratios[p] else "-" for p in cols
            ]
            lines += ["", f"{backend} — {pass_.replace('_', ' ')}", _table(body + [geo], header)]
    return "\n".join(lines)


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    just = [str.ljust] + [str.rjust] * (len(header) - 1)
    fmt = lambda r: "  ".join(j(str(c), w) for c, w, j in zip(r, widths, just)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *[fmt(r) for r in rows]])


# --- the command -----------------------------------------------------------------------------


def _progress_bar(i: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * i / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {i}/{total} {label}".ljust(72)[:100])
    if i >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``actlab bench`` to the subcommands ``sub`` of the actlab command line."""
    p = sub.add_parser(
        "bench",
        help="speed of each activation against PyTorch, NumPy and SciPy, as a share of the memory bandwidth",
        description="Measure forward, derivative and forward+backward speed of activations, side by side with "
        "their peers, as elements/s, GB/s and a fraction of the streaming copy bandwidth measured in the same run.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="activations (default: all)")
    p.add_argument("--backend", choices=["numpy", "torch", "all"], default="all", help="default: all")
    p.add_argument("--dtype", choices=list(DTYPES), default="float32", help="default: float32")
    p.add_argument("--size", type=int, help=f"elements per array, a multiple of {ROW} (default {DEFAULT_SIZE})")
    p.add_argument("--threads", type=int, default=1, help="threads for PyTorch (and actlab, if it takes them)")
    p.add_argument("--repeats", type=int, help=f"timed repeats per measurement (default {DEFAULT_REPEATS})")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE ('-': print JSON instead)")
    p.add_argument(
        "--quick", action="store_true", help=f"size {QUICK['size']}, {QUICK['repeats']} repeats (unless given)"
    )
    p.set_defaults(run=_command)
    return p


def _command(args: argparse.Namespace) -> int:
    size = args.size if args.size is not None else (QUICK["size"] if args.quick else DEFAULT_SIZE)
    repeats = args.repeats if args.repeats is not None else (QUICK["repeats"] if args.quick else DEFAULT_REPEATS)
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    to_stdout = args.json == "-"
    _check(args.names, backends, args.dtype, size, args.threads, repeats)  # fail before any work
    result = run(
        names=args.names or None,
        backends=backends,
        dtype=args.dtype,
        size=size,
        threads=args.threads,
        repeats=repeats,
        progress=None if to_stdout else _progress_bar,
    )
    for note in result.get("notes", []):
        print(f"actlab: note: {note}", file=sys.stderr)
    if result["busy"]:
        print(f"actlab: warning: the machine was busy ({result['busy_reason']}); timings are noisy", file=sys.stderr)
    if to_stdout:
        print(json.dumps(result, indent=2, allow_nan=False))
        return 0
    print(format_tables(result))
    if args.json:
        save(result, args.json)
        print(f"\nwrote {args.json}")
    return 0
