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
    backward kernel itself for ``torch_out``); in the JAX backend the vector-Jacobian product
    of ``jax.vjp`` under ``jax.jit``.
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
last axis evenly.  Every PyTorch kernel is compiled first, so that no compiler work runs
beside a timing.  Then, one activation at a time, its implementations and passes — and ReLU's
own implementation for the same passes, the reference of every ``/relu`` ratio — are timed in
rounds: each round runs every one of them once, in a fresh random order, so that a slow spell
of the machine hits all of them alike and none always follows the same neighbour.  With
``impls="own"`` (the quick settings) a block of rounds holds the whole catalog of one backend,
ReLU among it: each activation's neighbours are drawn from the whole catalog, and what a costly
neighbour leaves behind (cold caches, a grown heap) falls on ReLU as often as on the others —
timed beside one costly activation only, ReLU's own time rose by up to a factor 2.  A call shorter than 4 ms is repeated
within its sample until the sample lasts 4 ms, its calls interleaved with the other samples'
calls.  Two settling rounds are run first and dropped (the allocator needs a few calls to
reach its steady state), then ``repeats`` rounds, and with ``max_repeats`` more, until every
ratio to ReLU has a confidence interval within ±5 % (:data:`PRECISION`).  With one thread
the clock is the CPU time of the measuring thread, which leaves out the time the machine
gives the core to other programs; with more, the wall time.  The garbage collector is paused
inside a block, and glibc is asked to keep freed memory for reuse.

**Ratios.**  Every ratio printed — to ReLU, to a peer — is paired: the per-round ratio of the
two times measured in the same round, summarised by its median over the rounds, with the
distribution-free 95 % confidence interval of that median from order statistics
(:func:`paired_ratio`, :class:`Ratio`); where the interval holds 1 it is printed ``≈ 1``.  The
rows keep every round's time (``times_s``) and, for actlab's own implementation, ReLU's times
in the same rounds (``relu_s``) and the ratio (``vs_relu``).  The copy bandwidth is the median
of at least five copies lasting 0.2 s in all.  The run is marked ``busy`` when the load
average exceeded the core count at the start, when the copy bandwidth moved by more than 25 %
between start and end (a drop means the machine got busier; a rise, that the reference was
taken on a busy machine), or when the rounds of a typical measurement spread by more than a
factor 1.25 between their quartiles.
``identity`` in PyTorch returns its input without a pass over memory: its fraction of the
bandwidth exceeds 1 and means only that there is nothing to do.

**Implementations.** NumPy backend: ``actlab`` (``act(x)``, allocating), ``actlab_out`` (``act(x,
out=buf)``), ``actlab_fast`` (``act(x, out=buf, fast=True)``: float16/32 computed in their own type,
see :class:`actlab.numpy.Activation`), ``textbook`` (the catalog's textbook definition — the forward
formula where the catalog has no separate one, the textbook form being exact there — and its
derivative formula, evaluated directly on the array in its own dtype, as a user would type it; for
the gated kinds a·gate(b) the same way; none for softmax and maxout), ``scipy`` (``scipy.special``
where it has the function: expit, log_expit, x·ndtr(x) for gelu, softmax, log_softmax; softplus's
``np.logaddexp(x, 0)`` is the textbook-stable form and is not counted as a peer); ``numexpr`` when it
is installed. PyTorch backend: ``actlab_torch`` (the module of
:func:`actlab.torch.get`), ``torch_eager`` (PyTorch's own function, allocating, autograd for the
backward) and ``torch_out`` (the ATen kernels with a preallocated output: ``aten.sigmoid.out``,
``aten.sigmoid_backward.grad_input``, ...), where PyTorch has them.  JAX backend (``"jax"``: measured by
``actlab bench --backend jax`` or ``all``, not by :func:`run` unless named in ``backends``): ``actlab_jax``
(:func:`actlab.jax.get` under ``jax.jit``) and ``jax_nn`` (``jax.nn``'s function under ``jax.jit`` at the
catalog's parameters, where ``jax.nn`` has it — for gelu ``jax.nn.gelu(approximate=False)``, the exact form
the catalog's gelu computes, not jax.nn's default tanh form); each pass is one jitted function, compiled by
the warm-up call before the rounds, on the input and output gradient copied to the device once, every call
ending in ``block_until_ready``.  XLA runs a computation on threads of its own whatever ``threads`` says,
so the JAX backend's clock is the wall time (:func:`clock`), on however many cores XLA spreads the work;
its share of the bandwidth is those bytes per second over the one-thread NumPy copy's, and can exceed 100 %.

>>> from actlab import bench
>>> r = bench.run(names=["relu"], backends=("numpy",), size=4096, repeats=1)
>>> sorted({row["impl"] for row in r["rows"]})
['actlab', 'actlab_fast', 'actlab_out', 'textbook']
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import inspect
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._io import check_file, write_text, write_text_or_elsewhere
from .catalog import registry
from .catalog.spec import Elementwise, Gated
from .errors import ActlabError

