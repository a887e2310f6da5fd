"""Far tails, limits and corners where a rounded intermediate used to cost the result its digits.

Each point is checked against the mpmath oracle (the textbook definition at high precision,
its derivative by :func:`accuracy.derivative_at`).  Where the result is a subnormal number it
must be the correctly rounded one; before, x·σ(x), x·Φ(x) and their derivatives were formed
from a subnormal σ or Φ and came back with a few bits, or as 0.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import actlab
from actlab import accuracy
from actlab.catalog import formulas as F
from actlab.catalog.elementwise import SELU_ALPHA, SELU_SCALE, SELU_SCALE_ALPHA

from .conftest import ELEMENTWISE

TINY = float(np.finfo(np.float64).tiny)


def _oracle(act: actlab.Activation, x: float, what: str) -> mpmath.mpf:
    f = accuracy._textbook(act.spec, act.bound)
    if what == "f":
        return accuracy.high_precision(lambda: +f(mpmath.mpf(x)))
    return accuracy.derivative_at(f, x)[0]


def _evaluate(act: actlab.Activation, x: float, what: str, dtype: str = "float64") -> float:
    a = np.array([x], dtype=dtype)
    return float((act(a) if what == "f" else act.derivative(a))[0])


def _ulps(y: float, ref: mpmath.mpf, dtype: str = "float64") -> float:
    with mpmath.workdps(accuracy.DPS):
        return accuracy.ulp_error(y, ref, np.dtype(dtype))


# (entry, params, x): x·σ(βx) and relatives where σ(βx) or Φ(x) underflows but f, f' do not
TAIL_POINTS = [
    ("gelu", {}, -38.55),  # f = 1.6 subnormal units: was 0
    ("gelu", {}, -38.0),
    ("gelu", {}, -38.4),
    ("gelu", {}, -37.9),
    ("gelu", {"approximate": "tanh"}, -21.3),  # 2u < -708 from x ≈ -21.1
    ("gelu_tanh", {}, -21.2),
    ("gelu_tanh", {}, -21.5),
    ("silu", {}, -709.0),
    ("silu", {}, -740.0),
    ("silu", {}, -745.5),  # f = 258 subnormal units: was 0
    ("silu", {}, -746.0),
    ("mish", {}, -709.0),
    ("mish", {}, -740.0),
    ("mish", {}, -745.5),
    ("swish_beta", {"beta": 1.5}, -480.0),
    ("swish_beta", {"beta": 0.5}, -1450.0),
    ("quick_gelu", {}, -430.0),
    ("elu", {"alpha": 0.5}, -744.7),  # f' = 0.5 e^x: e^x rounded to a subnormal, then halved to 0
    ("elu", {"alpha": 1e300}, -1400.0),  # f' = 1e300 e^x ≈ 1.6e-308: e^x itself underflows to 0
    ("selu", {}, -708.9),  # f' = λα e^x, a normal number formed from a subnormal e^x
    ("celu", {"alpha": 2.0}, -1480.0),
]


def _ident(p: tuple[str, dict[str, float], float]) -> str:
    name, params, x = p
    return name + "".join(f"[{k}={v}]" for k, v in params.items()) + f"@{x}"


@pytest.mark.parametrize("what", ["f", "f'"])
@pytest.mark.parametrize("point", TAIL_POINTS, ids=_ident)
def test_far_tail_against_mpmath(point: tuple[str, dict[str, float], float], what: str) -> None:
    name, params, x = point
    act = actlab.get(name, **params)
    ref = _oracle(act, x, what)
    y = _evaluate(act, x, what)
    exact_exponent = name in ("silu", "mish", "elu", "selu", "celu") or params.get("beta") == 1.5
    if abs(ref) < (TINY if exact_exponent else TINY * 2.0**-20):
        # a subnormal result: the correctly rounded one (where the exponent 2u, 1.702x or log Φ is
        # rounded, its relative error of ~1e-13 is below the spacing only in the deep subnormals)
        assert y == float(ref), f"{act!r} {what}({x}) = {y!r}, correctly rounded {float(ref)!r}"
    elif exact_exponent:
        # the exponent (x, 1.5x, x/α) is exact: e^{x/2} and two products, a few ulp
        assert _ulps(y, ref) <= 4.0, f"{act!r} {what}({x}) = {y!r}, {mpmath.nstr(ref, 17)}"
    else:
        _within_condition(act, x, what, y, ref)


def _within_condition(act: actlab.Activation, x: float, what: str, y: float, ref: mpmath.mpf) -> None:
    """The bound of the accuracy tests, 4 max(1, κ) ulp, κ = |x g'/g| for g = f or f'.

    Where the exponent (2u, 1.702x, log Φ ≈ -x²/2) is rounded, e^{...} turns its rounding
    into an error of the order of κ ulp, the most that any algorithm given a rounded x can
    promise.
    """
    f = accuracy._textbook(act.spec, act.bound)
    slope = accuracy.derivative_at(f, x, 1 if what == "f" else 2)[0]
    with mpmath.workdps(accuracy.DPS):
        kappa = accuracy._condition(x, ref, slope)
    assert _ulps(y, ref) / max(1.0, kappa) <= 4.0, f"{act!r} {what}({x}) = {y!r}, {mpmath.nstr(ref, 17)}"


def test_gelu_tail_in_the_normal_range_within_its_condition() -> None:
    # x·Φ(x) = x e^{log Φ(x)}: log Φ(x) ≈ -x²/2 carries its rounding into e^{...}, as x² does
    # in erfc above the tail; κ = |x f'/f| ≈ x² ≈ 1400 there
    act = actlab.get("gelu")
    for x in np.linspace(-37.9, -36.5, 15):
        for what in ("f", "f'"):
            ref = _oracle(act, float(x), what)
            _within_condition(act, float(x), what, _evaluate(act, float(x), what), ref)


@pytest.mark.parametrize("name", ["gelu", "silu", "mish", "swish_beta", "quick_gelu", "gelu_tanh"])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_far_tail_narrow_dtypes(name: str, dtype: str) -> None:
    act = actlab.get(name)
    info = np.finfo(dtype)
    for x in -np.geomspace(8.0, float(info.max), 60).astype(dtype):
        for what in ("f", "f'"):
            ref = _oracle(act, float(x), what)
            y = _evaluate(act, float(x), what, dtype)
            assert _ulps(y, ref, dtype) <= 1.0, f"{act!r} {dtype} {what}({x})"


def test_far_tail_limits() -> None:
    for name in ("gelu", "gelu_tanh", "silu", "mish", "swish_beta", "quick_gelu"):
        act = actlab.get(name)
        y, d = act(np.array([-np.inf, -1e300])), act.derivative(np.array([-np.inf, -1e300]))
        assert np.array_equal(y, [0.0, 0.0]) and np.array_equal(d, [0.0, 0.0]), name


# --- SELU's constants and its limit ---------------------------------------------------------

# the 32-digit values of Klambauer et al. (2017), eq. 14
PAPER_ALPHA = "1.6732632423543772848170429916717"
PAPER_SCALE = "1.0507009873554804934193349852946"


def test_selu_constants_are_correctly_rounded() -> None:
    with mpmath.workdps(40):
        alpha, scale = mpmath.mpf(PAPER_ALPHA), mpmath.mpf(PAPER_SCALE)
        assert SELU_ALPHA == float(alpha) == 1.6732632423543772
        assert SELU_SCALE == float(scale) == 1.0507009873554805
        assert SELU_SCALE_ALPHA == float(scale * alpha) == 1.7580993408473768
    assert SELU_SCALE * SELU_ALPHA != SELU_SCALE_ALPHA  # the product of the rounded two is an ulp off


def test_selu_limit_and_left_slope() -> None:
    selu = actlab.get("selu")
    assert selu(np.float64(-np.inf)) == -1.7580993408473768
    assert selu(np.float64(-1e300)) == -1.7580993408473768
    assert selu.derivative(np.float64(-0.0)) == 1.7580993408473768
    assert selu.spec.output_range(selu.bound).lo == -1.7580993408473768
    assert selu(np.float32(-np.inf)) == np.float32(-1.7580993408473768)


@pytest.mark.parametrize("act", ELEMENTWISE, ids=repr)
def test_limits_at_infinity_are_correctly_rounded(act: actlab.Activation) -> None:
    """f(±inf) and f'(±inf) are the correctly rounded limits of the definition, not an ulp off."""
    f = accuracy._textbook(act.spec, act.bound)
    for sign in (-1.0, 1.0):
        with mpmath.workdps(60):
            far = mpmath.mpf(sign) * mpmath.mpf(10) ** 40
            refs = {"f": f(far)}
            if act.spec.derivative_has_limits:
                refs["f'"] = accuracy.derivative_at(f, float(far))[0]
        for what, ref in refs.items():
            y = _evaluate(act, sign * math.inf, what)
            if abs(ref) > 1e15:  # unbounded: f(±inf) is ±inf (√|x| growth, sqrtsoftplus, is 1e20 at 1e40)
                assert y == math.copysign(math.inf, ref), f"{act!r} {what}({sign * math.inf})"
            elif abs(ref) < 1e-15:  # decays to 0 (1/√|x| decay, sqrtsoftplus', is 5e-21 at 1e40)
                assert y == 0.0, f"{act!r} {what}({sign * math.inf}) = {y!r}"
            else:
                assert y == float(ref), f"{act!r} {what}({sign * math.inf}) = {y!r}, limit {float(ref)!r}"


