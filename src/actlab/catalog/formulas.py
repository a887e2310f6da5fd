"""Numerically stable building blocks shared by several catalog entries.

Every function takes an array ``x`` and a namespace ``xp`` and is accurate to a few
ulp over the whole floating-point range, ±inf included.  The tricks are visible:
one ``exp(-|x|)`` serves both branches of the sigmoid, products with a factor that
is exactly zero are zero (so ``-inf * 0`` never makes a NaN), and cancellations
near zero are replaced by their Taylor series.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

SQRT_2PI = math.sqrt(2.0 * math.pi)


def _target_bits(xp: Any) -> int:
    """Significand bits of the type ``xp``'s results are rounded to (53 unless it says otherwise)."""
    return getattr(xp, "target_bits", 53 if xp.wide else 24)


def _direct_is_enough(xp: Any) -> bool:
    """True when ``xp`` computes in float64 for a result of 24 bits or fewer: a form that
    cancels k bits still leaves 53 - k, far more than the rounding keeps."""
    return bool(xp.wide) and _target_bits(xp) <= 24


def mul0(a: Any, b: Any, xp: Any) -> Any:
    """a * b, but 0 when either factor is 0 (so that inf * 0 gives 0, the limit)."""
    return xp.mul0(a, b)


def _sigmoid_parts(x: Any, xp: Any) -> tuple[Any, Any]:
    e = xp.exp(-xp.abs(x))
    return e, 1.0 / (1.0 + e)


def sigmoid(x: Any, xp: Any) -> Any:
    """σ(x) = 1 / (1 + e^{-x}) from one e^{-|x|}: no overflow, relative error ≲ 2 ulp.

    A namespace with an accurate σ of its own (PyTorch's, within 2 ulp and exact limits,
    which its compiler turns into a faster kernel) provides it as ``xp.sigmoid``.
    """
    native = getattr(xp, "sigmoid", None)
    if native is not None:
        return native(x)
    if _direct_is_enough(xp):
        # for a float32/float16 result the textbook form in float64 is within 2 float64 ulp
        # everywhere: e^-x overflows only where σ is far below the smallest float32 (x < -709),
        # and 1 / inf is the 0 it rounds to; half the operations of the two-sided form
        return 1.0 / (1.0 + xp.exp(-x))
    e, r = _sigmoid_parts(x, xp)
    return r * _below_zero_factor(x, e, xp)


def _below_zero_factor(x: Any, e: Any, xp: Any) -> Any:
    """e where x < 0, else 1: max(e, [x >= 0]) since 0 <= e <= 1, a cheaper select than ``where``."""
    return xp.maximum(e, x >= 0)


def sigmoid_prime(x: Any, xp: Any) -> Any:
    """σ'(x) = σ(x) σ(-x) = e^{-|x|} / (1 + e^{-|x|})^2, accurate in both tails."""
    e, r = _sigmoid_parts(x, xp)
    return e * r * r


def sigmoid_and_prime(x: Any, xp: Any) -> tuple[Any, Any]:
    """(σ(x), σ'(x)) from one exponential: the same bits as :func:`sigmoid` and :func:`sigmoid_prime`."""
    e, r = _sigmoid_parts(x, xp)
    native = getattr(xp, "sigmoid", None)
    return (native(x) if native is not None else r * _below_zero_factor(x, e, xp)), e * r * r


def softplus(x: Any, xp: Any) -> Any:
    """log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}), the log-add-exp form."""
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def log_sigmoid(x: Any, xp: Any) -> Any:
    """log σ(x) = -softplus(-x) = min(x, 0) - log1p(e^{-|x|})."""
    return xp.minimum(x, 0.0) - xp.log1p(xp.exp(-xp.abs(x)))