SCHEMA = "actlab.bench/2"
OLD_SCHEMAS = ("actlab.bench/1",)
"""Schemas of earlier versions: their files hold no per-round times, so they are measured again."""
DEFAULT_PATH = "actlab-bench.json"
QUICK: dict[str, Any] = dict(size=2**20, repeats=7, max_repeats=15, impls="own", passes=("forward_backward",))
"""The settings of ``actlab bench --quick``, of ``actlab table`` and of the report when no benchmark file
exists: actlab's own implementations, forward + backward (a training step's cost), each paired with ReLU
in 7 to 15 rounds (until every ratio to ReLU is known within ±PRECISION), on 2**20 elements: 4 MiB in
float32, a layer of a small network, larger than the L2 cache; the per-call overhead (measured on a
two-core Xeon: about 40 µs for ReLU forward + backward in PyTorch and 30 µs in NumPy at 1024 elements)
is a few percent of ReLU's 1 to 5 ms there, so the ratio is one of time per element, and PyTorch runs
the fused kernels (FUSE_MIN_NUMEL) that a real tensor gets."""
DEFAULT_SIZE = 16 * 2**20
DEFAULT_REPEATS = 7
IMPLS = ("all", "own")
WARMUP_ROUNDS = 2
MIN_SAMPLE_S = 0.004
"""A call shorter than this is repeated within one sample (up to MAX_CALLS times) until the sample lasts this
long: a millisecond call is either undisturbed or loses its cache to another program, a sample of several calls
averages over that as a longer call does."""
MAX_CALLS = 64
"""Rounds run before the timed ones and not kept: the first calls after a kernel's compilation run slower
for a few rounds while the allocator settles (fresh pages are faulted in until it keeps freed blocks)."""
CONFIDENCE = 0.95
"""Confidence level of the interval given with every ratio."""
PRECISION = 0.05
"""With ``max_repeats``, rounds are added until every ratio to ReLU has an interval within ±PRECISION."""
ROW = 1024
"""Length of the last axis of the input: the gated kinds and maxout split it."""
BACKENDS = ("numpy", "torch", "jax")
DEFAULT_BACKENDS = ("numpy", "torch")
"""What :func:`run` measures unless told: the JAX backend is measured when asked for (``actlab bench --backend
jax`` or ``all``), so that the table and the report gain a JAX column only from a benchmark that holds one."""
PASSES = ("forward", "derivative", "forward_backward")
DTYPES = ("float32", "float64")
OWN_IMPL = {"numpy": "actlab", "torch": "actlab_torch", "jax": "actlab_jax"}
PEERS = {
    "numpy": ("actlab_out", "textbook", "scipy", "numexpr"),
    "torch": ("torch_eager", "torch_out"),
    "jax": ("jax_nn",),
}
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
BUSY_SPREAD = 1.25
"""Median over measurements of the upper over the lower quartile of the rounds above which the run is busy."""


class BenchError(ActlabError, ValueError):
    """A benchmark that cannot be run or a results file that cannot be read."""


# --- statistics of paired rounds --------------------------------------------------------------


class Ratio(float):
    """A measured time ratio: the median over rounds of the per-round ratio, with the ``confidence``
    interval of that median (``lo``, ``hi``; ``None`` when too few rounds give one, or for the reference
    itself) and the number of rounds.  It is a float, so it compares and formats as its median."""

    lo: float | None
    hi: float | None
    rounds: int

    def __new__(cls, value: float, lo: float | None = None, hi: float | None = None, rounds: int = 0) -> Ratio:
        self = super().__new__(cls, value)
        self.lo, self.hi, self.rounds = lo, hi, rounds
        return self

    @property
    def includes_one(self) -> bool:
        """Whether the interval holds 1: the two times are not told apart by this measurement."""
        return self.lo is not None and self.hi is not None and self.lo <= 1.0 <= self.hi

    def as_dict(self) -> dict[str, Any]:
        return {"ratio": float(self), "lo": self.lo, "hi": self.hi, "rounds": self.rounds}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ratio:
        return cls(float(d["ratio"]), d.get("lo"), d.get("hi"), int(d.get("rounds", 0)))

    def text(self, digits: int = 2, spread: str | None = None, unit: str = "×") -> str:
        """``"1.52×"``, or ``"≈ 1"`` when the interval holds 1.  ``spread="interval"`` adds the interval,
        ``"1.52× (1.48–1.57)"``; ``spread="percent"`` its larger distance from the median, ``"1.52× ±3%"``."""
        main = "≈ 1" if self.includes_one else f"{float(self):.{digits}f}{unit}"
        if spread and self.lo is not None and self.hi is not None:
            if spread == "interval":
                main += f" ({self.lo:.{digits}f}–{self.hi:.{digits}f})"
            else:
                v = float(self)
                main += f" ±{100 * max(self.hi / v - 1, 1 - self.lo / v):.0f}%"
        return main


def paired_ratio(num: Sequence[float], den: Sequence[float], confidence: float = CONFIDENCE) -> Ratio:
    """The ratio of two implementations' times measured in the same rounds: the median of the per-round
    ratios ``num[i] / den[i]``, with the distribution-free confidence interval of that median from order
    statistics (:func:`scipy.stats.quantile_test`; it needs at least 6 rounds at 95 %).

    Pairing cancels what a round shares (a slow spell of the machine slows both), and the median ignores
    the rounds where one call alone was interrupted.

    >>> slow = [2.0, 2.2, 1.8, 2.1, 4.0, 2.0, 1.9, 2.05, 1.95, 2.0]  # the fifth call was interrupted
    >>> fast = [1.0, 1.1, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    >>> paired_ratio(slow, fast).text(spread="interval")
    '2.00× (1.95–2.10)'
    >>> paired_ratio(fast, [1.02, 1.0, 0.95, 1.03, 1.0, 0.98, 0.97, 1.01, 1.04, 0.99]).text(spread="interval")
    '≈ 1 (0.96–1.03)'
    """
    if len(num) != len(den) or not num:
        raise BenchError(f"paired times must be two non-empty lists of one length; got {len(num)} and {len(den)}")
    logs = np.log(np.asarray(num, dtype=float)) - np.log(np.asarray(den, dtype=float))
    value = float(np.exp(np.median(logs)))
    lo = hi = None
    if len(logs) > 1:
        from scipy import stats

        ci = stats.quantile_test(logs, q=0.0, p=0.5).confidence_interval(confidence)
        if math.isfinite(ci.low) and math.isfinite(ci.high):
            lo, hi = float(np.exp(ci.low)), float(np.exp(ci.high))
    return Ratio(value, lo, hi, len(logs))