# --- hardsigmoid's corners -----------------------------------------------------------------


def _near(x0: float, steps: int = 4) -> list[float]:
    """x0 and its float neighbours, then points 1e-k away."""
    out = [x0]
    lo = hi = x0
    for _ in range(steps):
        lo, hi = math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)
        out += [lo, hi]
    return out + [x0 + s * 10.0**-k for k in range(1, 16) for s in (-1.0, 1.0)]


HARDSIGMOID_PARAMS = [{}, {"slope": 0.2}, {"offset": 0.4}, {"slope": 0.2, "offset": 0.4}, {"slope": 0.3, "offset": 0.7}]


@pytest.mark.parametrize("params", HARDSIGMOID_PARAMS, ids=str)
def test_hardsigmoid_at_its_corners(params: dict[str, float]) -> None:
    act = actlab.get("hardsigmoid", **params)
    p = act.bound
    for knee in act.spec.kink_points(p):
        for x in _near(knee.x):
            ref = _oracle(act, x, "f")
            y = _evaluate(act, x, "f")
            assert _ulps(y, ref) <= 2.0, f"{act!r} f({x!r}) = {y!r}, {mpmath.nstr(ref, 17)}"
            if x == knee.x:
                assert _evaluate(act, x, "f'") == knee.derivative
            else:
                with mpmath.workdps(60):
                    inside = p.offset + mpmath.mpf(x) / (1.0 / p.slope)
                assert _evaluate(act, x, "f'") == (p.slope if 0 < inside < 1 else 0.0), f"{act!r} f'({x!r})"


