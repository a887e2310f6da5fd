"""A formula becomes a catalog entry: :func:`define`.

``define("x*tanh(softplus(x))")`` parses the text (:mod:`actlab.formula.parse`), rewrites it into
stable forms (:func:`~actlab.formula.symbolic.stabilise`), differentiates it with SymPy (f′ and ∂f/∂θ
for each learnable parameter), compiles f, f′ and the textbook definition into catalog formulas
``f(x, p, xp)`` and returns an ordinary :class:`~actlab.catalog.spec.Elementwise` entry, registered in
the catalog, that every backend, analysis, plot, report page and experiment serves.  It refuses what
cannot be an activation — a constant, a formula that is not real or not finite on the reals, or whose
derivative is not — with the reason and a point where it happens, and says which catalog entry it
equals numerically, if any.

SymPy's work (simplifying the derivative for display, the limits at ±∞, the points where a piecewise
formula has kinks) is time-limited: past the limit the simplification is skipped and the facts are
left to the numerical analysis, so a formula never hangs a command.

>>> from actlab.formula import define
>>> mish = define("x*tanh(log(1+exp(x)))")
>>> mish.equals
'mish'
>>> float(mish.forward(1.0, mish.defaults(), __import__("actlab.namespaces").namespaces.numpy_ns))
0.8650983882673102
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from ..catalog import registry
from ..catalog.spec import DISCONTINUOUS, SMOOTH, Elementwise, Kink, Param
from ..errors import FormulaError
from ..namespaces import numpy_ns
from . import symbolic as sym
from .parse import SYMPY_FAILURES, X, first_line, parse
from .source import FormulaSource, looks_like_formula

SYMPY_SECONDS = 5.0
"""How long reading a formula and differentiating it may take."""
SIMPLIFY_SECONDS = 1.5
"""How long SymPy may try one simplification of a derivative (past it, the form found so far is kept)."""
LIMIT_SECONDS = 0.75
"""How long SymPy may look for one limit at ±∞ or the kinks of one candidate."""


class _TimeUp(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`_TimeUp` in the block after ``seconds`` (main thread only; elsewhere no limit, the
    size limits of the parser still bound the work)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        # an exception raised inside a garbage-collection hook or a __del__ that happens to run now would be
        # swallowed there (and reported as unraisable): wait a few milliseconds and raise in the work itself
        if _in_a_callback(frame):
            signal.setitimer(signal.ITIMER_REAL, 0.005)
            return
        raise _TimeUp

    old = signal.signal(signal.SIGALRM, expire)
    previous = signal.setitimer(signal.ITIMER_REAL, seconds)[0]
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if previous:
            signal.setitimer(signal.ITIMER_REAL, previous)


ANALYSIS_SECONDS = 4.0
"""The time all the optional SymPy steps of one formula share (simplifying, limits, kinks): past it, each
step left is skipped and its facts are left to the numerical analysis."""

_deadline = [math.inf]


def _in_a_callback(frame: Any) -> bool:
    """True when ``frame`` runs inside a garbage-collection callback, a ``__del__`` or the standard
    library's weakref machinery (a WeakKeyDictionary's or a finalizer's callback, which the interpreter
    calls when an object dies, as JAX's caches make it do in the middle of any work)."""
    import _weakrefset
    import gc
    import weakref

    hooks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    weak = {weakref.__file__, _weakrefset.__file__}
    depth = 0
    while frame is not None and depth < 200:
        if frame.f_code in hooks or frame.f_code.co_name == "__del__" or frame.f_code.co_filename in weak:
            return True
        frame, depth = frame.f_back, depth + 1
    return False


def _limited(fn: Any, default: Any, seconds: float = SYMPY_SECONDS) -> Any:
    """``fn()`` if it finishes within ``seconds`` (and before the formula's analysis deadline) and does not
    fail, else ``default``."""
    import time

    seconds = min(seconds, _deadline[0] - time.monotonic())
    if seconds <= 0.01:
        return default
    try:
        with time_limit(seconds):
            return fn()
    except _TimeUp:
        return default
    except (ValueError, TypeError, LookupError, NotImplementedError, AttributeError, ArithmeticError, RecursionError):
        return default


