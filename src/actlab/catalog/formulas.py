"""Numerically stable building blocks shared by several catalog entries.

Every function takes an array ``x`` and a namespace ``xp`` and is accurate to a few
ulp over the whole floating-point range, ±inf included.  The tricks are visible:
one ``exp(-|x|)`` serves both branches of the sigmoid, products with a factor that
is exactly zero are zero (so ``-inf * 0`` never makes a NaN), cancellations
near zero are replaced by their Taylor series, and a product whose factor underflows
(x·σ(x) at x = -740) is formed without that factor.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

SQRT_2PI = math.sqrt(2.0 * math.pi)


def _target_bits(xp: Any) -> int:
    """Significand bits of the type ``xp``'s results are rounded to (53 unless it says otherwise)."""
    return getattr(xp, "target_bits", 53 if xp.wide else 24)


def direct_is_enough(xp: Any) -> bool:
    """True when ``xp`` computes in float64 for a result of 24 bits or fewer: a form that
    cancels k bits still leaves 53 - k, far more than the rounding keeps."""
    return bool(xp.wide) and _target_bits(xp) <= 24


def float64_result(xp: Any) -> bool:
    """True when ``xp`` computes in float64 for float64 results: only there do the far tails
    (products whose factor underflows) and the GELU window change what is returned.

    A float32/float16 result computed in float64 gains nothing from them: every tail result of
    x·σ(βx), x·Φ(x), mish and their derivatives is below 1e-260 for a float32 x, which rounds to
    0, and a float64 error of a few ulp is 2^-29 of a float32 ulp (tested bit for bit).  A
    namespace that computes in float32 itself (PyTorch's default generic kernels, whose error is
    measured rather than bounded) skips them too: there they guard results below 1e-38 and cost
    three times the rest of a swish kernel.
    """
    return bool(xp.wide) and _target_bits(xp) > 24


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
    if direct_is_enough(xp):
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
    if direct_is_enough(xp):
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
    if direct_is_enough(xp):
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
    if direct_is_enough(xp):
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
    if direct_is_enough(xp):
        e = xp.exp(xp.minimum(x, TANH_SOFTPLUS_ONE))
        n = e * (e + 2.0)
        return n / (n + 2.0)
    e = xp.exp(-xp.abs(x))
    pos = (1.0 + 2.0 * e) / (1.0 + 2.0 * e + 2.0 * e * e)  # x > 0, divided through by e^{2x}
    n = e * (e + 2.0)
    neg = n / (n + 2.0)
    return xp.where(x > 0, pos, neg)


# --- far tails: results that are normal or subnormal numbers while a factor underflows ---------

EXP_TAIL = -708.0
"""Below this, e^z is a subnormal float64 (e^z < 2^-1022 from z ≈ -708.40): a product a·e^z that
is itself a normal number, or a larger subnormal, must not be formed from that rounded e^z."""

NARROW_EXP_TAIL = -87.0
"""The same edge when the namespace computes in float32 (e^z < 2^-126 from z ≈ -87.34)."""


def exp_tail(xp: Any) -> float:
    """The z below which e^z underflows in the precision ``xp`` computes in."""
    return EXP_TAIL if xp.wide else NARROW_EXP_TAIL


def times_exp(a: Any, z: Any, xp: Any) -> Any:
    """a·e^z for z far below the exp underflow: (a·e^{z/2})·e^{z/2}.

    e^{z/2} is still a normal number down to z ≈ -1416, so the only rounding into the
    subnormal range is the last one; e^z itself would arrive there with few bits (or as 0)
    and lose them for good, although a·e^z (|a| up to 1e308) is often far larger.
    ``a = ±inf`` with e^{z/2} = 0 gives 0, the limit in every use here.
    """
    h = xp.exp(0.5 * z)
    return mul0(a, h, xp) * h


def _affine_split(width: float, offset: float) -> tuple[float, float]:
    """(hi, lo) with hi + lo = -offset·width to about 2^-106 relative: hi the correctly rounded
    zero of x/width + offset, lo its rounding error (exact rational arithmetic on the two floats)."""
    x0 = -Fraction(offset) * Fraction(width)
    hi = float(x0)
    return hi, float(x0 - Fraction(hi))


