"""The types a catalog entry is made of: parameters, intervals, kinks, papers and the four kinds of spec.

A spec describes one activation once. Its numerical formulas are plain functions
``f(x, p, xp)`` of an array ``x``, the bound parameters ``p`` (attribute access:
``p.alpha``) and an array namespace ``xp`` (see :mod:`actlab.namespaces`), so the
same formula serves NumPy, the high-precision oracle and, later, other backends.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar, TypeAlias

from ..errors import InvalidParameterError, ShapeError, suggest

Params: TypeAlias = SimpleNamespace
Formula: TypeAlias = Callable[[Any, Params, Any], Any]

INF = math.inf
SMOOTH = 10**9
"""Continuity class of an infinitely differentiable function (``smoothness = SMOOTH``)."""
DISCONTINUOUS = -1
"""Continuity class of a function with a jump (``smoothness = DISCONTINUOUS``)."""


def _fmt(v: float) -> str:
    if v == INF:
        return "inf"
    if v == -INF:
        return "-inf"
    return f"{v:.6g}"


@dataclass(frozen=True)
class Interval:
    """A real interval such as ``(0, inf)`` or ``[-1, 1]``; ``approx`` marks rounded ends."""

    lo: float = -INF
    hi: float = INF
    lo_closed: bool = False
    hi_closed: bool = False
    approx: bool = False

    def __contains__(self, v: object) -> bool:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v):
            return False
        above = v >= self.lo if self.lo_closed else v > self.lo
        below = v <= self.hi if self.hi_closed else v < self.hi
        return above and below

    def __str__(self) -> str:
        left = "[" if self.lo_closed and self.lo != -INF else "("
        right = "]" if self.hi_closed and self.hi != INF else ")"
        mark = "≈" if self.approx else ""
        return f"{mark}{left}{_fmt(self.lo)}, {_fmt(self.hi)}{right}"

    @property
    def bounded_below(self) -> bool:
        return self.lo > -INF

    @property
    def bounded_above(self) -> bool:
        return self.hi < INF

    def as_dict(self) -> dict[str, Any]:
        return {
            "lo": self.lo,
            "hi": self.hi,
            "lo_closed": self.lo_closed,
            "hi_closed": self.hi_closed,
            "approx": self.approx,
            "text": str(self),
        }


REAL = Interval()
POSITIVE = Interval(0.0, INF)
NONNEGATIVE = Interval(0.0, INF, lo_closed=True)


@dataclass(frozen=True)
class Param:
    """One parameter of an activation: its name (PyTorch's where PyTorch has it), default and domain.

    ``domain`` bounds a real or integer parameter; ``choices`` lists the values of a
    string parameter; ``nullable`` admits ``None`` (its meaning is in ``doc``).
    ``example`` is a second valid value that tests and docs use beside the default.
    ``learnable`` marks parameters a training backend may turn into weights.
    """

    name: str
    default: Any
    doc: str
    domain: Interval = REAL
    choices: tuple[str, ...] = ()
    integer: bool = False
    nullable: bool = False
    example: Any = None
    learnable: bool = False

    def describe(self) -> str:
        """The valid values, in words: ``"a real number in (0, inf)"``."""
        if self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.integer:
            text = "an integer" if self.domain == REAL else f"an integer in {self.domain}"
        else:
            text = "a finite real number" if self.domain == REAL else f"a real number in {self.domain}"
        return text + (" or None" if self.nullable else "")

    def validate(self, value: Any, owner: str) -> Any:
        """Return ``value`` in canonical form, or raise :class:`InvalidParameterError`."""
        if value is None and self.nullable:
            return None
        bad = InvalidParameterError(f"{owner}: parameter {self.name!r} must be {self.describe()}; got {value!r}")
        if self.choices:
            if isinstance(value, str) and value.lower() in self.choices:
                return value.lower()
            raise bad
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # numpy scalars are numbers too
            try:
                import numpy as np

                if isinstance(value, np.generic) and np.issubdtype(type(value), np.number):
                    value = value.item()
                else:
                    raise bad
            except ImportError:  # pragma: no cover - numpy is a dependency
                raise bad from None
        if self.integer:
            if isinstance(value, float):
                if not value.is_integer():
                    raise bad
                value = int(value)
            if value not in self.domain:
                raise bad
            return int(value)
        value = float(value)
        if not math.isfinite(value) or value not in self.domain:
            raise bad
        return value

    def parse(self, text: str, owner: str) -> Any:
        """Turn command-line text into a valid value."""
        t = text.strip()
        if self.nullable and t.lower() in ("none", "null"):
            return None
        if self.choices:
            return self.validate(t, owner)
        try:
            number: float | int = int(t) if self.integer else float(t)
        except ValueError:
            raise InvalidParameterError(
                f"{owner}: parameter {self.name!r} must be {self.describe()}; got {text!r}"
            ) from None
        return self.validate(number, owner)


@dataclass(frozen=True)
class Kink:
    """A point where f or f' is not differentiable, and the derivative actlab returns there."""

    x: float
    derivative: float
    rule: str


@dataclass(frozen=True)
class Paper:
    title: str
    authors: str
    year: int
    url: str

    def cite(self) -> str:
        return f"{self.authors} ({self.year}). {self.title}. {self.url}"


def resolve(value: Any, p: Params) -> Any:
    """A declared fact may depend on the parameters: call it if it is callable."""
    return value(p) if callable(value) else value


@dataclass(frozen=True, kw_only=True)
class Spec:
    """What every catalog entry declares, whatever its kind."""

    kind: ClassVar[str] = "abstract"

    name: str
    title: str
    summary: str
    formula: str | Callable[[Params], str]
    """LaTeX of f; a callable of the bound parameters where the formula itself depends on them."""
    derivative_formula: str | Callable[[Params], str]
    year: int | None
    uses: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    paper: Paper | None = None
    range: Interval | Callable[[Params], Interval] = REAL
    notes: tuple[str, ...] = ()
    constraint: Callable[[Params], str | None] | None = None
    """Checks that involve several parameters; returns a message when they are violated."""

    def param(self, name: str) -> Param:
        for q in self.params:
            if q.name == name:
                return q
        names = [q.name for q in self.params]
        have = ", ".join(names) if names else "none"
        raise InvalidParameterError(
            f"{self.name} has no parameter {name!r}{suggest(name, names)}; its parameters: {have}"
        )

    def bind(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Params:
        """Validate parameter values and return them, defaults filled in, as a namespace."""
        given = dict(values or {}, **kwargs)
        bound = {q.name: q.default for q in self.params}
        for key, value in given.items():
            bound[key] = self.param(key).validate(value, self.name)
        p = SimpleNamespace(**bound)
        if self.constraint is not None:
            message = self.constraint(p)
            if message:
                raise InvalidParameterError(f"{self.name}: {message}")
        return p

    def defaults(self) -> Params:
        return self.bind()

    def output_range(self, p: Params | None = None) -> Interval:
        return resolve(self.range, p if p is not None else self.defaults())

    def formula_text(self, p: Params | None = None) -> str:
        """The LaTeX of f for parameters ``p`` (the defaults when None)."""
        return str(resolve(self.formula, p if p is not None else self.defaults()))

    def derivative_text(self, p: Params | None = None) -> str:
        """The LaTeX of f' for parameters ``p`` (the defaults when None)."""
        return str(resolve(self.derivative_formula, p if p is not None else self.defaults()))

    # Evaluation, overridden by each kind.  ``x`` and ``g`` are float64 arrays here.
    def apply(self, x: Any, p: Params, xp: Any) -> Any:
        raise NotImplementedError

    def vjp(self, x: Any, g: Any, p: Params, xp: Any) -> Any:
        raise NotImplementedError

    def out_shape(self, shape: tuple[int, ...], p: Params) -> tuple[int, ...]:
        return shape

    def axis(self, p: Params) -> int | None:
        """The axis the operation works along, or None for elementwise kinds."""
        return None

    def check_shape(self, shape: tuple[int, ...], p: Params) -> None:
        """Raise :class:`ShapeError` when an input of this shape cannot be taken."""
        d = self.axis(p)
        if d is None:
            return
        if not shape:
            raise ShapeError(f"{self.name} works along dim={d} and needs an input with at least one axis")
        if not -len(shape) <= d < len(shape):
            raise ShapeError(f"{self.name}: dim={d} is out of range for an input with {len(shape)} axes")


@dataclass(frozen=True, kw_only=True)
class Elementwise(Spec):
    """f: R -> R applied to each element, with its hand-written derivative.

    ``forward`` and ``derivative`` are the numerically stable formulas;
    ``definition`` is the textbook formula, evaluated by the high-precision oracle
    (it defaults to ``forward`` where the textbook form is already exact).
    """

    kind: ClassVar[str] = "elementwise"

    forward: Formula
    derivative: Formula
    definition: Formula | None = None
    monotonic: bool | Callable[[Params], bool] = True
    smoothness: int | Callable[[Params], int] = SMOOTH
    zero_centred: bool | Callable[[Params], bool] = False
    """True when f is odd, f(-x) = -f(x): outputs are centred on zero by symmetry."""
    self_gated: bool = False
    """True when f(x) = x g(x) with a gate 0 <= g(x) <= 1 computed from x itself."""
    kinks: tuple[Kink, ...] | Callable[[Params], tuple[Kink, ...]] = ()
    derivative_has_limits: bool = True
    """False when f' has no limit at ±inf (it oscillates): f' is then NaN there."""
    param_derivatives: Mapping[str, Formula] = field(default_factory=dict)
    """∂f/∂θ for each learnable parameter θ, hand-written like f' (training backends need them)."""
    float64_ulps: Mapping[str, float] = field(default_factory=dict)
    """Measured exceptions to the float64 accuracy bound of 4 max(1, κ) ulp, keyed "f" or "f'"
    (the reason is given in ``notes``)."""
    narrow: tuple[str, ...] = ()
    """Which of "f" and "f'" are exactly rounded when evaluated in float16/float32 themselves
    (a max, a clip, a selection: one rounding or none), provided every float parameter is a
    value of that type; NumPy then skips widening to float64 (tested bit for bit)."""
    fused: Callable[[Any, Params, Any], tuple[Any, Any]] | None = None
    """Optional (f(x), f'(x)) computed together, sharing their common work; it must equal
    ``(forward, derivative)`` to the bit (tested)."""

    def textbook(self) -> Formula:
        return self.definition if self.definition is not None else self.forward

    def value_and_derivative(self, x: Any, p: Params, xp: Any) -> tuple[Any, Any]:
        """(f(x), f'(x)): the fused formula when the entry has one."""
        if self.fused is not None:
            return self.fused(x, p, xp)
        return self.forward(x, p, xp), self.derivative(x, p, xp)

    def apply(self, x: Any, p: Params, xp: Any) -> Any:
        return self.forward(x, p, xp)

    def vjp(self, x: Any, g: Any, p: Params, xp: Any) -> Any:
        return g * self.derivative(x, p, xp)

    def kink_points(self, p: Params | None = None) -> tuple[Kink, ...]:
        return tuple(resolve(self.kinks, p if p is not None else self.defaults()))


@dataclass(frozen=True, kw_only=True)
class AlongAxis(Spec):
    """A map of whole vectors along one axis (``dim``), such as softmax.

    ``jacobian`` returns J[..., i, j] = d y_i / d x_j with the axis moved last;
    ``definition`` maps a list of high-precision numbers (one vector) for the oracle.
    """

    kind: ClassVar[str] = "axis"

    forward: Formula
    backward: Callable[[Any, Any, Params, Any], Any]
    full_jacobian: Formula
    definition: Callable[[list[Any], Params, Any], list[Any]]

    def apply(self, x: Any, p: Params, xp: Any) -> Any:
        return self.forward(x, p, xp)

    def vjp(self, x: Any, g: Any, p: Params, xp: Any) -> Any:
        return self.backward(x, g, p, xp)

    def axis(self, p: Params) -> int | None:
        return int(p.dim)


@dataclass(frozen=True, kw_only=True)
class Gated(Spec):
    """y = a * gate(b), where a and b are the two halves of x along ``dim``.

    The gate is another (elementwise) catalog entry, named by ``gate`` with fixed
    ``gate_params``; b, the second half, is the gated one, as in ``torch.nn.functional.glu``.
    """

    kind: ClassVar[str] = "gated"

    gate: str
    gate_params: Mapping[str, Any] = field(default_factory=dict)
    _resolved: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _gate(self) -> tuple[Elementwise, Params]:
        """The gate's spec and bound parameters (resolved once: formulas may be traced by a compiler)."""
        if "gate" not in self._resolved:
            from .registry import spec as lookup

            g = lookup(self.gate)
            if not isinstance(g, Elementwise):
                raise TypeError(f"the gate of {self.name} must be elementwise, not {g.kind}")
            self._resolved["gate"] = (g, g.bind(self.gate_params))
        return self._resolved["gate"]

    def halves(self, x: Any, p: Params, xp: Any) -> tuple[Any, Any]:
        return xp.split_halves(x, int(p.dim))

    def apply(self, x: Any, p: Params, xp: Any) -> Any:
        g, gp = self._gate()
        a, b = self.halves(x, p, xp)
        return a * g.forward(b, gp, xp)

    def vjp(self, x: Any, gy: Any, p: Params, xp: Any) -> Any:
        g, gp = self._gate()
        a, b = self.halves(x, p, xp)
        return xp.concat([gy * g.forward(b, gp, xp), gy * a * g.derivative(b, gp, xp)], int(p.dim))

    def out_shape(self, shape: tuple[int, ...], p: Params) -> tuple[int, ...]:
        d = int(p.dim) % len(shape)
        return shape[:d] + (shape[d] // 2,) + shape[d + 1 :]

    def check_shape(self, shape: tuple[int, ...], p: Params) -> None:
        super().check_shape(shape, p)
        n = shape[int(p.dim)]
        if n % 2:
            raise ShapeError(f"{self.name} splits dim={p.dim} in two halves, but its size {n} is odd")

    def axis(self, p: Params) -> int | None:
        return int(p.dim)


@dataclass(frozen=True, kw_only=True)
class Pooled(Spec):
    """y_j = max_k x_{j*pieces + k}: groups of ``pieces`` consecutive entries along ``dim``.

    The gradient goes to one entry per group, the first maximal one (the index
    ``argmax`` returns); ties send nothing to the others. A NaN entry is the maximum.
    """

    kind: ClassVar[str] = "pooled"

    def apply(self, x: Any, p: Params, xp: Any) -> Any:
        return xp.group_max(x, int(p.pieces), int(p.dim))

    def vjp(self, x: Any, g: Any, p: Params, xp: Any) -> Any:
        return xp.group_max_route(x, g, int(p.pieces), int(p.dim))

    def out_shape(self, shape: tuple[int, ...], p: Params) -> tuple[int, ...]:
        d = int(p.dim) % len(shape)
        return shape[:d] + (shape[d] // int(p.pieces),) + shape[d + 1 :]

    def check_shape(self, shape: tuple[int, ...], p: Params) -> None:
        super().check_shape(shape, p)
        n = shape[int(p.dim)]
        if n % int(p.pieces):
            raise ShapeError(
                f"{self.name} takes groups of pieces={p.pieces} along dim={p.dim}, "
                f"but its size {n} is not a multiple of {p.pieces}"
            )

    def axis(self, p: Params) -> int | None:
        return int(p.dim)