@dataclass(frozen=True, kw_only=True)
class FormulaSpec(Elementwise):
    """An elementwise catalog entry defined by a formula (see :func:`define`)."""

    formula_source: FormulaSource
    rewrites: tuple[str, ...] = ()
    """The stabilising rewrites applied, as "before → after"."""
    equals: str | None = None
    """The catalog entry it equals numerically on a dense grid (at the default parameters), if any."""
    limits: Mapping[str, Any] = field(default_factory=dict)
    """f and f′ at ±∞ as SymPy found them ("f+inf", "f-inf", "f'+inf", "f'-inf"), where it did."""
    symbolic: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The SymPy expressions: "f" (as written), "stable", "derivative", and "d/d<param>"."""


GRID = np.concatenate([np.linspace(-10.0, 10.0, 4001), [-1e-300, -1e-8, 1e-8, 1e-300]])
"""Where a formula must be real and finite, with a finite derivative."""
EQUAL_GRID = np.concatenate(
    [np.linspace(-30.0, 30.0, 6001), -np.geomspace(1e-6, 1e6, 200), np.geomspace(1e-6, 1e6, 200)]
)
"""Where two activations that agree to 1e-12 are called equal."""


def _anonymous_name(source: FormulaSource) -> str:
    return "formula_" + hashlib.sha1(source.as_json().encode()).hexdigest()[:10]


_by_source: dict[FormulaSource, FormulaSpec] = {}
_lock = threading.RLock()


def define(
    formula: str,
    name: str | None = None,
    params: Mapping[str, float] | None = None,
    *,
    learnable: tuple[str, ...] | list[str] | bool = True,
    stabilise: bool = True,
    register: bool = True,
    replace: bool = False,
    analyse: bool = True,
) -> FormulaSpec:
    """The catalog entry of ``formula``: an expression in ``x`` and named parameters.

    ``params`` gives parameters their defaults (a parameter the formula names and ``params`` does not
    starts at 1.0); ``learnable`` marks which a training backend may turn into weights (all by default:
    their ∂f/∂θ are symbolic anyway).  ``stabilise=False`` keeps the formula as written (to measure what
    the rewrites gain).  The entry is registered under ``name`` (lower case letters, digits and ``_``),
    or, without one, under ``formula_<hash>`` with the formula's text as its title — and the text itself
    resolves to it wherever an activation name is taken.  ``analyse=False`` skips the optional SymPy
    steps (the simplified derivative, the limits at ±∞, the kinks) and the comparison with the catalog:
    an entry in a tenth of the time, for screening many formulas (the activation search), not for
    `show`.  Raises :class:`FormulaError` with the reason.
    """
    parsed = _limited_parse(formula)
    given = dict(params or {})
    unknown = [k for k in given if k not in parsed.params]
    if unknown:
        have = ", ".join(parsed.params) or "none"
        raise FormulaError(f"formula {parsed.text!r} has no parameter {unknown[0]!r}; its parameters: {have}")
    defaults: dict[str, float] = {}
    for k in parsed.params:
        v = given.get(k, 1.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise FormulaError(f"formula parameter {k!r} must be a finite real number; got {v!r}")
        defaults[k] = float(v)
    if learnable is True:
        learn = tuple(parsed.params)
    elif learnable is False:
        learn = ()
    else:
        learn = tuple(learnable)
        bad = [k for k in learn if k not in parsed.params]
        if bad:
            raise FormulaError(f"formula {parsed.text!r} has no parameter {bad[0]!r} to learn")
    source = FormulaSource(parsed.text, tuple(sorted(defaults.items())), learn, stabilise)
    with _lock:
        if name is None and source in _by_source:
            return _by_source[source]
        try:
            spec = _build(parsed, source, name or _anonymous_name(source), analyse)
        except FormulaError:
            raise
        except SYMPY_FAILURES as exc:
            raise FormulaError(f"formula {parsed.text!r} cannot be used: {first_line(exc)}") from None
        if register:
            registry.register(spec, replace=replace or name is None)
            if name is None and analyse:
                _by_source[source] = spec
        return spec


def _limited_parse(formula: str) -> Any:
    try:
        with time_limit(SYMPY_SECONDS):
            return parse(formula)
    except _TimeUp:
        raise FormulaError(f"formula {formula[:60]!r} took longer than {SYMPY_SECONDS:g} s to read") from None
    except RecursionError:
        raise FormulaError(f"formula {formula[:60]!r} is nested too deeply") from None


def _build(parsed: Any, source: FormulaSource, name: str, analyse: bool = True) -> FormulaSpec:
    import time

    _deadline[0] = time.monotonic() + SYMPY_SECONDS + ANALYSIS_SECONDS  # differentiating, then the optional steps
    try:
        return _build_within(parsed, source, name, analyse)
    finally:
        _deadline[0] = math.inf


def _build_within(parsed: Any, source: FormulaSource, name: str, analyse: bool) -> FormulaSpec:
    expr = parsed.expr
    symbols = parsed.params
    text = parsed.text
    if X not in expr.free_symbols:
        raise FormulaError(f"formula {text!r} does not depend on x: a constant is not an activation")
    log: list[tuple[Any, Any]] = []
    stable = sym.stabilise(sym.selections(expr), log) if source.stabilise else sym.selections(expr)
    try:
        with time_limit(SYMPY_SECONDS):
            d_stable = sympy.diff(stable, X)
            d_stable = sym.stabilise(d_stable) if source.stabilise else d_stable
            d_params = {k: sympy.diff(stable, symbols[k]) for k in source.learnable}
            if source.stabilise:
                d_params = {k: sym.stabilise(v) for k, v in d_params.items()}
    except _TimeUp:
        raise FormulaError(f"formula {text!r}: its derivative took longer than {SYMPY_SECONDS:g} s") from None
    simplified = None
    if d_stable != 0 and source.stabilise and analyse:
        d_stable, simplified = _most_accurate(d_stable, symbols, _params(source))
    if d_stable == 0:
        raise FormulaError(f"formula {text!r} is constant (its derivative is 0): a constant is not an activation")
    try:
        forward = sym.compile_expr(stable, symbols)
        derivative = sym.compile_expr(d_stable, symbols)
        definition = sym.compile_expr(sym.textbook(expr, keep=(sym.Phi,)), symbols, oracle=True)
        param_derivatives = {k: sym.compile_expr(v, symbols) for k, v in d_params.items()}
    except ValueError as exc:
        raise FormulaError(f"formula {text!r}: {exc}") from None
    p = _params(source)
    _refuse(text, forward, derivative, p)
    limits = _infinite_limits(expr, d_stable) if analyse else {}
    forward, derivative = _with_limits(forward, limits, "f"), _with_limits(derivative, limits, "f'")
    if analyse:
        kinks, smoothness = _kinks(expr, forward, derivative, p)
    else:  # not looked for: a formula that can switch branches is not claimed smooth
        switches = (sympy.Abs, sympy.sign, sympy.Max, sympy.Min, sympy.Piecewise, sym.CatalogCall)
        kinks, smoothness = (), (0 if any(isinstance(e, switches) for e in sympy.preorder_traversal(expr)) else SMOOTH)
    grid_f = _values(forward, GRID, p)
    grid_d = _values(derivative, GRID, p)
    odd = bool(np.allclose(_values(forward, -GRID, p), -grid_f, rtol=1e-12, atol=1e-300))
    rewrites = tuple(dict.fromkeys(f"{_text(a)} → {_text(b)}" for a, b in log))[:8]
    latex_f = sym.latex(expr)
    latex_d = sympy.latex(d_stable)  # in the stable blocks' names: σ, softplus, sech² ...
    simpler = sym.latex(simplified) if simplified is not None else None
    if simpler is not None and len(simpler) < len(latex_d):
        latex_d = simpler
    params = tuple(
        Param(k, v, f"a parameter of the formula {text}", learnable=k in source.learnable, example=v + 0.5)
        for k, v in source.params
    )
    summary = f"The formula activation f(x) = {text}" + (
        ", defined by the user" if not name.startswith("formula_") else ""
    )
    spec = FormulaSpec(
        name=name,
        title=text,
        summary=summary + ".",
        formula=latex_f,
        derivative_formula=latex_d,
        year=None,
        uses=("a formula activation: what the lab computes of it is measured, not declared",),
        params=params,
        forward=forward,
        derivative=derivative,
        definition=definition,
        monotonic=bool(np.all(grid_d >= 0) or np.all(grid_d <= 0)),
        smoothness=smoothness,
        zero_centred=odd,
        kinks=kinks,
        param_derivatives=param_derivatives,
        formula_source=source,
        rewrites=rewrites,
        limits=limits,
        symbolic={"f": expr, "stable": stable, "derivative": d_stable, **{f"d/d{k}": v for k, v in d_params.items()}},
    )
    return _with_equal(spec, grid_f, p) if analyse else spec


PICK_GRID = np.concatenate(
    [-np.geomspace(1e-300, 1e300, 31), [0.0], np.geomspace(1e-300, 1e300, 31), np.linspace(-20.0, 20.0, 81)]
)
"""Where the forms of a derivative are compared with the exact value (the whole float64 range, and
densely where activations bend)."""


def _most_accurate(d: Any, symbols: dict[str, Any], p: Any) -> tuple[Any, Any]:
    """Of the derivative as differentiated and its simplified form (both stabilised), the one closer
    to the exact derivative (the textbook form at 40 digits) on :data:`PICK_GRID`, in float64: the
    product rule can leave a cancellation (x/(1+|x|) gives 1/(1+|x|) − |x|/(1+|x|)², which loses all
    digits at large |x|) that simplification removes — or, for other formulas, creates.  Returns the
    chosen form and SymPy's simplification (None when it took too long), which `show` prints when shorter."""
    abs_x = d.subs(X * sympy.sign(X), sympy.Abs(X))
    simplified = _limited(lambda: sympy.simplify(sym.textbook(d, keep=(sym.Phi,))), None, SIMPLIFY_SECONDS)
    forms = [
        _limited(lambda: sym.stabilise(sympy.together(abs_x)), None, SIMPLIFY_SECONDS),
        _limited(lambda: sym.stabilise(simplified), None) if simplified is not None else None,
    ]
    candidates = [d]
    for f in forms:
        if f is not None and f not in candidates and not f.has(sympy.Derivative, sympy.Subs):
            candidates.append(f)
    if len(candidates) == 1:
        return d, simplified
    return _limited(lambda: _closest(candidates, d, symbols, p), d, SIMPLIFY_SECONDS), simplified