def test_hardsigmoid_is_exact_at_the_default_corner() -> None:
    hs = actlab.get("hardsigmoid")
    x = np.array([-3.0, math.nextafter(-3.0, 0.0), -3.0 + 1e-9, -2.9999999, 3.0, math.nextafter(3.0, 0.0)])
    y = hs(x)
    assert y[0] == 0.0 and y[4] == 1.0
    # (x + 3)/6: x + 3 is exact near -3, so one rounding
    np.testing.assert_array_equal(y[1:4], (x[1:4] + 3.0) / 6.0)
    for dtype in ("float16", "float32"):
        xs = np.array([-3.0, -2.999, -2.99, -2.5], dtype=dtype)
        xs = np.concatenate([xs, np.nextafter(xs[:1], np.array(0, dtype))])
        for x in xs:
            ref = _oracle(hs, float(x), "f")
            assert _ulps(_evaluate(hs, float(x), "f", dtype), ref, dtype) <= 1.0


@pytest.mark.parametrize("x0", [-3.0, -1.5, 3.0])
def test_hardswish_near_its_corners_and_zero_of_f_prime(x0: float) -> None:
    act = actlab.get("hardswish")
    for x in _near(x0):
        for what in ("f", "f'"):
            if x == x0 and what == "f'" and x0 != -1.5:
                continue  # a kink: f' takes PyTorch's one-sided value, tested in test_catalog
            ref = _oracle(act, x, what)
            assert _ulps(_evaluate(act, x, what), ref) <= 2.0, f"hardswish {what}({x!r})"


