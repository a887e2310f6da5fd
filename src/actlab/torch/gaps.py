"""Where PyTorch's native kernels differ from the exact reference: measured, per entry and dtype.

``actlab.torch`` runs PyTorch's own kernel for the catalog entries that have one
(:data:`actlab.torch.native.NATIVE`) unless ``exact=True``.  :func:`gaps` evaluates that
kernel as a user gets it — the value, and the derivative through autograd — in
float16, float32 and float64, and compares it with the NumPy reference
(``actlab.get(name)``) on the points of :func:`actlab.accuracy.grid`:

* at x = −∞, +∞ and NaN: NaN where the limit is a number, a number where NaN is due
  (f′(NaN)), or another limit;
* at finite x: ±inf or NaN where the exact value is finite;
* underflow: the smallest |x| on each side from which the native value or derivative is 0
  while the exact one, rounded to the dtype, is not (σ′ computed as s(1 − s) once s
  rounds to 1), located to 1/4096 of a grid step;
* the largest remaining error in ulp of the exact value in the dtype, and where, when
  it exceeds the accuracy the catalog states for the entry (what the NumPy reference meets).

The reference is the NumPy backend in float64, not the mpmath oracle (which takes
seconds per entry): for float16 and float32 it is exact to far below an ulp of the
dtype; in float64 it is itself within ``b · max(1, κ)`` ulp of the truth (``b`` the
entry's stated bound, κ the condition number, estimated from the reference), so a
float64 error is reported only beyond ``2 b · max(1, κ)`` ulp, where the native kernel
is certainly outside the bound.  Narrow dtypes are held to the catalog's 1 ulp.

Vector kinds (softmax, log_softmax, glu) are measured on rows: the value and the
vector-Jacobian product at rows holding ±inf or NaN, and the value's error in ulp on
:func:`actlab.accuracy.vector_cases`.

Every result is cached: the table, the report and ``actlab show`` ask for each entry.

    >>> from actlab.torch.gaps import gaps
    >>> g = gaps("gelu")
    >>> any(f.kind == "special" and f.x == float("inf") for f in g.findings)
    True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..accuracy import FLOAT64_ULPS, NARROW_ULPS, grid, vector_cases
from ..catalog.spec import AlongAxis, Elementwise, Gated, Params
from ..numpy import Activation, get
from .native import NATIVE, Native

DTYPES = ("float16", "float32", "float64")
SPECIAL = (-math.inf, math.inf, math.nan)
REFINE = 4096
"""An underflow found between two grid points is located on this many steps between them."""

_TORCH = {"float16": torch.float16, "float32": torch.float32, "float64": torch.float64}
_MANTISSA = {"float16": (11, -14), "float32": (24, -126), "float64": (53, -1022)}
_KAPPA_STEP = 2.0**-20
_ROWS: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("a row of all −∞", (-math.inf, -math.inf, -math.inf, -math.inf)),
    ("a row with one +∞", (math.inf, 0.0, 1.0, -1.0)),
    ("a row with one −∞", (-math.inf, 0.0, 1.0, -1.0)),
    ("a row with one NaN", (math.nan, 0.0, 1.0, -1.0)),
)
_COTANGENT = (1.0, -0.5, 0.25, 2.0)


@dataclass(frozen=True)
class Finding:
    """One measured difference between the native kernel and the exact reference.

    ``kind`` is ``"special"`` (at ±inf or NaN, or on a row holding them), ``"nonfinite"``
    (inf or NaN at a finite input), ``"underflow"`` (0 where the exact value is not) or
    ``"error"`` (the largest error beyond the catalog's stated bound).  ``what`` is ``"f"`` or
    ``"f′"`` (for vector kinds ``"vjp"``, the gradient of ``sum(g · f(x))``).  ``ulp`` is
    the error in ulp of the exact value in ``dtype`` (inf where either side is not finite).
    """

    name: str
    dtype: str
    what: str
    kind: str
    x: float
    got: float
    exact: float
    ulp: float
    statement: str  # what was found, without the dtype
    extent: str = ""  # underflow: "onward" (0 from x to the end of the range), "inward" (0 from x to 0), "points"
    row: str = ""  # vector kinds: which row

    @property
    def text(self) -> str:
        """One line for a reader, e.g. ``f′ = 0 from x ≈ 16.64 on, where the exact f′ ≈ 6e−08 (float32)``."""
        return f"{self.statement} ({self.dtype})"


@dataclass(frozen=True)
class Gaps:
    """Everything measured for one entry's native kernel: the findings and the worst errors."""

    name: str
    params: tuple[tuple[str, Any], ...]
    findings: tuple[Finding, ...]
    worst: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    """(dtype, what) -> (largest error in ulp at finite inputs, where), every point included."""
    dtypes: tuple[str, ...] = DTYPES
    skipped: tuple[str, ...] = ()
    """Dtypes the native kernel does not run in (on this machine), with the reason."""

    @property
    def same(self) -> bool:
        """No difference found: the native kernel is as exact as the reference on every point tried."""
        return not self.findings

    def lines(self) -> list[str]:
        """The findings as lines, one per statement, with the dtypes it holds in."""
        grouped: dict[str, list[str]] = {}
        for f in self.findings:
            grouped.setdefault(f.statement, []).append(f.dtype)
        lines = [(s, d) for s, d in grouped.items()]
        # what holds in every dtype first, then float32 (what networks train in), float64, float16
        rank = {"float32": 0, "float64": 1, "float16": 2}
        lines.sort(key=lambda sd: (-len(sd[1]), min(rank[d] for d in sd[1])))
        return [f"{s} ({', '.join(d)})" for s, d in lines]

    def summary(self) -> str:
        """A few words for the catalog table: the kinds of difference, or that there is none."""
        if self.same:
            return "same as exact"
        parts: list[str] = []

        def add(text: str) -> None:
            text = text.replace("-", "−")
            if text not in parts:
                parts.append(text)

        nan_at = {f.x for f in self.findings if f.kind == "special" and math.isnan(f.got) and not f.row}
        ends = sorted(x for x in nan_at if not math.isnan(x))
        if ends:
            add(f"NaN at {'±∞' if len(ends) == 2 else _inf(ends[0])}")
        for f in self.findings:
            if f.kind == "special" and f.row:
                add(f"NaN on {f.row}" if math.isnan(f.got) else f"{f.what} wrong on {f.row}")
            elif f.kind == "special" and math.isnan(f.x):
                add(f"{f.what}(NaN) = {_num(f.got)}")
            elif f.kind == "special" and not math.isnan(f.got):
                add(f"{f.what}({_inf(f.x)}) = {_num(f.got, f.exact)}")
        for what in ("f", "f′", "vjp"):
            over = [f for f in self.findings if f.kind == "nonfinite" and f.what == what]
            if over:
                pick = _prefer(over)
                add(f"{what} = {_num(pick.got)} at x ≈ {pick.x:.2g} ({pick.dtype})")
            under = [f for f in self.findings if f.kind == "underflow" and f.what == what]
            normal = [f for f in under if abs(f.exact) >= float(np.finfo(f.dtype).tiny)]
            if normal:
                pick = _prefer(normal)
                mirrored = any(f.dtype == pick.dtype and f.x == -pick.x and f.extent == pick.extent for f in normal)
                at = f"|x| ≈ {abs(pick.x):.3g}" if mirrored else f"x ≈ {pick.x:.3g}"
                if pick.extent == "onward":
                    span = f"from {at}"
                elif pick.extent == "inward" and mirrored:
                    span = f"near 0 (|x| ≤ {abs(pick.x):.3g})"
                elif pick.extent == "inward":
                    span = f"near 0 ({f'0 < x ≤ {pick.x:.3g}' if pick.x > 0 else f'{pick.x:.3g} ≤ x < 0'})"
                else:
                    span = f"at points from {at}"
                add(f"{what} = 0 {span} ({pick.dtype})")
            elif under:
                add(f"{what}: subnormals → 0 ({_prefer(under).dtype})")
            errors = [f for f in self.findings if f.kind == "error" and f.what == what]
            if errors:
                pick = _prefer(errors)
                add(f"{what} off by {pick.ulp:.2g} ulp ({pick.dtype})")
        return "; ".join(parts)


def _prefer(found: Sequence[Finding]) -> Finding:
    """The finding to name in a few words: float32 first (what networks train in), then float64, float16;
    nearest to 0 among those."""
    order = {"float32": 0, "float64": 1, "float16": 2}
    return min(found, key=lambda f: (order[f.dtype], abs(f.x) if math.isfinite(f.x) else math.inf))


def _inf(x: float) -> str:
    return "NaN" if math.isnan(x) else ("+∞" if x > 0 else "−∞") if math.isinf(x) else f"{x:.4g}"


def _num(v: float, other: float | None = None, digits: int = 4) -> str:
    """``v`` in a few digits; as many more as it takes to tell it from ``other``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "−inf"
    text = f"{v:.{digits}g}"
    if other is not None and v != other and math.isfinite(other):
        while digits < 17 and text == f"{other:.{digits}g}":
            digits += 1
            text = f"{v:.{digits}g}"
    return ("0" if text == "-0" else text).replace("-", "−")


def _ulp(ref: np.ndarray, dtype: str) -> np.ndarray:
    """The unit in the last place of the true values ``ref`` (float64) in ``dtype``, subnormal spacing at least."""
    digits, emin = _MANTISSA[dtype]
    r = np.abs(ref)
    e = np.where((r > 0) & np.isfinite(r), np.frexp(r)[1] - 1, emin)
    return np.ldexp(1.0, np.maximum(e, emin) - (digits - 1))


def _ulp_errors(got: np.ndarray, ref: np.ndarray, dtype: str) -> np.ndarray:
    """|got − ref| in ulp of ``ref`` in ``dtype``: 0 where ``got`` is ``ref`` correctly rounded (NaN for NaN
    included), inf where one of them is not finite and the other differs."""
    with np.errstate(all="ignore"):
        rounded = ref.astype(dtype).astype(np.float64)
        err = np.abs(got - ref) / _ulp(ref, dtype)
    same = (got == rounded) | (np.isnan(got) & np.isnan(rounded))
    err = np.where(np.isfinite(got) & np.isfinite(rounded), err, np.inf)
    return np.where(same, 0.0, err)


def _native(
    row: Native, p: Params, x: np.ndarray, dtype: str, cotangent: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The native value and what autograd gives for the input's gradient (ones as the cotangent unless given),
    both as float64 arrays."""
    xt = torch.tensor(np.ascontiguousarray(x), dtype=_TORCH[dtype], requires_grad=True)
    y = row.fn(xt, p)
    g = torch.ones_like(y) if cotangent is None else torch.tensor(cotangent[: y.shape[-1]], dtype=y.dtype)
    (d,) = torch.autograd.grad(y, xt, g)
    return y.detach().double().numpy(), d.double().numpy()


def _kappa(ref_fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, value: np.ndarray) -> np.ndarray:
    """κ = |x g′(x) / g(x)| of the reference ``g``, by a one-sided quotient toward 0 (inf where g = 0)."""
    with np.errstate(all="ignore"):
        inner = ref_fn(x * (1.0 - _KAPPA_STEP))
        kappa = np.abs(value - inner) / (_KAPPA_STEP * np.abs(value))
    kappa = np.where(value == 0, np.inf, kappa)
    return np.where((x == 0) | np.isnan(kappa), 1.0, kappa)


def _bound(act: Activation, what: str, dtype: str) -> float:
    """The error in ulp (× max(1, κ) in float64) beyond which the native kernel is certainly outside the bound the
    catalog states: that bound, doubled in float64 for the reference's own error."""
    if dtype != "float64":
        return NARROW_ULPS
    spec = act.spec
    if isinstance(spec, Gated):
        spec = spec._gate()[0]
    stated = getattr(spec, "float64_ulps", {}).get("f" if what == "f" else "f'", FLOAT64_ULPS)
    return 2.0 * float(stated)


def _elementwise(act: Activation, row: Native, dtype: str) -> tuple[list[Finding], dict[Any, Any]]:
    p = act.bound
    found: list[Finding] = []
    refs: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "f": lambda t: np.asarray(act(t), dtype=np.float64),
        "f′": lambda t: np.asarray(act.derivative(t), dtype=np.float64),
    }

    # ±inf and NaN
    xs = np.array(SPECIAL)
    got = dict(zip(refs, _native(row, p, xs.astype(dtype), dtype)))
    for what, ref_fn in refs.items():
        exact = ref_fn(xs)
        err = _ulp_errors(got[what], exact, dtype)
        for x, g, e, u in zip(SPECIAL, got[what], exact, err):
            if u <= _bound(act, what, dtype):
                continue
            e = float(np.float64(e).astype(dtype))  # the limit as the dtype holds it
            if math.isnan(e):
                statement = f"{what}({_inf(x)}) = {_num(g)}, not NaN"
            elif math.isnan(g):
                statement = f"{what}({_inf(x)}) = NaN, not {_num(e)} (its limit)"
            else:
                statement = f"{what}({_inf(x)}) = {_num(g, e)}, not {_num(e, g)}"
            found.append(Finding(act.name, dtype, what, "special", x, float(g), e, float(u), statement))

    # the finite grid
    x = grid(dtype).astype(np.float64)
    values = dict(zip(refs, _native(row, p, x.astype(dtype), dtype)))
    worst: dict[Any, Any] = {}
    for what, ref_fn in refs.items():
        g = values[what]
        ref = ref_fn(x)
        err = _ulp_errors(g, ref, dtype)
        i = int(np.argmax(err))
        worst[(dtype, what)] = (float(err[i]), float(x[i]))
        limit = _bound(act, what, dtype)
        with np.errstate(over="ignore"):
            rounded = ref.astype(dtype)
        nonfinite = ~np.isfinite(g) & np.isfinite(rounded)
        if nonfinite.any():
            j = int(np.flatnonzero(nonfinite)[np.argmin(np.abs(x[nonfinite]))])
            more = int(nonfinite.sum()) - 1
            found.append(
                Finding(
                    act.name,
                    dtype,
                    what,
                    "nonfinite",
                    float(x[j]),
                    float(g[j]),
                    float(ref[j]),
                    math.inf,
                    f"{what} = {_num(float(g[j]))} at x = {_num(float(x[j]))}"
                    + (f" and {more} more grid point{'s' * (more > 1)}" if more else "")
                    + f", where the exact {what} = {_num(float(ref[j]))}",
                )
            )
        zero = (g == 0) & (err > limit) & ~nonfinite
        for side in (-1.0, 1.0):
            found += _underflow(act, row, what, dtype, x, g, ref, zero, side)
        scaled = np.where(nonfinite | zero, 0.0, err)
        if dtype == "float64":
            scaled = scaled / np.maximum(1.0, _kappa(ref_fn, x, ref))
        j = int(np.argmax(scaled))
        if scaled[j] > limit:
            found.append(
                Finding(
                    act.name,
                    dtype,
                    what,
                    "error",
                    float(x[j]),
                    float(g[j]),
                    float(ref[j]),
                    float(err[j]),
                    f"{what} off by {err[j]:.2g} ulp at x = {_num(float(x[j]))}"
                    f" ({_num(float(g[j]), float(ref[j]))}, exact {_num(float(ref[j]), float(g[j]))})",
                )
            )
    return found, worst