def _closest(candidates: list[Any], exact: Any, symbols: dict[str, Any], p: Any) -> Any:
    import mpmath

    from ..namespaces import mpmath_ns

    ns = mpmath_ns(mpmath.mp)
    reference = sym.compile_expr(sym.textbook(exact, keep=(sym.Phi,)), symbols, oracle=True)
    from ..accuracy import high_precision

    refs: list[float | None] = []
    for x in PICK_GRID:
        try:  # at rising precision until it converges: the textbook form's own cancellation is resolved
            v = high_precision(lambda x=x: +reference(mpmath.mpf(float(x)), p, ns), digits=20, limit=1000)
            refs.append(float(v) if mpmath.isfinite(v) and mpmath.im(v) == 0 else None)
        except (ValueError, TypeError, ZeroDivisionError, OverflowError, ArithmeticError):
            refs.append(None)
    known = np.array([r is not None for r in refs])
    exact_values = np.array([r if r is not None else 0.0 for r in refs])
    first = _values(sym.compile_expr(candidates[0], symbols), PICK_GRID, p)
    errors = []
    for c in candidates:
        try:
            y = _values(sym.compile_expr(c, symbols), PICK_GRID, p)
        except (ValueError, TypeError):
            errors.append(math.inf)
            continue
        with np.errstate(all="ignore"):
            rel = np.abs(y - exact_values) / np.maximum(np.abs(exact_values), 1e-300)
        rel = np.where(np.isfinite(y), rel, math.inf)[known & np.isfinite(exact_values)]
        lost = bool(np.any(np.isfinite(first) & ~np.isfinite(y)))  # ±inf or NaN where the plain form is finite
        errors.append(math.inf if lost else float(rel.max()) if rel.size else math.inf)
    return candidates[int(np.argmin(errors))]