_AFFINE_SPLITS: dict[tuple[float, float], tuple[float, float]] = {}


def affine_zero_split(width: float, offset: float) -> tuple[float, float]:
    """:func:`_affine_split`, cached: a kernel runs once per block of every call."""
    key = (float(width), float(offset))
    split = _AFFINE_SPLITS.get(key)
    if split is None:
        split = _AFFINE_SPLITS[key] = _affine_split(*key)
    return split


def affine(x: Any, width: float, offset: float, xp: Any) -> Any:
    """x/width + offset without the cancellation near its zero x0 = -offset·width.

    Evaluated as ((x - hi) - lo)/width with x0 = hi + lo split into two floats: near x0,
    x - hi is exact (Sterbenz), so the result keeps its relative accuracy however close x
    is to x0, where x/width + offset subtracts two nearly equal numbers.  Three roundings at
    most (measured: 1.52 ulp near hardsigmoid's upper knee with slope 0.3); lo = 0 (x0 a float,
    as -3 for hardsigmoid's defaults) saves one, and near x0 only the division rounds.
    """
    width, offset = float(width), float(offset)
    if not (math.isfinite(width) and math.isfinite(offset * width)):
        return x / width + offset  # a zero beyond the float range: no x comes near it
    hi, lo = affine_zero_split(width, offset)
    d = x - hi
    return (d if lo == 0.0 else d - lo) / width


GELU_TAIL = -37.0
"""Below this, Φ(x) < 6e-300 heads for the subnormals (and ndtr's erfc for 0, x < -37.7):
x·Φ(x) and Φ(x) + xφ(x) are then formed from log Φ and exp(-x²/2) without the underflow."""

NARROW_GELU_TAIL = -13.0
"""The same edge in float32 (Φ(x) < 2^-126 from x ≈ -13.2)."""

GELU_FLOOR = -1.0e4
"""Tail arguments are clipped here: far beyond the last nonzero result (x ≈ -38.6) and far
before x² overflows, so -inf gives the limit 0 rather than inf - inf."""


def gelu_tail(xp: Any) -> float:
    """The x below which :func:`x_ndtr` and :func:`ndtr_slope` switch to their tails."""
    return GELU_TAIL if xp.wide else NARROW_GELU_TAIL


def _x_ndtr_tail(v: Any, xp: Any) -> Any:
    v = xp.clip(v, GELU_FLOOR, gelu_tail(xp))
    return times_exp(v, xp.log_ndtr(v), xp)  # x e^{log Φ(x)}, never the underflowed Φ(x)


def x_ndtr(x: Any, xp: Any, phi: Any = None) -> Any:
    """x·Φ(x) (GELU), down to its smallest subnormal values; ``phi`` is Φ(x) if already computed.

    Below :func:`gelu_tail`, x·Φ(x) is x e^{log Φ(x)} through :func:`times_exp`: x·Φ(x) is
    up to 38 times larger than Φ(x), so the product of a rounded subnormal Φ loses bits
    (and is 0 where x·Φ is still 1.6 subnormal units, x = -38.55).
    """
    body = mul0(x, ndtr(x, xp) if phi is None else phi, xp)
    if not float64_result(xp):
        return body
    body = xp.where_lazy(x < gelu_tail(xp), lambda v: _x_ndtr_tail(v, xp), x, body)
    return _gelu_window(x, body, 0, xp) if xp.wide else body


def _ndtr_slope_tail(v: Any, xp: Any) -> Any:
    v = xp.clip(v, GELU_FLOOR, gelu_tail(xp))
    # Φ(x) is 1/x² of x φ(x) here: its own underflow costs under half an ulp of the sum
    return xp.exp(xp.log_ndtr(v)) + times_exp(v / SQRT_2PI, -0.5 * v * v, xp)


def ndtr_slope(x: Any, xp: Any, phi: Any = None) -> Any:
    """Φ(x) + x φ(x) (GELU's derivative), down to its smallest subnormal values.

    x φ(x) = x e^{-x²/2}/√(2π) is a normal number down to x ≈ -37.6 while e^{-x²/2} is a
    subnormal from x ≈ -37.6: below :func:`gelu_tail` it comes from :func:`times_exp`.
    """
    body = (ndtr(x, xp) if phi is None else phi) + mul0(x, npdf(x, xp), xp)
    if not float64_result(xp):
        return body
    body = xp.where_lazy(x < gelu_tail(xp), lambda v: _ndtr_slope_tail(v, xp), x, body)
    return _gelu_window(x, body, 1, xp) if xp.wide else body