def _underflow(
    act: Activation,
    row: Native,
    what: str,
    dtype: str,
    x: np.ndarray,
    g: np.ndarray,
    ref: np.ndarray,
    zero: np.ndarray,
    side: float,
) -> list[Finding]:
    """0 where the exact value is not, on one side of 0: from some x on (the far tail), up to some x (a
    cancellation near 0), or at scattered points."""
    on_side = np.sign(x) == side
    bad = np.flatnonzero(zero & on_side)
    if not bad.size:
        return []
    tiny = float(np.finfo(dtype).tiny)
    near, far = bad[np.argmin(np.abs(x[bad]))], bad[np.argmax(np.abs(x[bad]))]
    with np.errstate(over="ignore"):
        farther = on_side & (np.abs(x) >= abs(x[near])) & (ref.astype(dtype) != 0) & np.isfinite(g)
    nearer = on_side & (np.abs(x) <= abs(x[far]))
    limit = _bound(act, what, dtype)
    if np.all(g[farther] == 0):  # (where it is inf or NaN instead is a finding of its own)
        at, exact = _edge(act, row, what, dtype, x, int(near), toward_zero=True, limit=limit)
        where, extent = f"from x ≈ {_num(at)} on", "onward"
    elif np.all(g[nearer] == 0):
        at, exact = _edge(act, row, what, dtype, x, int(far), toward_zero=False, limit=limit)
        where, extent = f"for {'0 < x ≤' if side > 0 else '0 > x ≥'} {_num(at)}", "inward"
    else:
        at, exact = float(x[near]), float(ref[near])
        where, extent = f"at {bad.size} grid points from x = {_num(at)}", "points"
    sub = " (subnormal)" if abs(exact) < tiny else ""
    return [
        Finding(
            act.name,
            dtype,
            what,
            "underflow",
            at,
            0.0,
            exact,
            math.inf,
            f"{what} = 0 {where}, where the exact {what} ≈ {_num(exact, 0.0, 2)}{sub}",
            extent=extent,
        )
    ]