def test_affine_split_recovers_the_zero() -> None:
    for width, offset in [(6.0, 0.5), (5.0, 0.4), (1.0 / 0.3, 0.7), (3.0, 1e-300)]:
        hi, lo = F.affine_zero_split(width, offset)
        with mpmath.workdps(60):
            exact = -mpmath.mpf(offset) * mpmath.mpf(width)
            assert hi == float(exact)
            assert abs(mpmath.mpf(hi) + mpmath.mpf(lo) - exact) <= abs(exact) * mpmath.mpf(2) ** -104


# --- GELU where scipy's ndtr cancels ----------------------------------------------------------

GELU_WINDOW_POINTS = [
    -1.3527,  # 8.2 ulp/κ before
    -1.3515789473684212,
    -1.3642199198801694,  # f: 14.3 ulp (9.6 ulp/κ) before
    -1.2744360902255640,  # f': 8.4 ulp before
    -1.2554253269481104,  # f': 10.9 ulp before
    -1.4143,
    -1.0,
] + list(np.random.default_rng(11).uniform(-1.4143, -1.0, 40))


@pytest.mark.parametrize("what", ["f", "f'"])
def test_gelu_within_an_ulp_where_erfc_cancels(what: str) -> None:
    act = actlab.get("gelu")
    worst = max(_ulps(_evaluate(act, float(x), what), _oracle(act, float(x), what)) for x in GELU_WINDOW_POINTS)
    assert worst <= 1.0, f"gelu {what}: {worst:.3g} ulp"


def test_gelu_window_series_match_mpmath() -> None:
    f_series, d_series = F.gelu_window_series()
    c = (F.GELU_WINDOW[0] + F.GELU_WINDOW[1]) / 2
    with mpmath.workdps(40):
        for x in (F.GELU_WINDOW[0], F.GELU_WINDOW[1], c + 0.1):
            X, h = mpmath.mpf(x), mpmath.mpf(x) - mpmath.mpf(c)
            exact_f = X * mpmath.ncdf(X)
            exact_d = mpmath.ncdf(X) + X * mpmath.npdf(X)
            for (high, low, coefficients), exact in ((f_series, exact_f), (d_series, exact_d)):
                value = mpmath.mpf(high) + low + sum(mpmath.mpf(a) * h ** (n + 1) for n, a in enumerate(coefficients))
                # truncation is below 2^-64; the float coefficients (a1 h up to 0.4 |f|) leave 2^-54
                assert abs(value - exact) <= abs(exact) * mpmath.mpf(2) ** -54


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu", "mish", "swish_beta", "quick_gelu"])
def test_skipping_the_tails_for_float32_results_changes_no_float32_bit(name: str) -> None:
    import types

    from actlab.namespaces import numpy_ns

    # a namespace that computes in float64 for float32 results skips the tails and the window
    to_float32 = types.SimpleNamespace(**{**vars(numpy_ns), "target_bits": 24})
    assert not F.float64_result(to_float32) and F.float64_result(numpy_ns)
    act = actlab.get(name)
    x = np.concatenate([np.linspace(-800.0, 5.0, 40001), np.linspace(-1.5, -0.9, 4001)])
    x = x.astype(np.float32).astype(np.float64)
    for formula in (act.spec.forward, act.spec.derivative):
        # the formulas run bare here; the engine evaluates them under np.errstate(all="ignore")
        with np.errstate(all="ignore"):
            full = formula(x, act.bound, numpy_ns).astype(np.float32)
            narrow = formula(x, act.bound, to_float32).astype(np.float32)
        np.testing.assert_array_equal(narrow, full)