def ndtr(x: Any, xp: Any) -> Any:
    """Φ(x), the standard normal CDF, down to its smallest subnormal values.

    ``ndtr`` (erfc underneath) flushes to 0 once x²/2 passes the exp underflow limit
    (x < -37.5), where Φ is still a subnormal number: there it is exp(log Φ(x)).
    """
    if not xp.wide or _target_bits(xp) <= 24:  # a float32 or narrower result underflows long before -37
        return xp.ndtr(x)
    return xp.where_lazy(x < -37.0, lambda v: xp.exp(xp.log_ndtr(xp.minimum(v, -37.0))), x, xp.ndtr(x))


INV_SQRT_2PI = 1.0 / SQRT_2PI


def npdf(x: Any, xp: Any) -> Any:
    """The standard normal density φ(x) = e^{-x²/2} / √(2π).

    For a float32/float16 result computed in float64, a product with 1/√(2π) replaces the
    division (one more float64 rounding, 2^-29 of a float32 ulp; a division costs 3-4 products).
    """
    if _direct_is_enough(xp):
        return xp.exp(-0.5 * x * x) * INV_SQRT_2PI
    return xp.exp(-0.5 * x * x) / SQRT_2PI


def horner(x: Any, coefficients: tuple[float, ...]) -> Any:
    """c0 + c1 x + c2 x^2 + ... evaluated from the highest power down."""
    acc = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        acc = acc * x + c
    return acc