def _params(source: FormulaSource) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(**dict(source.params))


def _values(fn: Any, xs: np.ndarray, p: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        out = fn(np.asarray(xs, dtype=np.float64), p, numpy_ns)
    return (
        np.asarray(np.broadcast_to(out, np.shape(xs)), dtype=np.float64)
        if np.isrealobj(out)
        else np.full(np.shape(xs), np.nan)
    )


def _refuse(text: str, forward: Any, derivative: Any, p: Any) -> None:
    """Raise :class:`FormulaError` when f or f′ is not real and finite on :data:`GRID`."""
    for fn, what in ((forward, "it"), (derivative, "its derivative")):
        try:
            v = _values(fn, GRID, p)
        except (ValueError, TypeError, OverflowError, ZeroDivisionError) as exc:
            raise FormulaError(f"formula {text!r} cannot be evaluated: {exc}") from None
        bad = ~np.isfinite(v)
        if bad.any():
            at = GRID[bad][np.argmin(np.abs(GRID[bad]))]
            kind = (
                "not a real number"
                if np.isnan(v[bad]).any() and np.isnan(v[np.argmin(np.abs(GRID - at))])
                else "not finite"
            )
            raise FormulaError(
                f"formula {text!r}: {what} is {kind} at x = {at:.6g}; an activation is real and finite on the "
                "whole real line (a square root or log of a negative number, a division by zero, ...)"
            )
    values = _values(forward, GRID, p)
    if np.ptp(values) == 0:
        raise FormulaError(f"formula {text!r} is constant on [-10, 10]: a constant is not an activation")


def _infinite_limits(expr: Any, d_stable: Any) -> dict[str, Any]:
    """f and f′ at ±∞ where SymPy finds them (a real number or ±∞) within the time limit."""
    out: dict[str, Any] = {}
    if any(isinstance(a, sym.CatalogCall) for a in sympy.preorder_traversal(expr)) or expr.free_symbols - {X}:
        return out  # a catalog call is opaque to SymPy; a parameter's sign changes the limit
    f = sym.textbook(expr)
    d = sym.textbook(d_stable)
    for key, e, side in (
        ("f+inf", f, sympy.oo),
        ("f-inf", f, -sympy.oo),
        ("f'+inf", d, sympy.oo),
        ("f'-inf", d, -sympy.oo),
    ):
        value = _limited(lambda e=e, side=side: sympy.limit(e, X, side), None, LIMIT_SECONDS)
        if value is None:
            continue
        if value in (sympy.oo, -sympy.oo):
            out[key] = math.inf if value == sympy.oo else -math.inf
        elif value.is_real and value.is_number and value.is_finite:
            out[key] = float(value)
    return out


def _with_limits(fn: Any, limits: Mapping[str, Any], what: str) -> Any:
    hi, lo = limits.get(f"{what}+inf"), limits.get(f"{what}-inf")
    if hi is None and lo is None:
        return fn

    def patched(x: Any, p: Any, xp: Any) -> Any:
        out = fn(x, p, xp)
        if xp.name == "mpmath":
            if x == math.inf and hi is not None:
                return hi
            if x == -math.inf and lo is not None:
                return lo
            return out
        if hi is not None:
            out = xp.where(x == math.inf, hi, out)
        if lo is not None:
            out = xp.where(x == -math.inf, lo, out)
        return out

    return patched


def _kink_candidates(expr: Any) -> list[tuple[Any, str]]:
    """Equations u = 0 whose roots are where ``expr`` may not be differentiable, with the reason."""
    out: list[tuple[Any, str]] = []
    for e in sympy.preorder_traversal(expr):
        if isinstance(e, (sympy.Abs, sympy.sign)):
            out.append((e.args[0], f"{type(e).__name__.lower()}"))
        elif isinstance(e, (sympy.Max, sympy.Min)):
            args = list(e.args)
            out += [(a - b, type(e).__name__.lower()) for i, a in enumerate(args) for b in args[i + 1 :]]
        elif isinstance(e, sympy.Piecewise):
            for _, c in e.args:
                for r in sympy.preorder_traversal(c):
                    if isinstance(r, sympy.core.relational.Relational):
                        out.append((r.lhs - r.rhs, "where/piecewise"))
        elif isinstance(e, sym.CatalogCall) and not e.derivative:
            spec: Any = registry.spec(e.entry)
            for k in spec.kink_points(spec.bind(dict(e.values))):
                out.append((e.args[0] - k.x, e.entry))
    return out


def _kinks(expr: Any, forward: Any, derivative: Any, p: Any) -> tuple[tuple[Kink, ...], int]:
    """The kinks SymPy finds (real roots of the candidates, at most 16), the derivative the compiled f′
    returns there, and the continuity class they imply."""
    candidates = _kink_candidates(expr)
    if not candidates:
        return (), SMOOTH
    values = {str(s): v for s, v in vars(p).items()}
    points: dict[float, str] = {}
    for u, rule in candidates:
        u = u.subs({s: values[str(s)] for s in u.free_symbols if str(s) in values})
        roots = _limited(lambda u=u: sympy.solveset(u, X, domain=sympy.S.Reals), None, LIMIT_SECONDS)
        if roots is None or not isinstance(roots, sympy.FiniteSet):
            continue
        for r in roots:
            if r.is_number and r.is_real and len(points) < 16:
                points.setdefault(float(r), rule)
    kinks: list[Kink] = []
    smoothness = SMOOTH
    for x0 in sorted(points):
        h = 1e-7 * max(1.0, abs(x0))
        left, mid, right = _values(forward, np.array([x0 - h, x0, x0 + h]), p)
        dl, dm, dr = _values(derivative, np.array([x0 - h, x0, x0 + h]), p)
        scale = max(1.0, abs(mid))
        if abs(right - left) > 1e-4 * scale:
            smoothness = min(smoothness, DISCONTINUOUS)
        elif abs(dr - dl) > 1e-4 * max(1.0, abs(dm)):
            smoothness = min(smoothness, 0)
        else:
            continue  # smooth here after all (max(x, x**3) at 0 ...) or a kink of a higher derivative
        kinks.append(Kink(x0, float(dm), f"{points[x0]}: f' takes the value of the branch chosen at x = {x0:g}"))
    return tuple(kinks), smoothness


def _text(e: Any) -> str:
    names = {sym.Sigmoid: "sigmoid", sym.Softplus: "softplus", sym.Phi: "Phi", sym.Log1p: "log1p",
             sym.Expm1: "expm1", sym.TanhSoftplus: "tanh∘softplus", sym.Sech2Softplus: "sech²∘softplus",
             sym.Sech2: "sech²", sym.Hypot: "hypot", sym.HypotMinus: "hypot_minus"}  # fmt: skip
    if type(e) in names:
        return f"{names[type(e)]}({', '.join(str(a) for a in e.args)})"
    return str(e)


def _with_equal(spec: FormulaSpec, values: np.ndarray, p: Any) -> FormulaSpec:
    """``spec`` with :attr:`FormulaSpec.equals` set to the first built-in entry equal to it on :data:`EQUAL_GRID`."""
    from dataclasses import replace

    mine = _values(spec.forward, EQUAL_GRID, p)
    for other in registry.specs("elementwise"):
        if not registry.is_builtin(other.name) or not isinstance(other, Elementwise):
            continue
        q = other.defaults()
        try:
            theirs = _values(other.forward, EQUAL_GRID, q)
        except Exception:
            continue
        if np.allclose(mine, theirs, rtol=1e-12, atol=1e-300, equal_nan=False):
            return replace(spec, equals=other.name, summary=spec.summary[:-1] + f"; it equals {other.name}.")
    return spec


def lookup(name: str) -> FormulaSpec | None:
    """The formula activation ``name`` stands for: the text of a formula (defined on first use), a
    name saved in the user catalog (:mod:`actlab.formula.user`), else None."""
    from .user import saved

    if looks_like_formula(name):
        return define(name)
    entry = saved().get(name.strip().lower())
    if entry is None:
        return None
    return define(
        entry.text, name.strip().lower(), dict(entry.params), learnable=entry.learnable, stabilise=entry.stabilise
    )


def ensure(name: str, source_json: str) -> None:
    """Make ``name`` the formula activation ``source_json`` describes in this process, unless it already
    is (a worker process given a run of a formula activation defined elsewhere)."""
    source = FormulaSource.from_json(source_json)
    anonymous = name in (source.text, _anonymous_name(source))
    if anonymous and source in _by_source:
        return
    try:
        current = None if anonymous else registry.spec(name)
    except Exception:
        current = None
    if isinstance(current, FormulaSpec) and current.formula_source == source:
        return
    define(source.text, None if anonymous else name, dict(source.params), learnable=source.learnable,
           stabilise=source.stabilise, replace=True)  # fmt: skip