def _precise(times: Sequence[Sequence[float]], pairs: Sequence[tuple[int, int]], skip: int) -> bool:
    """Whether every paired ratio ``times[i] / times[j]`` (rounds after the first ``skip``) has an interval
    within ±PRECISION of its median."""
    for i, j in pairs:
        r = paired_ratio(times[i][skip:], times[j][skip:])
        if r.lo is None or r.hi is None or r.hi > r * (1 + PRECISION) or r.lo < r * (1 - PRECISION):
            return False
    return True


def _schedule(k: int, rounds: int, rng: np.random.Generator) -> list[list[int]]:
    """The order of ``k`` implementations in each of ``rounds`` rounds: every round runs each once, in a
    fresh random order, so that no implementation always follows the same one (and inherits its caches)."""
    return [[int(i) for i in rng.permutation(k)] for _ in range(rounds)]


# --- the cases measured ----------------------------------------------------------------------


@dataclass
class Case:
    """One implementation of one pass of one activation: ``fn()`` runs it once, timed by ``now`` (the run's
    clock when None)."""

    backend: str
    impl: str
    pass_: str
    fn: Callable[[], Any]
    bytes: int
    now: Callable[[], float] | None = None


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


def _jax_nn_for(name: str, p: Any) -> Callable[[Any], Any] | None:
    """``jax.nn``'s function computing what the catalog's ``name`` computes at the parameters ``p``, or None
    where jax.nn has no such function (:func:`actlab.jax.nn.native`, from the one table of jax.nn's names).
    gelu: the exact (erf) form unless ``approximate='tanh'``; jax.nn's default is the tanh form, which the
    catalog also has as the entry gelu_tanh."""
    from .jax.nn import native

    if name == "gelu_tanh":
        return native("gelu", {"approximate": "tanh"})
    return native(name, vars(p))


def _jax_unavailable(dtype: str) -> str | None:
    """Why the JAX backend cannot measure ``dtype`` here (one line), or None when it can."""
    try:
        import actlab.jax  # noqa: F401
    except ImportError as exc:  # its message says what to install
        return str(exc)
    import jax

    if dtype == "float64" and not jax.config.jax_enable_x64:
        return "JAX computes float64 only with jax_enable_x64 (JAX_ENABLE_X64=1); without it the jax backend is float32"
    return None


def _jax_cases(name: str, x: Any, g: Any, now: Callable[[], float] | None) -> list[Case]:
    """actlab.jax and jax.nn's function under ``jax.jit`` on the device arrays ``x`` and ``g``, every pass one
    jitted function ending in ``block_until_ready``; the derivative passes are ``jax.vjp``'s pullback."""
    import jax

    import actlab.jax as aj

    spec = registry.spec(name)
    own = aj.get(spec.name)  # ActlabError for a kind the JAX backend does not serve
    n, m, b = x.size, g.size, x.dtype.itemsize
    cases = []
    for impl, fn in (("actlab_jax", own), ("jax_nn", _jax_nn_for(spec.name, spec.defaults()))):
        if fn is None:
            continue

        def vjp(v: Any, w: Any, fn: Callable[[Any], Any] = fn) -> Any:
            y, pull = jax.vjp(fn, v)
            return y, pull(w)[0]

        fwd, back, both = jax.jit(fn), jax.jit(lambda v, w, vjp=vjp: vjp(v, w)[1]), jax.jit(vjp)
        run = {
            "forward": lambda fwd=fwd: fwd(x).block_until_ready(),
            "derivative": lambda back=back: back(x, g).block_until_ready(),
            "forward_backward": lambda both=both: jax.block_until_ready(both(x, g)),
        }
        cases += [Case("jax", impl, pass_, run[pass_], _nbytes(pass_, n, m, b, True), now) for pass_ in PASSES]
    return cases


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


def clock(threads: int, backend: str = "numpy") -> tuple[str, Callable[[], float]]:
    """The clock the measurement reads: with one thread, the CPU time of the measuring thread (user and
    system, page faults included), which does not count the time the machine gives the core to other
    programs — on a shared machine the wall time of a millisecond call is either its own or that plus a
    time slice of someone else's; with more threads, the wall time (the work is spread over threads).
    The JAX backend: the wall time, since XLA runs a computation on threads of its own while the calling
    thread waits (its own CPU time would be the dispatch alone), and the CPU time of the process counts
    XLA's worker threads spinning between calls, charged to whichever case runs next (measured: tanh 3.7×
    jax.nn's in a run of 24 entries, ≈ 1 alone, for the same compiled code)."""
    if backend == "jax":
        return "perf_counter", time.perf_counter
    if threads == 1 and hasattr(time, "thread_time"):
        return "thread_time", time.thread_time
    return "perf_counter", time.perf_counter


def _copy_bandwidth(src: np.ndarray, dst: np.ndarray, repeats: int, now: Callable[[], float]) -> list[float]:
    """Times of ``np.copyto(dst, src)``: at least ``repeats`` of them and at least BANDWIDTH_MIN_S in all."""
    times: list[float] = []
    while len(times) < repeats or (sum(times) < BANDWIDTH_MIN_S and len(times) < 1000):
        t = now()
        np.copyto(dst, src)
        times.append(now() - t)
    return times