def _edge(
    act: Activation, row: Native, what: str, dtype: str, x: np.ndarray, j: int, *, toward_zero: bool, limit: float
) -> tuple[float, float]:
    """Where the native ``what`` starts (or stops) being a wrong 0, between grid point ``j`` and its neighbour
    (toward 0, or away from it), on :data:`REFINE` steps: that x, and the exact value there."""
    step = (1 if x[j] < 0 else -1) * (1 if toward_zero else -1)
    k = j + step
    other = x[k] if 0 <= k < len(x) and np.sign(x[k]) == np.sign(x[j]) else (0.0 if toward_zero else x[j])
    with np.errstate(over="ignore"):
        xs = np.unique(np.linspace(other, x[j], REFINE + 1).astype(dtype)).astype(np.float64)
    xs = xs[np.argsort(np.abs(xs))]  # nearest to 0 first
    f, d = _native(row, act.bound, xs.astype(dtype), dtype)
    got = f if what == "f" else d
    ref = np.asarray(act(xs) if what == "f" else act.derivative(xs), dtype=np.float64)
    wrong = np.flatnonzero((got == 0) & (_ulp_errors(got, ref, dtype) > limit))
    if not wrong.size:
        return float(x[j]), float(ref[np.argmin(np.abs(xs - x[j]))])
    k = int(wrong[0] if toward_zero else wrong[-1])
    return float(xs[k]), float(ref[k])