GELU_WINDOW = (-1.4143, -1.0)
"""Where scipy's ndtr (Cephes) computes Φ(x) = erfc(|x|/√2)/2 as (1 - erf(|x|/√2))/2, losing
two bits to the subtraction on top of erf's own error: Φ there was measured up to 14 ulp off
(x·Φ up to 9.6 ulp/κ, Φ + xφ 10.9 ulp at x = -1.255).  In this window GELU and GELU' come
from their Taylor series instead (:func:`gelu_window_series`)."""

GELU_WINDOW_TERMS = 18
"""Terms of each series: the 18th, a_17 r^17 with r = 0.20715, is below 2^-64 of |f|, |f'| >= 0.078."""


def _gelu_window_series() -> tuple[tuple[float, float, tuple[float, ...]], tuple[float, float, tuple[float, ...]]]:
    """Taylor coefficients of x·Φ(x) and of Φ(x) + xφ(x) about the window's centre c.

    Each as (a0 high, a0 low, (a1, a2, ...)): from the Hermite polynomials at 50 digits,
    Φ^(n) = (-1)^(n-1) He_(n-1) φ, φ^(k) = (-1)^k He_k φ, (xΦ)^(n) = xΦ^(n) + nΦ^(n-1) and
    (Φ + xφ)^(n) = Φ^(n) + xφ^(n) + nφ^(n-1); a0 in two floats so that only the sum rounds.
    """
    import mpmath

    with mpmath.workdps(50):
        c = mpmath.mpf(_gelu_window_centre())
        phi, cdf = mpmath.npdf(c), mpmath.ncdf(c)
        n_max = GELU_WINDOW_TERMS
        he = [mpmath.mpf(1), c]
        for n in range(1, n_max):
            he.append(c * he[n] - n * he[n - 1])
        dphi = [(-1) ** k * he[k] * phi for k in range(n_max + 1)]
        dcdf = [cdf] + [dphi[n - 1] for n in range(1, n_max + 1)]
        out = []
        for deriv in (
            [c * dcdf[n] + (n * dcdf[n - 1] if n else 0) for n in range(n_max)],
            [dcdf[n] + c * dphi[n] + (n * dphi[n - 1] if n else 0) for n in range(n_max)],
        ):
            a = [deriv[n] / mpmath.factorial(n) for n in range(n_max)]
            high = float(a[0])
            out.append((high, float(a[0] - high), tuple(float(v) for v in a[1:])))
        return out[0], out[1]


def _gelu_window_centre() -> float:
    return (GELU_WINDOW[0] + GELU_WINDOW[1]) / 2


GELU_WINDOW_SERIES = _gelu_window_series()
"""The coefficients, computed once at import (a millisecond): a cache wrapper would be traced
through by ``torch.compile`` on every compile."""


def gelu_window_series() -> tuple[tuple[float, float, tuple[float, ...]], tuple[float, float, tuple[float, ...]]]:
    """:data:`GELU_WINDOW_SERIES`: (a0 high, a0 low, (a1, a2, ...)) for x·Φ(x) and for Φ(x) + xφ(x)."""
    return GELU_WINDOW_SERIES


def _gelu_window(x: Any, body: Any, which: int, xp: Any) -> Any:
    """``body`` outside :data:`GELU_WINDOW`, the series ``which`` (0: f, 1: f') inside."""
    high, low, coefficients = gelu_window_series()[which]

    def series(v: Any) -> Any:
        # h = x - c is exact (Sterbenz); clipped so that the series stays finite outside the window
        h = xp.clip(v, GELU_WINDOW[0], GELU_WINDOW[1]) - _gelu_window_centre()
        return high + (low + h * horner(h, coefficients))

    return xp.where_lazy((x >= GELU_WINDOW[0]) & (x <= GELU_WINDOW[1]), series, x, body)