def _rounds(
    live: list[Case],
    refs: list[Case],
    repeats: int,
    max_repeats: int,
    now: Callable[[], float],
    rng: np.random.Generator,
) -> list[list[float]]:
    """Times per call of ``live`` (each already run once) over WARMUP_ROUNDS + ``repeats`` .. ``max_repeats``
    rounds, each round in a fresh random order; the warm-up rounds are dropped.  A sample repeats a call that
    takes less than MIN_SAMPLE_S until it lasts that long, its calls interleaved with the other samples' calls
    (A B C A B C ...) so that what disturbs one disturbs its neighbours alike.  After ``repeats`` rounds,
    stops as soon as every ratio of actlab's own implementation to ReLU's (``refs``) is known within
    ±PRECISION."""
    ref_ids = {id(c) for c in refs}
    ref_of = {(c.backend, c.pass_): i for i, c in enumerate(live) if id(c) in ref_ids}
    pairs = [  # (actlab's own, ReLU's): the ratios that decide when to stop
        (i, ref_of[(c.backend, c.pass_)])
        for i, c in enumerate(live)
        if c.impl == OWN_IMPL[c.backend] and (c.backend, c.pass_) in ref_of and id(c) not in ref_ids
    ]
    clocks = [c.now or now for c in live]
    calls = []  # calls per sample: a sample of MIN_SAMPLE_S at least, so that one interruption weighs little
    for c, tick in zip(live, clocks):
        t = tick()
        c.fn()
        calls.append(max(1, min(MAX_CALLS, math.ceil(MIN_SAMPLE_S / max(tick() - t, 1e-9)))))
    times: list[list[float]] = [[] for _ in live]
    for done, order in enumerate(_schedule(len(live), WARMUP_ROUNDS + max_repeats, rng), start=1):
        spent = [0.0] * len(live)
        for rep in range(max(calls)):  # the calls of a sample interleaved with the others': paired call by call
            for i in order:
                if rep < calls[i]:
                    t = clocks[i]()
                    live[i].fn()
                    spent[i] += clocks[i]() - t
        for i, k in enumerate(calls):
            times[i].append(spent[i] / k)
        if done - WARMUP_ROUNDS >= repeats and _precise(times, pairs, WARMUP_ROUNDS):
            break
    return [ts[WARMUP_ROUNDS:] for ts in times]  # the settling rounds are not kept


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed blocks below 32 MiB for reuse instead of returning them to the system: otherwise
    each call's fresh output arrays are page-faulted in anew whenever the heap was trimmed, and the cost of that
    (the kernel zeroing pages) depends on what the allocations of the previous calls left and on the other
    programs' memory traffic — it varied the time of the same ReLU call by a factor 2 from one activation's
    rounds to the next.  A long-running training process reaches the same steady state by itself.  The setting
    stays for the rest of the process; elsewhere than on glibc this does nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: blocks below 32 MiB come from the heap ...
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: ... which is not given back below 1 GiB free at its top
    except (OSError, AttributeError):
        pass


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
        raise BenchError(
            f"unknown backend {bad[0]!r}; use {', '.join(BACKENDS)} or all" if bad else "no backend to measure"
        )
    if dtype not in DTYPES:
        raise BenchError(f"dtype must be float32 or float64, not {dtype!r}")
    if list(backends) == ["jax"] and (why := _jax_unavailable(dtype)):  # beside others it is skipped with a note
        raise BenchError(f"cannot measure the jax backend: {why}")
    if isinstance(size, bool) or not isinstance(size, int) or size < ROW or size % ROW:
        raise BenchError(f"size must be a multiple of {ROW} (rows of {ROW} elements), at least {ROW}; got {size!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise BenchError(f"threads must be an integer of at least 1; got {threads!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise BenchError(f"repeats must be an integer of at least 1; got {repeats!r}")
    canonical = list(registry.names()) if not names else [registry.spec(nm).name for nm in names]
    return list(dict.fromkeys(canonical)), list(dict.fromkeys(backends))


def _check_passes(passes: Sequence[str]) -> list[str]:
    if isinstance(passes, str):
        passes = (passes,)
    bad = [p for p in passes if p not in PASSES]
    if bad or not passes:
        raise BenchError(f"unknown pass {bad[0]!r}; use {', '.join(PASSES)}" if bad else "no pass to measure")
    return [p for p in PASSES if p in passes]


def run(
    names: Sequence[str] | None = None,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    dtype: str = "float32",
    size: int = DEFAULT_SIZE,
    threads: int = 1,
    repeats: int = DEFAULT_REPEATS,
    progress: Callable[[int, int, str], None] | None = None,
    impls: str = "all",
    passes: Sequence[str] = PASSES,
    max_repeats: int | None = None,
) -> dict[str, Any]:
    """Measure the activations ``names`` (default: the whole catalog); returns the results as a dict.

    ``repeats`` is the number of rounds: in each round every implementation and pass of one activation —
    and ReLU's own implementation, the reference of the ``vs_relu`` ratios — runs once, in a random order.
    With ``max_repeats``, rounds are added (up to that many) until the interval of every ratio to ReLU is
    within ±:data:`PRECISION` of it: a noisy measurement gets more rounds, a steady one no more than needed.
    ``impls="own"`` measures actlab's own implementations only (no peers); ``passes`` chooses the passes.
    ``progress(i, total, label)`` is called as the measurement advances.  The PyTorch backend is
    skipped, with a note, when PyTorch is not installed, and the JAX backend beside others when JAX is not
    (alone: :class:`BenchError`); an activation the JAX backend does not serve is noted.
    """
    names, backends = _check(names, backends, dtype, size, threads, repeats)
    if max_repeats is None:
        max_repeats = repeats
    if isinstance(max_repeats, bool) or not isinstance(max_repeats, int) or max_repeats < repeats:
        raise BenchError(f"max_repeats must be an integer of at least repeats ({repeats}); got {max_repeats!r}")
    passes = _check_passes(passes)
    if impls not in IMPLS:
        raise BenchError(f"impls must be one of {', '.join(IMPLS)}; got {impls!r}")
    notes: list[str] = []
    if "torch" in backends and not _importable("torch"):
        backends.remove("torch")
        notes.append("torch is not installed: the torch backend was skipped")
    if "jax" in backends and (why := _jax_unavailable(dtype)):
        backends.remove("jax")
        notes.append(f"the jax backend was skipped: {why}")
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
    bw_repeats = max(5, min(repeats, 15))
    clock_name, now = clock(threads)
    _copy_bandwidth(x, copy_dst, 1, now)
    start = statistics.median(_copy_bandwidth(x, copy_dst, bw_repeats, now))
    order_rng = np.random.default_rng(1)
    jax_clock_name, jax_now = clock(threads, "jax")
    on_device: dict[int, Any] = {}  # each input array copied to the JAX device once, shared by every case

    def device(a: np.ndarray) -> Any:
        if id(a) not in on_device:
            import jax

            on_device[id(a)] = jax.device_put(a)
        return on_device[id(a)]

    def cases_for(name: str, g: np.ndarray, own_only: bool) -> list[Case]:
        cases: list[Case] = []
        if "numpy" in backends:
            cases += _numpy_cases(name, x, g, threads)
        if "torch" in backends:
            cases += _torch_cases(name, x, g)
        if "jax" in backends:
            try:
                cases += _jax_cases(name, device(x), device(g), jax_now)
            except ActlabError as exc:  # a kind the JAX backend does not serve
                notes.append(f"{name} was not measured in JAX: {exc}")
        return [c for c in cases if c.pass_ in passes and (not own_only or c.impl == OWN_IMPL[c.backend])]

    # ReLU's own implementations: timed again in every activation's rounds, the reference of its ratios
    relu_g = rng.standard_normal(x.shape, dtype=np.dtype(dtype).type)
    references = {(c.backend, c.pass_): c for c in cases_for("relu", relu_g, True)}

    rows: list[dict[str, Any]] = []
    spreads: list[float] = []
    total = len(names) * (max_repeats + 1)
    step = 0.0
    _keep_freed_memory()
    gc_was_enabled = gc.isenabled()
    try:
        if "torch" in backends:  # compile every kernel first: no compiler work left running beside the timings
            from .torch._ops import compiling_expected

            with compiling_expected():  # the bar says "compiling": no log line about it
                for name in names:
                    if progress is not None:
                        progress(0, total, f"{name} compiling")
                    spec = registry.spec(name)
                    g0 = np.ones(spec.out_shape(x.shape, spec.defaults()), dtype=x.dtype)
                    for c in _torch_cases(name, x, g0):
                        if c.pass_ in passes and (impls == "all" or c.impl == OWN_IMPL["torch"]):
                            try:
                                c.fn()
                            except Exception:  # noted when the case is measured
                                pass
                    del g0
        # the blocks of rounds: (name, case) entries, and the entries timed only as the reference
        blocks: list[tuple[list[tuple[str, Case]], list[Case]]] = []
        g_of: dict[tuple[int, ...], np.ndarray] = {}  # one output gradient per shape, shared

        def g_for(name: str) -> np.ndarray:
            spec = registry.spec(name)
            shape = tuple(spec.out_shape(x.shape, spec.defaults()))
            if shape not in g_of:
                g_of[shape] = rng.standard_normal(shape, dtype=np.dtype(dtype).type)
            return g_of[shape]

        if impls == "own":
            # actlab's own implementations only: one block per backend holding every activation, so that each
            # one's neighbours in a round are drawn at random from the whole catalog, ReLU included, and what a
            # costly neighbour leaves behind (caches, the heap) falls on ReLU as often as on anyone; ReLU is
            # timed as the reference when it is not among the names
            every = [(n, c) for n in names for c in cases_for(n, g_for(n), True)]
            extra = [] if "relu" in names else list(references.values())
            blocks += [
                ([(n, c) for n, c in every if c.backend == b], [c for c in extra if c.backend == b]) for b in backends
            ]
            del every
        else:  # one block per activation, ReLU's own implementations timed beside it
            for name in names:
                entries = [(name, c) for c in cases_for(name, g_for(name), False)]
                wanted = {(c.backend, c.pass_) for _, c in entries}
                refs = [] if name == "relu" else [c for k, c in references.items() if k in wanted]
                blocks.append((entries, refs))
        for block, (entries, refs) in enumerate(blocks):
            label = entries[0][0] if impls == "all" and entries else f"{entries[0][1].backend if entries else ''}"
            if progress is not None:
                progress(int(step), total, f"{label} warm-up")
            live: list[tuple[str, Case]] = []
            for name, c in entries + [("relu", c) for c in refs]:  # warm-up; a peer that fails is left out
                try:
                    c.fn()
                    live.append((name, c))
                except Exception as exc:  # a peer's own failure is noted, not raised
                    notes.append(f"{name} {c.backend}/{c.impl}/{c.pass_} skipped: {type(exc).__name__}: {exc}")
            ref_ids = {id(c) for c in refs}
            # the reference of each (backend, pass): ReLU's own implementation in this block
            reference = [
                c for n, c in live if n == "relu" and c.impl == OWN_IMPL[c.backend] and (id(c) in ref_ids or not refs)
            ]
            gc.collect()
            gc.disable()  # no collection of someone else's garbage inside a timing
            try:
                times = _rounds([c for _, c in live], reference, repeats, max_repeats, now, order_rng)
            finally:
                if gc_was_enabled:
                    gc.enable()
            step += (max_repeats + 1) * len(names) / len(blocks)
            if progress is not None:
                progress(int(step), total, label)
            ref_times = {
                (c.backend, c.pass_): [max(float(f"{t:.6g}"), 1e-9) for t in ts]
                for (_, c), ts in zip(live, times)
                if any(c is r for r in reference)
            }
            for (name, c), ts in zip(live, times):
                if id(c) in ref_ids:
                    continue
                ts = [max(float(f"{t:.6g}"), 1e-9) for t in ts]  # 6 digits: far finer than the noise
                med = statistics.median(ts)
                gbs = c.bytes / med / 1e9
                row: dict[str, Any] = {
                    "name": name,
                    "backend": c.backend,
                    "impl": c.impl,
                    "pass": c.pass_,
                    "median_s": med,
                    "min_s": min(ts),
                    "max_s": max(ts),
                    "elements_per_s": x.size / med,
                    "gbs": gbs,
                    "fraction_of_bandwidth": gbs / (copy_bytes / start / 1e9),
                    "block": block,
                    "times_s": ts,
                }
                ref = ref_times.get((c.backend, c.pass_))
                if c.impl == OWN_IMPL[c.backend] and name != "relu" and ref is not None:
                    row["relu_s"] = ref
                    row["vs_relu"] = paired_ratio(ts, ref).as_dict()
                rows.append(row)
                if len(ts) >= 4:
                    q1, _, q3 = statistics.quantiles(ts, n=4)
                    spreads.append(q3 / q1)
            del live
    finally:
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)
    if progress is not None:
        progress(total, total, "done")

    end = statistics.median(_copy_bandwidth(x, copy_dst, bw_repeats, now))
    gbs_start, gbs_end = copy_bytes / start / 1e9, copy_bytes / end / 1e9
    if min(gbs_start, gbs_end) < (1 - BUSY_DROP) * max(gbs_start, gbs_end):
        change = "fell" if gbs_end < gbs_start else "rose"
        reasons.append(f"copy bandwidth {change} from {gbs_start:.1f} to {gbs_end:.1f} GB/s during the run")
    if spreads and statistics.median(spreads) > BUSY_SPREAD:
        reasons.append(f"rounds spread by a median factor {statistics.median(spreads):.2f} (upper/lower quartile)")

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
            "max_repeats": max_repeats,
            "precision": PRECISION,
            "backends": backends,
            "names": names,
            "impls": impls,
            "passes": list(passes),
            "confidence": CONFIDENCE,
            "clock": clock_name,
            **({"clock_jax": jax_clock_name} if "jax" in backends else {}),
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
    """Write ``result`` as JSON atomically (:func:`actlab._io.write_text`: a temporary file in the same folder,
    flushed, given the umask's mode, then ``os.replace``); the folder must exist."""
    write_text(path, to_json(result))


def to_json(result: dict[str, Any]) -> str:
    """The text of a results file (strict JSON: a result holds no inf or NaN)."""
    return json.dumps(result, indent=2, allow_nan=False) + "\n"


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
    if isinstance(data, dict) and data.get("schema") in OLD_SCHEMAS:
        raise BenchError(
            f"{path} was written by an earlier actlab bench (schema {data['schema']!r}, no per-round times); "
            f"measure again: `actlab bench --quick --json {path}`"
        )
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise BenchError(f"{path} is not an actlab benchmark file (schema {found!r}, expected {SCHEMA!r})")
    keys = ("config", "bandwidth", "rows", "machine")
    if any(k not in data for k in keys) or not isinstance(data["rows"], list):
        raise BenchError(f"{path} is an incomplete actlab benchmark file (needs {', '.join(keys)})")
    return data


# --- summaries -------------------------------------------------------------------------------


def _rows(result: dict[str, Any], backend: str, pass_: str, impl: str) -> dict[str, dict[str, Any]]:
    return {
        r["name"]: r for r in result["rows"] if r["backend"] == backend and r["pass"] == pass_ and r["impl"] == impl
    }


def ratio_of(a: dict[str, Any], b: dict[str, Any]) -> Ratio:
    """Row ``a``'s time over row ``b``'s: paired round by round when they were measured in the same rounds
    (the same block), else the ratio of their medians, without an interval."""
    ta, tb = a.get("times_s"), b.get("times_s")
    same = a.get("block", a["name"]) == b.get("block", b["name"])  # measured in the same rounds
    if same and ta and tb and len(ta) == len(tb):
        return paired_ratio(ta, tb)
    return Ratio(a["median_s"] / b["median_s"])


def speed_vs_relu(
    result: dict[str, Any], backend: str = "numpy", pass_: str = "forward_backward", impl: str | None = None
) -> dict[str, Ratio]:
    """Time of each activation over relu's, for one implementation (actlab's own by default): the
    :class:`Ratio` measured against ReLU in the same rounds where the run paired them (``vs_relu``),
    else the ratio of the medians.  ReLU's own entry is exactly 1, with no interval."""
    impl = impl or OWN_IMPL.get(backend)
    if impl is None:
        raise BenchError(f"unknown backend {backend!r}")
    rows = _rows(result, backend, pass_, impl)
    paired = any(isinstance(r.get("vs_relu"), dict) for r in rows.values())
    if "relu" not in rows and not paired:
        raise BenchError(f"relu was not measured for {backend}/{impl}/{pass_}: nothing to compare against")
    relu = rows["relu"]["median_s"] if "relu" in rows else None
    out: dict[str, Ratio] = {}
    for name, r in rows.items():
        if name == "relu":
            out[name] = Ratio(1.0)
        elif isinstance(r.get("vs_relu"), dict):
            out[name] = Ratio.from_dict(r["vs_relu"])
        elif relu is not None:
            out[name] = Ratio(r["median_s"] / relu)
    return out


def _geomean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def format_tables(result: dict[str, Any]) -> str:
    """The human-readable report: per backend and pass, actlab's time, its share of the bandwidth, its time
    over ReLU's and over each peer's (below 1: actlab is faster), each the median of the per-round ratios with
    its confidence interval (``≈ 1`` where the interval holds 1); a geomean line per column."""
    bw = result["bandwidth"]
    cfg = result["config"]
    lines = [
        f"size {cfg['size']:,} {cfg['dtype']}, {_rounds_text(cfg)} rounds, {cfg['threads']} thread(s); "
        f"streaming copy {bw['gbs']:.1f} GB/s (end of run {bw['gbs_end']:.1f})",
        "ratios: actlab time / other time (below 1: actlab is faster), the median of rounds run side by side",
        f"± the farther end of its {100 * cfg.get('confidence', CONFIDENCE):.0f}% interval; ≈ 1 where it holds 1",
    ]
    if "clock_jax" in cfg and cfg["clock_jax"] != cfg.get("clock"):
        lines.append(f"jax: XLA computes on threads of its own; its clock is {cfg['clock_jax']}, the wall time")
    if result.get("busy"):
        lines.append("warning: the machine was busy, timings are noisy:")
        lines += [f"  {reason}" for reason in str(result["busy_reason"]).split("; ")]
    shown: set[str] = set()
    for backend in cfg["backends"]:
        own = OWN_IMPL[backend]
        present = {r["impl"] for r in result["rows"] if r["backend"] == backend}
        peers = [p for p in PEERS[backend] if p in present]
        for pass_ in PASSES:
            mine = _rows(result, backend, pass_, own)
            if not mine:
                continue
            # ReLU is timed in the same rounds as every entry, listed or not (``vs_relu``)
            has_reference = "relu" in mine or any(isinstance(r.get("vs_relu"), dict) for r in mine.values())
            vs_relu = speed_vs_relu(result, backend, pass_) if has_reference else {}
            # (label, numerator rows or None for actlab's own, denominator rows) for each peer column
            ratio_cols = [(f"/{p}", None, _rows(result, backend, pass_, p)) for p in peers]
            if backend == "numpy":
                for mine_impl, other_backend, other_impl in CROSS:
                    num = _rows(result, "numpy", pass_, mine_impl)
                    den = _rows(result, other_backend, pass_, other_impl)
                    if num and den:
                        short = mine_impl.replace("actlab_", "").replace("actlab", "")
                        other = "torch" if other_impl == "torch_eager" else other_impl
                        ratio_cols.append((f"{short}/{other}", num, den))
            ratio_cols = [c for c in ratio_cols if c[2]]
            cols = (["/relu"] if vs_relu else []) + [c[0] for c in ratio_cols]
            header = ["activation", f"{own} ms", "% copy bw", *cols]
            body = []
            ratios: dict[str, list[float]] = {c: [] for c in cols}
            for name, r in mine.items():
                cells = [name, f"{r['median_s'] * 1e3:.2f}", percent_of_bandwidth(r["fraction_of_bandwidth"])]
                if vs_relu and name in vs_relu:
                    ratios["/relu"].append(vs_relu[name])
                    cells.append(vs_relu[name].text(spread="percent", unit=""))
                elif vs_relu:
                    cells.append("-")
                for label, num, den in ratio_cols:
                    a = r if num is None else num.get(name)
                    b = den.get(name)
                    if a is None or b is None:
                        cells.append("-")
                    else:
                        ratio = ratio_of(a, b)
                        ratios[label].append(ratio)
                        cells.append(ratio.text(spread="percent", unit=""))
                body.append(cells)
            geo = ["geomean", "", ""] + [
                f"{_geomean(ratios[p]):.2f} ({len(ratios[p])})" if ratios[p] else "-" for p in cols
            ]
            lines += ["", f"{backend} — {pass_.replace('_', ' ')}", _table(body + [geo], header)]
            shown.update(header[1:])
    return "\n".join([*lines, "", *legend(shown)])


IMPL_TEXT = {
    "actlab": "actlab's NumPy backend, act(x)",
    "actlab_out": "act(x, out=buf)",
    "actlab_fast": "act(x, out=buf, fast=True)",
    "actlab_torch": "actlab.torch's module",
    "textbook": "the textbook formula typed in NumPy",
    "scipy": "scipy.special",
    "numexpr": "numexpr",
    "actlab_jax": "actlab.jax.get(name) under jax.jit",
    "jax_nn": "jax.nn under jax.jit; gelu: approximate=False, the exact form",
    "torch_eager": "PyTorch's own function",
    "torch_out": "PyTorch's ATen kernel into a given output",
    "torch": "PyTorch's kernel",
}
"""A few words on each implementation, for the legend of the console tables."""


def percent_of_bandwidth(fraction: float) -> str:
    """The share of the copy bandwidth, in percent, to two significant digits: ``"17"``, ``"1.3"``, ``"0.34"``
    (an exact activation that is compute-bound streams well under 1 %; rounded to an integer it read 0);
    ``"<0.01"`` below that."""
    pct = 100 * fraction
    if pct < 0.01:
        return "<0.01"
    return f"{pct:.0f}" if pct >= 10 else f"{pct:.2g}"


def legend(columns: set[str] | Sequence[str]) -> list[str]:
    """One line per column of the console tables that is shown: what it holds."""
    out = ["columns:"]
    for col in sorted(columns, key=lambda c: (not c.endswith(" ms"), c != "% copy bw", c != "/relu", c)):
        if col.endswith(" ms"):
            impl = col.removesuffix(" ms")
            text = f"median time of one call on the whole array ({IMPL_TEXT.get(impl, impl)}), in milliseconds"
        elif col == "% copy bw":
            text = "the bytes the pass must move, per second, as a percentage of the streaming copy's (100: copy speed)"
        elif col == "/relu":
            text = "the activation's time over ReLU's, timed in the same rounds (2.00: twice ReLU's time)"
        elif col.startswith("/"):
            peer = col[1:]
            text = f"actlab's time over {peer}'s ({IMPL_TEXT.get(peer, peer)}); below 1: actlab is faster"
        else:
            mine, _, other = col.partition("/")
            mine_text = IMPL_TEXT.get(f"actlab_{mine}" if mine else "actlab", mine)
            text = f"the time of {mine_text} over that of {IMPL_TEXT.get(other, other)}; below 1: actlab is faster"
        out.append(f"  {col}: {text}")
    out.append("  geomean: the geometric mean of the column (over how many rows); ≈ 1: the interval holds 1")
    return out


def _rounds_text(cfg: dict[str, Any]) -> str:
    lo, hi = cfg["repeats"], cfg.get("max_repeats", cfg["repeats"])
    return f"{lo} to {hi}" if hi > lo else str(lo)


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    from ._text import table

    return table(rows, header, right=range(1, len(header)))


# --- the command -----------------------------------------------------------------------------


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``actlab bench`` to the subcommands ``sub`` of the actlab command line."""
    p = sub.add_parser(
        "bench",
        help="speed of each activation against PyTorch, JAX, NumPy and SciPy, as a share of the memory bandwidth",
        description="Measure forward, derivative and forward+backward speed of activations, side by side with "
        "their peers, as elements/s, GB/s and a fraction of the streaming copy bandwidth measured in the same run.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="activations (default: all)")
    p.add_argument(
        "--backend",
        choices=[*BACKENDS, "all"],
        default="all",
        help="default: all (jax: actlab.jax beside jax.nn under jax.jit; needs pip install 'actlab[jax]')",
    )
    p.add_argument("--dtype", choices=list(DTYPES), default="float32", help="default: float32")
    p.add_argument("--size", type=int, help=f"elements per array, a multiple of {ROW} (default {DEFAULT_SIZE})")
    p.add_argument("--threads", type=int, default=1, help="threads for PyTorch (and actlab, if it takes them)")
    p.add_argument(
        "--repeats",
        type=int,
        help=f"rounds: each times every implementation once, in a random order (default {DEFAULT_REPEATS})",
    )
    p.add_argument(
        "--max-repeats",
        type=int,
        help=f"add rounds, up to this many, until every ratio to ReLU is known within ±{100 * PRECISION:.0f}%% "
        "(default: --repeats; with --quick, " + str(QUICK["max_repeats"]) + ")",
    )
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE ('-': print JSON instead)")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"what actlab table and the report measure: size {QUICK['size']}, {QUICK['repeats']} rounds (unless "
        "given), actlab's own implementations against ReLU, forward + backward (--peers: all and every pass)",
    )
    p.add_argument("--peers", action="store_true", help="with --quick: measure the peers and every pass too")
    p.set_defaults(run=_command)
    return p


def _command(args: argparse.Namespace) -> int:
    size = args.size if args.size is not None else (QUICK["size"] if args.quick else DEFAULT_SIZE)
    repeats = args.repeats if args.repeats is not None else (QUICK["repeats"] if args.quick else DEFAULT_REPEATS)
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    to_stdout = args.json == "-"
    _check(args.names, backends, args.dtype, size, args.threads, repeats)  # fail before any work
    if args.json and not to_stdout:
        check_file(args.json, "--json")  # the run takes minutes: know now that its file can be written
    own_only = args.quick and not args.peers
    max_repeats = args.max_repeats
    if max_repeats is None and args.quick:
        max_repeats = max(QUICK["max_repeats"], repeats)
    from ._progress import bar, reporter

    with bar(1, "bench") as b:  # its total is set by the first report
        result = run(
            names=args.names or None,
            backends=backends,
            dtype=args.dtype,
            size=size,
            threads=args.threads,
            repeats=repeats,
            progress=reporter(b, "bench "),
            impls=QUICK["impls"] if own_only else "all",
            passes=QUICK["passes"] if own_only else PASSES,
            max_repeats=max_repeats,
        )
    for note in result.get("notes", []):
        print(f"actlab: note: {note}", file=sys.stderr)
    if result["busy"]:
        print(f"actlab: warning: the machine was busy ({result['busy_reason']}); timings are noisy", file=sys.stderr)
    if to_stdout:
        print(json.dumps(result, indent=2, allow_nan=False))
        return 0
    print(format_tables(result))
    if args.json:  # a write that fails after all keeps the results elsewhere and says where
        write_text_or_elsewhere(args.json, to_json(result), "actlab-bench", "the results")
        print(f"\nwrote {args.json}")
    return 0
