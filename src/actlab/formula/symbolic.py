"""The symbolic side of formula activations: stable building blocks as SymPy functions, the rewrites
that put an expression into stable forms, the textbook form the oracle evaluates, and the
compilation of an expression into a catalog formula ``f(x, p, xp)``.

The building blocks (:class:`Sigmoid`, :class:`Softplus`, :class:`Phi`, :class:`Log1p`,
:class:`Expm1`, :class:`TanhSoftplus`, and each catalog entry called by name) are SymPy functions
whose derivatives are written in terms of other stable blocks (σ′ = σ(u)σ(−u), not σ(1 − σ)),
so a symbolic derivative stays in stable forms.  :func:`textbook` spells them out
(σ(u) = 1/(1 + e^{−u}), ...): that is the function's definition, which the high-precision oracle
evaluates.  :func:`stabilise` rewrites textbook patterns a user may type into the blocks
(``log(1+exp(u))`` → softplus, ``exp(u)-1`` → expm1, ``1/(1+exp(-u))`` → σ, ``log(σ(u))`` →
−softplus(−u), ``1 - tanh(u)**2`` → sech², ``sqrt(u**2 + c)`` → hypot, ...), and :func:`compile_expr`
turns the result into a function of an array namespace.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import sympy
from sympy.printing.latex import LatexPrinter

from ..catalog import formulas as F

# --- stable building blocks ---


class _Block(sympy.Function):
    """A one-argument function with a stable evaluation (``stable``) and a textbook form (``textbook``)."""

    is_real = True
    latex_name = ""
    text_name = ""

    @classmethod
    def textbook_form(cls, u: Any) -> Any:
        raise NotImplementedError

    def _sympystr(self, printer: Any) -> str:
        return f"{self.text_name}({', '.join(printer._print(a) for a in self.args)})"

    def _eval_evalf(self, prec: int) -> Any:
        # a numeric value (σ(1), to compare max(x, σ(1))) from the textbook form
        return self.textbook_form(self.args[0])._eval_evalf(prec)

    def _latex(self, printer: LatexPrinter) -> str:
        return rf"\operatorname{{{self.latex_name}}}\left({printer._print(self.args[0])}\right)"


class Sigmoid(_Block):
    """σ(u) = 1/(1 + e^{−u})."""

    latex_name = "sigmoid"
    text_name = "sigmoid"

    def _latex(self, printer: LatexPrinter) -> str:
        return rf"\sigma\left({printer._print(self.args[0])}\right)"

    def fdiff(self, argindex: int = 1) -> Any:
        u = self.args[0]
        return Sigmoid(u) * Sigmoid(-u)

    @classmethod
    def eval(cls, u: Any) -> Any:
        if u == 0:
            return sympy.Rational(1, 2)
        return None

    @classmethod
    def textbook_form(cls, u: Any) -> Any:
        return 1 / (1 + sympy.exp(-u))


class Softplus(_Block):
    """softplus(u) = log(1 + e^u)."""

    latex_name = "softplus"
    text_name = "softplus"

    def fdiff(self, argindex: int = 1) -> Any:
        return Sigmoid(self.args[0])

    @classmethod
    def textbook_form(cls, u: Any) -> Any:
        return sympy.log(1 + sympy.exp(u))


class Phi(_Block):
    """Φ(u), the standard normal CDF."""

    latex_name = "Phi"
    text_name = "Phi"

    def _latex(self, printer: LatexPrinter) -> str:
        return rf"\Phi\left({printer._print(self.args[0])}\right)"

    def fdiff(self, argindex: int = 1) -> Any:
        u = self.args[0]
        return sympy.exp(-(u**2) / 2) / sympy.sqrt(2 * sympy.pi)

    @classmethod
    def eval(cls, u: Any) -> Any:
        if u == 0:
            return sympy.Rational(1, 2)
        return None

    @classmethod
    def textbook_form(cls, u: Any) -> Any:
        return sympy.erfc(-u / sympy.sqrt(2)) / 2


class Log1p(_Block):
    """log(1 + u), accurate for small u."""

    latex_name = "log1p"
    text_name = "log1p"

    def fdiff(self, argindex: int = 1) -> Any:
        return 1 / (1 + self.args[0])

    @classmethod
    def eval(cls, u: Any) -> Any:
        return sympy.Integer(0) if u == 0 else None

    @classmethod
    def textbook_form(cls, u: Any) -> Any:
        return sympy.log(1 + u)


class Expm1(_Block):
    """e^u − 1, accurate for small u."""

    latex_name = "expm1"
    text_name = "expm1"

    def fdiff(self, argindex: int = 1) -> Any:
        return sympy.exp(self.args[0])

    @classmethod
    def eval(cls, u: Any) -> Any:
        return sympy.Integer(0) if u == 0 else None

    @classmethod
    def textbook_form(cls, u: Any) -> Any:
        return sympy.exp(u) - 1


class TanhSoftplus(_Block):
    """tanh(softplus(u)), in a form that never overflows (mish's gate)."""

    latex_name = "tanh"
    text_name = "tanh_softplus"

    def _latex(self, printer: LatexPrinter) -> str:
        return rf"\tanh\left(\operatorname{{softplus}}\left({printer._print(self.args[0])}\right)\right)"

    def fdiff(self, argindex: int = 1) -> Any:
        u = self.args[0]
        return Sech2Softplus(u) * Sigmoid(u)

    @classmethod
    def textbook_form(cls, u: Any) -> Any:
        return sympy.tanh(sympy.log(1 + sympy.exp(u)))


class Sech2Softplus(_Block):
    """1 − tanh²(softplus(u)) = sech²(softplus(u)) = 4(1 + e^u)²/((1 + e^u)² + 1)², computed as
    1 − t² only where t is far from 1, else from e^u."""

    latex_name = "sech^2"
    text_name = "sech2_softplus"

    def _latex(self, printer: LatexPrinter) -> str:
        u = printer._print(self.args[0])
        return rf"\operatorname{{sech}}^{{2}}\left(\operatorname{{softplus}}\left({u}\right)\right)"

    @classmethod
    def textbook_form(cls, u: Any) -> Any:
        return 1 - sympy.tanh(sympy.log(1 + sympy.exp(u))) ** 2


# --- catalog entries called by name ---


class CatalogCall(sympy.Function):
    """An elementwise catalog entry applied to an expression; subclasses fix the entry and its parameters."""

    is_real = True
    entry = ""
    values: tuple[tuple[str, Any], ...] = ()
    derivative = False

    def _latex(self, printer: LatexPrinter) -> str:
        shown = [f"{k}={v}" for k, v in self.values if _differs_from_default(self.entry, k, v)]
        name = self.entry.replace("_", r"\_") + ("'" if self.derivative else "")
        extra = ("; " + ", ".join(shown)) if shown else ""
        return rf"\operatorname{{{name}}}\left({printer._print(self.args[0])}{extra}\right)"

    def fdiff(self, argindex: int = 1) -> Any:
        if self.derivative:
            raise ValueError(f"the second derivative of {self.entry} is not in the catalog")
        return catalog_function(self.entry, self.values, derivative=True)(self.args[0])


def _differs_from_default(entry: str, key: str, value: Any) -> bool:
    from ..catalog import registry

    return registry.spec(entry).param(key).default != value


@functools.cache
def catalog_function(entry: str, values: tuple[tuple[str, Any], ...], derivative: bool = False) -> type[CatalogCall]:
    """The SymPy function class of catalog entry ``entry`` with parameter ``values`` (its derivative when
    ``derivative``): one class per (entry, values), so that equal calls are equal expressions."""
    suffix = "".join(f"_{k}_{v}" for k, v in values if _differs_from_default(entry, k, v))
    name = f"{entry}{suffix}" + ("_prime" if derivative else "")
    return type(name, (CatalogCall,), {"entry": entry, "values": values, "derivative": derivative})


def _catalog_formula(call: CatalogCall, *, oracle: bool) -> Callable[[Any, Any], Any]:
    from types import SimpleNamespace

    from ..catalog import registry

    spec: Any = registry.spec(call.entry)
    p = SimpleNamespace(**dict(call.values))
    if call.derivative:
        fn = spec.derivative
    else:
        fn = spec.textbook() if oracle else spec.forward
    return lambda u, xp: fn(u, p, xp)


# --- forms ---


def textbook(expr: Any, *, keep: tuple[type, ...] = ()) -> Any:
    """``expr`` with every stable block spelled out in its textbook form (the oracle's definition), but
    those in ``keep`` (Φ, which the oracle evaluates as a function of its own down to its far tail)."""
    expr = expr.replace(
        lambda e: isinstance(e, HypotMinus), lambda e: sympy.sqrt(e.args[0] ** 2 + e.args[1] ** 2) - e.args[1]
    )
    expr = expr.replace(lambda e: isinstance(e, Hypot), lambda e: sympy.sqrt(e.args[0] ** 2 + e.args[1] ** 2))
    for block in BLOCKS:
        if block in keep:
            continue
        expr = expr.replace(lambda e, b=block: isinstance(e, b), lambda e: type(e).textbook_form(e.args[0]))
    return expr


def _is_one_plus_exp(e: Any) -> Any:
    """v when e = 1 + exp(v), else None."""
    if isinstance(e, sympy.Add) and len(e.args) == 2 and sympy.Integer(1) in e.args:
        other = e.args[0] if e.args[1] == 1 else e.args[1]
        if isinstance(other, sympy.exp):
            return other.args[0]
    return None


def _rewrite_node(e: Any) -> Any:
    """One stabilising rewrite at the top of ``e`` (its arguments are rewritten already)."""
    if isinstance(e, sympy.log):
        a = e.args[0]
        v = _is_one_plus_exp(a)
        if v is not None:
            return Softplus(v)
        if isinstance(a, Sigmoid):
            return -Softplus(-a.args[0])
        if isinstance(a, sympy.Add) and sympy.Integer(1) in a.args:
            return Log1p(a - 1)
        return e
    if isinstance(e, sympy.Pow):
        base, n = e.args
        v = _is_one_plus_exp(base)
        if v is not None and n == -1:
            return Sigmoid(-v)
        if n in (sympy.Rational(1, 2), sympy.Rational(-1, 2)) and isinstance(base, sympy.Add):
            squares = [t for t in base.args if isinstance(t, sympy.Pow) and t.args[1] == 2]
            rest = base - sum(squares)
            if len(squares) == 1 and rest.is_Number and rest > 0:
                h = Hypot(squares[0].args[0], sympy.sqrt(rest))
                return h if n > 0 else 1 / h
        return e
    if isinstance(e, sympy.Mul):
        factors = list(e.args)
        for i, f in enumerate(factors):
            if isinstance(f, sympy.Pow) and f.args[1] == -1:
                v = _is_one_plus_exp(f.args[0])
                if v is not None and sympy.exp(v) in factors:
                    rest = [g for j, g in enumerate(factors) if j != i]
                    rest.remove(sympy.exp(v))
                    return sympy.Mul(Sigmoid(v), *rest)
        return e
    if isinstance(e, sympy.tanh) and isinstance(e.args[0], Softplus):
        return TanhSoftplus(e.args[0].args[0])
    if isinstance(e, sympy.Add):
        terms = list(e.args)
        for t in terms:  # k·√(u² + c²) − k·c, with any constant k
            k, h = t.as_coeff_Mul()
            if isinstance(h, Hypot) and h.args[1].is_Number and -k * h.args[1] in terms:
                terms.remove(t)
                terms.remove(-k * h.args[1])
                return sympy.Add(k * HypotMinus(h.args[0], h.args[1]), *terms)
        if -1 in terms:
            exps = [t for t in terms if isinstance(t, sympy.exp)]
            if exps:
                terms.remove(sympy.Integer(-1))
                terms.remove(exps[0])
                return sympy.Add(Expm1(exps[0].args[0]), *terms)
        if 1 in terms:
            for t in terms:
                if isinstance(t, sympy.Mul) and -1 in t.args:
                    rest = -t
                    if isinstance(rest, sympy.erf):  # 1 − erf(u) = 2 Φ(−√2 u)
                        terms.remove(sympy.Integer(1))
                        terms.remove(t)
                        return sympy.Add(2 * Phi(-sympy.sqrt(2) * rest.args[0]), *terms)
                    if isinstance(rest, sympy.Pow) and rest.args[1] == 2 and isinstance(rest.args[0], sympy.tanh):
                        terms.remove(sympy.Integer(1))
                        terms.remove(t)
                        u = rest.args[0].args[0]
                        return sympy.Add(Sech2Softplus(u.args[0]) if isinstance(u, Softplus) else Sech2(u), *terms)
                    if isinstance(rest, sympy.Pow) and rest.args[1] == 2 and isinstance(rest.args[0], TanhSoftplus):
                        terms.remove(sympy.Integer(1))
                        terms.remove(t)
                        return sympy.Add(Sech2Softplus(rest.args[0].args[0]), *terms)
            erfs = [t for t in terms if isinstance(t, sympy.erf)]
            if erfs:  # 1 + erf(u) = 2 Φ(√2 u); as erfc(−u), SymPy would turn it back into 2 − erfc(u)
                terms.remove(sympy.Integer(1))
                terms.remove(erfs[0])
                return sympy.Add(2 * Phi(sympy.sqrt(2) * erfs[0].args[0]), *terms)
    return e


def _sinc_series(terms: int) -> tuple[float, ...]:
    """Coefficients c_k of sinc′(u) = Σ c_k u^{2k+1} (k ≥ 0): c_k = (−1)^{k+1} (2k+2)/(2k+3)!."""
    import math

    return tuple((-1) ** (k + 1) * (2 * k + 2) / math.factorial(2 * k + 3) for k in range(terms))


SINC_SERIES = _sinc_series(20)
SINC_SERIES_BELOW = 0.5
"""Below this |u|, sinc′ is its series (u cos u − sin u cancels there); 20 terms are exact to 1e-50 of it."""


class Sinc(_Block):
    """sinc(u) = sin(u)/u, 1 at u = 0."""

    latex_name = "sinc"
    text_name = "sinc"

    def fdiff(self, argindex: int = 1) -> Any:
        return SincPrime(self.args[0])

    @classmethod
    def eval(cls, u: Any) -> Any:
        return sympy.Integer(1) if u == 0 else None

    @classmethod
    def textbook_form(cls, u: Any) -> Any:
        return sympy.sinc(u)


class SincPrime(_Block):
    """sinc′(u) = (u cos u − sin u)/u², 0 at u = 0: its series near 0, where the difference cancels."""

    latex_name = "sinc'"
    text_name = "sinc_prime"

    @classmethod
    def textbook_form(cls, u: Any) -> Any:
        return (u * sympy.cos(u) - sympy.sin(u)) / u**2


def _sinc_prime(u: Any, xp: Any) -> Any:
    def series(v: Any) -> Any:
        v2 = v * v
        out = 0.0 * v
        for c in reversed(SINC_SERIES):
            out = out * v2 + c
        return out * v

    def closed(v: Any) -> Any:
        return (v * xp.cos(v) - xp.sin(v)) / (v * v)

    small = xp.abs(u) < SINC_SERIES_BELOW
    return xp.where_lazy(small, series, u, xp.where_lazy(~small if xp.name != "mpmath" else not small, closed, u, 0.0))


class Sech2(_Block):
    """sech²(u) = 1 − tanh²(u), without the cancellation of the difference."""

    latex_name = "sech^2"
    text_name = "sech2"

    def _latex(self, printer: LatexPrinter) -> str:
        return rf"\operatorname{{sech}}^{{2}}\left({printer._print(self.args[0])}\right)"

    @classmethod
    def textbook_form(cls, u: Any) -> Any:
        return 1 - sympy.tanh(u) ** 2


class Hypot(sympy.Function):
    """√(a² + b²) without overflow of the squares."""

    is_real = True

    def fdiff(self, argindex: int = 1) -> Any:
        return self.args[argindex - 1] / self

    def _latex(self, printer: LatexPrinter) -> str:
        a, b = (printer._print(v) for v in self.args)
        return rf"\sqrt{{\left({a}\right)^{{2}} + \left({b}\right)^{{2}}}}"


BLOCKS: tuple[type[_Block], ...] = (
    Sigmoid,
    Softplus,
    Phi,
    Log1p,
    Expm1,
    TanhSoftplus,
    Sech2Softplus,
    Sech2,
    SincPrime,
    Sinc,
)


def selections(expr: Any) -> Any:
    """``expr`` with each max and min written as the selection it is: max(a, b) = a where a > b, else b,
    with constants as b (so at a tie the derivative is the constant's: max(x, 0) has ReLU's f′(0) = 0);
    min(a, b) = a where a < b, else b.  The derivative then uses the forward's own comparison, where
    SymPy's Heaviside(a − b) would compare a difference that rounds to 0 (max(x, tanh x) near 0)."""

    def pick(e: Any) -> Any:
        # constants last: at a tie the constant is chosen, so max(x, 0) has ReLU's f'(0) = 0
        args = sorted(e.args, key=lambda a: not a.free_symbols)
        out = args[-1]
        for a in reversed(args[:-1]):
            cond = a > out if isinstance(e, sympy.Max) else a < out
            out = sympy.Piecewise((a, cond), (out, True))
        return out

    return expr.replace(lambda e: isinstance(e, (sympy.Max, sympy.Min)), pick)


class HypotMinus(sympy.Function):
    """√(u² + c²) − c for a constant c > 0, as u·(u/(√(u² + c²) + c)): no cancellation near u = 0 and no
    overflow of u² at large |u|."""

    is_real = True

    def fdiff(self, argindex: int = 1) -> Any:
        u, c = self.args
        return u / Hypot(u, c)

    def _latex(self, printer: LatexPrinter) -> str:
        u, c = (printer._print(v) for v in self.args)
        return rf"\left(\sqrt{{\left({u}\right)^{{2}} + {c}^{{2}}}} - {c}\right)"


def stabilise(expr: Any, log: list[tuple[Any, Any]] | None = None) -> Any:
    """``expr`` rewritten bottom-up into stable forms (see the module's docstring); the value is unchanged.
    Each rewrite is appended to ``log`` as (before, after)."""

    def walk(e: Any) -> Any:
        if not e.args or isinstance(e, (sympy.Symbol, sympy.Number)):
            return e
        if isinstance(e, sympy.Piecewise):
            return sympy.Piecewise(*((walk(v), c) for v, c in e.args))
        new = e.func(*(walk(a) for a in e.args))
        for _ in range(4):  # a rewrite may enable another at the same node
            after = _rewrite_node(new)
            if after == new:
                break
            if log is not None:
                log.append((new, after))
            new = walk(after) if after.func is not new.func else after
        return new

    return walk(expr)


def plain(expr: Any) -> Any:
    """``expr`` with the stabilised-only forms (hypot, sech²) spelled out, for LaTeX and comparison."""
    expr = expr.replace(
        lambda e: isinstance(e, HypotMinus), lambda e: sympy.sqrt(e.args[0] ** 2 + e.args[1] ** 2) - e.args[1]
    )
    expr = expr.replace(lambda e: isinstance(e, Hypot), lambda e: sympy.sqrt(e.args[0] ** 2 + e.args[1] ** 2))
    for block in (Sech2, Sech2Softplus):
        expr = expr.replace(lambda e, b=block: isinstance(e, b), lambda e: type(e).textbook_form(e.args[0]))
    return expr


# --- compilation to a catalog formula f(x, p, xp) ---

Compiled = Callable[[Any, Any, Any], Any]


def _sech2(u: Any, xp: Any) -> Any:
    c = xp.cosh(u)
    return 1.0 / (c * c)


def _sech2_softplus(u: Any, xp: Any) -> Any:
    # 1 - t² with t = n/(n + 2), n = e^u(e^u + 2): 1 - t² = 4(n + 1)/(n + 2)², and for u > 0 divided
    # through by e^{2u} so that nothing overflows
    e = xp.exp(-xp.abs(u))
    n = e * (e + 2.0)
    neg = 4.0 * (n + 1.0) / ((n + 2.0) * (n + 2.0))
    d = 1.0 + 2.0 * e + 2.0 * e * e
    pos = 4.0 * e * e * (1.0 + 2.0 * e + e * e) / (d * d)
    return xp.where(u > 0, pos, neg)


def _sinc(u: Any, xp: Any) -> Any:
    return xp.where_lazy(u != 0, lambda v: xp.sin(v) / v, u, 1.0)


def _hypot(a: Any, b: Any, xp: Any) -> Any:
    return xp.hypot(a, b)


_UNARY: dict[Any, Callable[[Any, Any], Any]] = {
    sympy.exp: lambda u, xp: xp.exp(u),
    sympy.log: lambda u, xp: xp.log(u),
    sympy.sin: lambda u, xp: xp.sin(u),
    sympy.cos: lambda u, xp: xp.cos(u),
    sympy.tanh: lambda u, xp: xp.tanh(u),
    sympy.sinh: lambda u, xp: xp.sinh(u),
    sympy.cosh: lambda u, xp: xp.cosh(u),
    sympy.asinh: lambda u, xp: xp.arcsinh(u),
    sympy.atan: lambda u, xp: xp.arctan(u),
    sympy.erf: lambda u, xp: xp.erf(u),
    sympy.erfc: lambda u, xp: xp.erfc(u),
    sympy.Abs: lambda u, xp: xp.abs(u),
    sympy.sign: lambda u, xp: xp.sign(u),
    sympy.sinc: _sinc,
    Sinc: _sinc,
    SincPrime: _sinc_prime,
    sympy.sech: lambda u, xp: 1.0 / xp.cosh(u),
    Sigmoid: F.sigmoid,
    Softplus: F.softplus,
    Phi: lambda u, xp: xp.ndtr(u) if xp.name == "mpmath" else F.ndtr(u, xp),
    Log1p: lambda u, xp: xp.log1p(u),
    Expm1: lambda u, xp: xp.expm1(u),
    TanhSoftplus: F.tanh_softplus,
    Sech2Softplus: _sech2_softplus,
    Sech2: _sech2,
}


def _number(e: Any) -> float:
    value = complex(e.evalf(30))
    if value.imag != 0:
        raise ValueError(f"the constant {e} is not real")
    return value.real


def compile_expr(expr: Any, params: dict[str, Any], *, oracle: bool = False) -> Compiled:
    """``expr`` (in ``x`` and the symbols ``params``) as a catalog formula ``f(x, p, xp)``: each node is
    a call on the namespace ``xp``, so one compiled formula runs on NumPy, mpmath and PyTorch.  ``oracle``
    evaluates catalog entries by their textbook definitions (for the high-precision oracle)."""
    from .parse import X

    names = {s: n for n, s in params.items()}

    def build(e: Any) -> Callable[[Any, Any, Any], Any]:
        if e == X:
            return lambda x, p, xp: x
        if e in names:
            key = names[e]
            return lambda x, p, xp: getattr(p, key)
        if not e.free_symbols:
            try:
                c = _number(textbook(e))
            except (TypeError, ValueError, AttributeError):
                c = None  # a catalog entry at a constant (relu(1)): evaluated like any call below
            if c is not None:
                return lambda x, p, xp: c
        if isinstance(e, sympy.Add):
            parts = [build(a) for a in e.args]
            if len(parts) < 3 or oracle:

                def add(x: Any, p: Any, xp: Any) -> Any:
                    out = parts[0](x, p, xp)
                    for part in parts[1:]:
                        out = out + part(x, p, xp)
                    return out

                return add

            # a term that varies first, so that every partial sum is an array of x's shape
            order = sorted(range(len(e.args)), key=lambda i: X not in e.args[i].free_symbols)
            terms = [parts[i] for i in order]

            def add_compensated(x: Any, p: Any, xp: Any) -> Any:
                # Neumaier's summation: the rounding error of each addition is kept and added back, so the
                # order of the terms (−1 + x + √(x²+1)) does not decide which digits survive
                total = terms[0](x, p, xp)
                carry = 0.0 * total
                for part in terms[1:]:
                    t = part(x, p, xp) + 0.0 * total  # a constant term becomes an array like the others
                    s_ = total + t
                    carry = carry + xp.where(xp.abs(total) >= xp.abs(t), (total - s_) + t, (t - s_) + total)
                    total = s_
                return xp.where(xp.isfinite(carry), total + carry, total)

            return add_compensated
        if isinstance(e, sympy.Mul):
            # a negative power of a factor is a division: 1/(...) rounds once where (...)**-1 · a rounds twice
            # the first varying factor, divided at once by the denominators, then the other factors, and
            # constants last: 2·x·asinh(x)/√(x²+1) at x = −1e308 is never −inf/inf
            ordered = sorted(e.args, key=lambda a: X not in a.free_symbols)
            num = [build(a) for a in ordered if not (isinstance(a, sympy.Pow) and a.args[1] == -1)]
            den = [build(a.args[0]) for a in ordered if isinstance(a, sympy.Pow) and a.args[1] == -1]
            varying = sum(1 for a in e.args if a.free_symbols) > 1

            def mul(x: Any, p: Any, xp: Any) -> Any:
                # between factors that vary, 0 · ±inf is 0: a factor that underflowed to 0 (e^{-x²}, σ(x))
                # decays faster than the other grows (x, x²), which is the limit
                out = num[0](x, p, xp) if num else 1.0
                for part in den:
                    out = out / part(x, p, xp)
                for part in num[1:]:
                    out = xp.mul0(out, part(x, p, xp)) if varying else out * part(x, p, xp)
                return out

            return mul
        if isinstance(e, sympy.Pow):
            base, n = e.args
            b = build(base)
            if n == sympy.Rational(1, 2):
                return lambda x, p, xp: xp.sqrt(b(x, p, xp))
            if n == -1:
                return lambda x, p, xp: 1.0 / b(x, p, xp)
            if n == 2:
                return lambda x, p, xp: _square(b(x, p, xp))
            if n.is_Integer:
                k = int(n)
                return lambda x, p, xp: b(x, p, xp) ** k
            if not n.free_symbols:
                c = _number(n)
                return lambda x, p, xp: b(x, p, xp) ** c
            ex = build(n)
            return lambda x, p, xp: b(x, p, xp) ** ex(x, p, xp)
        if isinstance(e, (sympy.Max, sympy.Min)):
            parts = [build(a) for a in e.args]
            pick = "maximum" if isinstance(e, sympy.Max) else "minimum"

            def extreme(x: Any, p: Any, xp: Any) -> Any:
                out = parts[0](x, p, xp)
                for part in parts[1:]:
                    out = getattr(xp, pick)(out, part(x, p, xp))
                return out

            return extreme
        if isinstance(e, sympy.Piecewise):
            pieces = [(build(v), cond(c)) for v, c in e.args]

            def piecewise(x: Any, p: Any, xp: Any) -> Any:
                value, last = pieces[-1]
                out = value(x, p, xp) if last is None else xp.where(last(x, p, xp), value(x, p, xp), float("nan"))
                for value, c in reversed(pieces[:-1]):
                    assert c is not None
                    out = xp.where(c(x, p, xp), value(x, p, xp), out)
                return out

            return piecewise
        if isinstance(e, sympy.Heaviside):
            # the step of a max, min or abs: 1 above, 0 below, and 0 at the kink itself (ReLU's convention)
            u = build(e.args[0])
            return lambda x, p, xp: xp.where(u(x, p, xp) > 0, 1.0, 0.0)
        if isinstance(e, sympy.DiracDelta):
            # the derivative of a jump: 0 everywhere but at the jump, where f' does not exist
            u = build(e.args[0])
            return lambda x, p, xp: 0.0 * u(x, p, xp)
        if isinstance(e, HypotMinus):
            a, c = build(e.args[0]), build(e.args[1])

            def hypot_minus(x: Any, p: Any, xp: Any) -> Any:
                u, k = a(x, p, xp), c(x, p, xp)
                return u * (u / (xp.hypot(u, k) + k))

            return hypot_minus
        if isinstance(e, Hypot):
            a, c = build(e.args[0]), build(e.args[1])
            return lambda x, p, xp: xp.hypot(a(x, p, xp), c(x, p, xp))
        if isinstance(e, CatalogCall):
            fn, u = _catalog_formula(e, oracle=oracle), build(e.args[0])
            return lambda x, p, xp: fn(u(x, p, xp), xp)
        fn1 = _UNARY.get(e.func)
        if fn1 is not None and len(e.args) == 1:
            u = build(e.args[0])
            return lambda x, p, xp: fn1(u(x, p, xp), xp)
        raise ValueError(f"{e.func} has no numerical form")

    def cond(c: Any) -> Callable[[Any, Any, Any], Any] | None:
        if c is sympy.true:
            return None
        if c is sympy.false:
            return lambda x, p, xp: x != x  # never (NaN aside)
        if isinstance(c, (sympy.And, sympy.Or)):
            parts = [cond(a) for a in c.args]
            both = isinstance(c, sympy.And)

            def combined(x: Any, p: Any, xp: Any) -> Any:
                out = parts[0](x, p, xp)  # type: ignore[misc]
                for part in parts[1:]:
                    v = part(x, p, xp)  # type: ignore[misc]
                    out = (out & v) if both else (out | v)
                return out

            return combined
        if isinstance(c, sympy.Not):
            inner = c.args[0]
            return cond(inner.negated) if hasattr(inner, "negated") else None
        if isinstance(c, sympy.core.relational.Relational):
            a, b = build(c.lhs), build(c.rhs)
            op = c.rel_op
            compare = {
                "<": lambda u, v: u < v,
                "<=": lambda u, v: u <= v,
                ">": lambda u, v: u > v,
                ">=": lambda u, v: u >= v,
                "==": lambda u, v: u == v,
                "!=": lambda u, v: u != v,
            }[op]
            return lambda x, p, xp: compare(a(x, p, xp), b(x, p, xp))
        raise ValueError(f"the condition {c} has no numerical form")

    return build(expr)


def _square(v: Any) -> Any:
    return v * v


def latex(expr: Any) -> str:
    """LaTeX of an expression in x and parameters (stable blocks printed by name)."""
    return sympy.latex(plain(expr))