def _bernoulli(n: int) -> list[Fraction]:
    """B_0 .. B_n (with B_1 = -1/2) by the Akiyama–Tanigawa-free classical recurrence."""
    b = [Fraction(1)]
    for m in range(1, n + 1):
        b.append(-sum(math.comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
    return b


def _x_minus_tanh_series(terms: int) -> tuple[float, ...]:
    """Coefficients c_k of x - tanh(x) = x^3 * sum_k c_k (x^2)^k, from the Bernoulli numbers."""
    b = _bernoulli(2 * terms + 4)
    coeffs = []
    for n in range(2, terms + 2):  # tanh x = sum_n 2^{2n}(2^{2n}-1) B_{2n} x^{2n-1} / (2n)!
        c = Fraction(2 ** (2 * n) * (2 ** (2 * n) - 1)) * b[2 * n] / math.factorial(2 * n)
        coeffs.append(float(-c))
    return tuple(coeffs)


TANHSHRINK_SERIES_LIMIT = 1.0
"""Below this |x|, x - tanh(x) comes from its series; above it the subtraction loses < 3 bits."""


X_MINUS_TANH_SERIES = _x_minus_tanh_series(46)
"""46 terms: the series ratio at |x| = 1 is (2/π)² ≈ 0.405, and 0.405^46 < 2^-60."""


NARROW_X_MINUS_TANH_TERMS = 20
"""Enough below float64: 0.405^20 < 2^-26, under half an ulp of float32."""


NARROW_TARGET_TANHSHRINK_LIMIT = 2.0**-6
"""For a float32/float16 result computed in float64: below this |x|, x - tanh(x) from its series.

Above it the float64 subtraction x - tanh(x) ≈ x³/3 loses log2(3/x²) ≈ 13.6 bits at most:
its relative error stays below 3·2^-52/x² = 2^-38.4, 2^-14 of a float32 ulp.  Below it
three terms (x³/3 - 2x⁵/15 + 17x⁷/315) leave 62x⁹/2835, below 2^-40 of the value."""

NARROW_TARGET_TANHSHRINK_TERMS = 3


def x_minus_tanh(x: Any, xp: Any) -> Any:
    """x - tanh(x) without the cancellation near 0 (where it is ≈ x³/3).

    The float64 result needs the series up to |x| = 1 (46 terms, on the elements below 1
    only); a float32 or float16 result computed in float64 needs it only below 2^-6 and with
    three terms, on the few elements that small.
    """
    if _direct_is_enough(xp):
        terms3 = X_MINUS_TANH_SERIES[:NARROW_TARGET_TANHSHRINK_TERMS]

        def short_series(v: Any) -> Any:
            v2 = v * v
            return v * v2 * horner(v2, terms3)

        return xp.where_lazy(xp.abs(x) < NARROW_TARGET_TANHSHRINK_LIMIT, short_series, x, x - xp.tanh(x))
    terms = X_MINUS_TANH_SERIES if xp.wide else X_MINUS_TANH_SERIES[:NARROW_X_MINUS_TANH_TERMS]

    def series(v: Any) -> Any:  # evaluated only where |x| < 1 (the whole array where nothing is lazy)
        v2 = v * v
        return v * v2 * horner(xp.minimum(v2, 1.0), terms)

    return xp.where_lazy(xp.abs(x) < TANHSHRINK_SERIES_LIMIT, series, x, x - xp.tanh(x))


EXPM1_MINUS_X_SERIES = tuple(1.0 / math.factorial(k) for k in range(2, 22))
"""1/k! for k = 2..21: e^x - 1 - x = x² Σ x^(k-2)/k!, to 1e-21 relative for |x| < 1."""


NARROW_EXPM1_MINUS_X_TERMS = 10
"""Enough below float64: the first term left out, 1/12!, is 2^-29 of the leading 1/2."""


NARROW_TARGET_EXPM1_LIMIT = 2.0**-9
"""For a float32/float16 result computed in float64: below this |x|, e^x - 1 - x from its series.

Above it expm1(x) - x ≈ x²/2 loses log2(2/|x|) ≤ 10 bits: relative error below 2^-52/|x| = 2^-43.
Below it four terms (x²/2! + ... + x⁵/5!) leave less than 2 (2^-9)^4 / 6! < 2^-44."""

NARROW_TARGET_EXPM1_TERMS = 4


def expm1_minus_x(x: Any, xp: Any) -> Any:
    """e^x - 1 - x without the cancellation near 0 (where it is ≈ x²/2).

    As :func:`x_minus_tanh`: 20 terms below |x| = 1 for a float64 result, four terms below
    2^-9 for a float32 or float16 result computed in float64.
    """
    if _direct_is_enough(xp):
        terms4 = EXPM1_MINUS_X_SERIES[:NARROW_TARGET_EXPM1_TERMS]
        return xp.where_lazy(
            xp.abs(x) < NARROW_TARGET_EXPM1_LIMIT, lambda v: v * v * horner(v, terms4), x, xp.expm1(x) - x
        )
    terms = EXPM1_MINUS_X_SERIES if xp.wide else EXPM1_MINUS_X_SERIES[:NARROW_EXPM1_MINUS_X_TERMS]

    def series(v: Any) -> Any:  # evaluated only where |x| < 1
        return v * v * horner(xp.clip(v, -1.0, 1.0), terms)

    return xp.where_lazy(xp.abs(x) < 1.0, series, x, xp.expm1(x) - x)


TANH_SOFTPLUS_ONE = 20.0
"""Above this x, tanh(softplus(x)) = 1 - 2/(n + 2) with n > e^40 rounds to 1 in float64 and below."""


def tanh_softplus(x: Any, xp: Any) -> Any:
    """tanh(log(1 + e^x)) = n / (n + 2) with n = e^x (e^x + 2), in a form that never overflows.

    For a float32/float16 result computed in float64, e^x is taken at min(x, 20), where the
    value has reached 1 already: n stays finite, and one ratio replaces the two branches.
    """
    if _direct_is_enough(xp):
        e = xp.exp(xp.minimum(x, TANH_SOFTPLUS_ONE))
        n = e * (e + 2.0)
        return n / (n + 2.0)
    e = xp.exp(-xp.abs(x))
    pos = (1.0 + 2.0 * e) / (1.0 + 2.0 * e + 2.0 * e * e)  # x > 0, divided through by e^{2x}
    n = e * (e + 2.0)
    neg = n / (n + 2.0)
    return xp.where(x > 0, pos, neg)