def _vector_kappa(act: Activation, x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The condition number of each output of a vector kind (as :func:`actlab.accuracy.measure_vector` takes it)."""
    spec, n = act.spec, len(x)
    if isinstance(spec, AlongAxis):
        probs = np.exp(ref) if spec.name == "log_softmax" else ref
        eye = np.eye(n)
        kappa = np.abs(eye - probs[None, :]) @ np.abs(x) / act.bound.temperature
        if spec.name == "log_softmax":
            kappa = kappa / np.where(ref != 0, np.abs(ref), 1.0)
        return kappa + n
    if isinstance(spec, Gated):
        gate = Activation(*spec._gate())
        b = x[n // 2 :]
        return 1.0 + _kappa(lambda t: np.asarray(gate(t), dtype=np.float64), b, np.asarray(gate(b), dtype=np.float64))
    return np.ones_like(ref)


def _vector(act: Activation, row: Native, dtype: str) -> tuple[list[Finding], dict[Any, Any]]:
    p = act.bound
    found: list[Finding] = []
    cot = np.array(_COTANGENT)
    for label, values in _ROWS:
        x = np.array(values)
        y, v = _native(row, p, x.astype(dtype), dtype, cot)
        exact = {"f": np.asarray(act(x), dtype=np.float64)}
        exact["vjp"] = np.asarray(act.vjp(x, cot[: len(exact["f"])]), dtype=np.float64)
        for what, got in (("f", y), ("vjp", v)):
            e = exact[what].astype(dtype).astype(np.float64)
            pattern = np.isnan(got) != np.isnan(e)
            pattern |= np.isinf(got) != np.isinf(e)
            pattern |= np.isinf(got) & np.isinf(e) & (got != e)
            if not pattern.any():
                continue
            found.append(
                Finding(
                    act.name,
                    dtype,
                    what,
                    "special",
                    math.nan,
                    float(got[pattern][0]),
                    float(e[pattern][0]),
                    math.inf,
                    f"{what} on {label}: ({', '.join(_num(float(u)) for u in got)}), "
                    f"not ({', '.join(_num(float(u)) for u in e)})",
                    row=label,
                )
            )
    worst = (0.0, 0.0)
    worst_scaled: tuple[float, ...] = (0.0,)
    for case in vector_cases():
        with np.errstate(over="ignore"):
            x = case.astype(dtype).astype(np.float64)
        if not np.all(np.isfinite(x)):
            continue
        with torch.no_grad():
            got = row.fn(torch.tensor(x, dtype=_TORCH[dtype]), p).double().numpy()
        ref = np.asarray(act(x), dtype=np.float64)
        err = _ulp_errors(got, ref, dtype)
        scaled = err / _vector_kappa(act, x, ref) if dtype == "float64" else err
        i, k = int(np.argmax(err)), int(np.argmax(scaled))
        if err[i] > worst[0]:
            worst = float(err[i]), float(x[i])
        if scaled[k] > worst_scaled[0]:
            worst_scaled = float(scaled[k]), float(err[k]), float(x[k]), float(got[k]), float(ref[k])
    if worst_scaled[0] > _bound(act, "f", dtype):
        _, err_k, x_k, got_k, ref_k = worst_scaled
        found.append(
            Finding(
                act.name,
                dtype,
                "f",
                "error",
                x_k,
                got_k,
                ref_k,
                err_k,
                f"f off by {err_k:.2g} ulp on a test row ({_num(got_k, ref_k)} at x = {_num(x_k)}, "
                f"exact {_num(ref_k, got_k)})",
            )
        )
    return found, {(dtype, "f"): worst}


def _runs_in(row: Native, p: Params, dtype: str) -> str | None:
    """None when the kernel and its autograd run in ``dtype`` here; else why not."""
    try:
        xt = torch.zeros(4, dtype=_TORCH[dtype], requires_grad=True)
        y = row.fn(xt, p)
        torch.autograd.grad(y, xt, torch.ones_like(y))
    except (RuntimeError, NotImplementedError) as exc:
        return f"{dtype}: {str(exc).splitlines()[0]}"
    return None


@functools.lru_cache(maxsize=256)
def _measure(name: str, params: tuple[tuple[str, Any], ...], dtypes: tuple[str, ...]) -> Gaps | None:
    act = get(name, **dict(params))
    row = NATIVE.get(act.name)
    if row is None or not row.when(act.bound):
        return None
    findings: list[Finding] = []
    worst: dict[Any, Any] = {}
    measured, skipped = [], []
    for dtype in dtypes:
        why = _runs_in(row, act.bound, dtype)
        if why is not None:
            skipped.append(why)
            continue
        measured.append(dtype)
        measure = _elementwise if isinstance(act.spec, Elementwise) else _vector
        found, w = measure(act, row, dtype)
        findings += found
        worst.update(w)
    return Gaps(act.name, tuple(sorted(act.params.items())), tuple(findings), worst, tuple(measured), tuple(skipped))


def gaps(name: str | Activation, /, dtypes: Sequence[str] = DTYPES, **params: Any) -> Gaps | None:
    """The measured differences of ``name``'s native PyTorch kernel from the exact reference.

    None when ``actlab.torch`` has no native kernel for the entry at these parameter
    values (it then runs the catalog's formulas, exact, on every path).  Cached.
    """
    act = get(name, **params)
    bad = [d for d in dtypes if d not in DTYPES]
    if bad:
        raise ValueError(f"dtype {bad[0]!r} is not one of {', '.join(DTYPES)}")
    return _measure(act.name, tuple(sorted(act.params.items())), tuple(dtypes))


def all_gaps(dtypes: Sequence[str] = DTYPES) -> list[Gaps]:
    """:func:`gaps` at default parameters for every entry with a native kernel."""
    out = []
    for name in NATIVE:
        g = gaps(name, dtypes)
        if g is not None:
            out.append(g)
    return out
