"""±inf, NaN, ±0, subnormals and huge inputs: right limits, NaN propagation, no warning, any dtype."""

from __future__ import annotations

import numpy as np
import pytest

import actlab

from .conftest import ALL_DEFAULTS, ELEMENTWISE

DTYPES = [np.float16, np.float32, np.float64]


def extremes(dtype: type) -> np.ndarray:
    info = np.finfo(dtype)
    vals = [0.0, -0.0, float(info.smallest_subnormal), float(info.tiny), float(info.max), 1e300, np.inf, np.nan]
    with np.errstate(over="ignore"):
        return np.array(vals + [-v for v in vals[2:]], dtype=dtype)


@pytest.mark.parametrize("act", ELEMENTWISE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_extremes_warning_free_nan_propagating(act: actlab.Activation, dtype: type) -> None:
    x = extremes(dtype)
    for y in (act(x), act.derivative(x)):  # filterwarnings=error turns any RuntimeWarning into a failure
        assert y.dtype == dtype and y.shape == x.shape
        assert np.array_equal(np.isnan(y[np.isnan(x)]), np.ones(2, bool))
    finite = np.isfinite(x)
    assert not np.isnan(act(x)[finite]).any()
    if act.spec.derivative_has_limits:
        assert not np.isnan(act.derivative(x)[~np.isnan(x)]).any()


def _limit(values: np.ndarray) -> np.ndarray:
    """What the value at ±inf must be, judged from the value at ±1e300: a function that grows at
    least like √|x| (sqrtsoftplus) is beyond 1e150 there and one that decays at least like 1/√|x|
    (its derivative) below 1e-150; no nonzero finite limit is that large or that small."""
    out = values.copy()
    big = np.abs(values) >= 1e100
    out[big] = np.sign(values[big]) * np.inf
    out[np.abs(values) <= 1e-100] = 0.0
    return out


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_limits_at_infinity(act: actlab.Activation) -> None:
    inf = np.array([-np.inf, np.inf])
    far = np.array([-1e300, 1e300])
    np.testing.assert_allclose(act(inf), _limit(act(far)), rtol=1e-12, atol=1e-300)
    if act.spec.derivative_has_limits:
        np.testing.assert_allclose(act.derivative(inf), _limit(act.derivative(far)), rtol=1e-12, atol=1e-300)
    else:
        assert np.isnan(act.derivative(inf)).all()


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_derivative_at_kinks_is_the_stated_choice(act: actlab.Activation) -> None:
    for kink in act.spec.kink_points(act.bound):
        assert act.derivative(kink.x) == pytest.approx(kink.derivative, rel=1e-15, abs=0), kink.rule
        for dtype in (np.float32, np.float64):
            if float(np.dtype(dtype).type(kink.x)) == kink.x:
                got = act.derivative(np.array([kink.x], dtype=dtype))[0]
                assert got == pytest.approx(kink.derivative, rel=1e-6), kink.rule


def test_stated_kink_decisions() -> None:
    d = {n: actlab.get(n).derivative for n in ("relu", "relu6", "hardswish", "hardsigmoid", "leaky_relu", "elu")}
    assert d["relu"](0.0) == 0.0
    assert d["relu6"](0.0) == 0.0 and d["relu6"](6.0) == 0.0
    assert d["hardswish"](-3.0) == 0.0 and d["hardswish"](3.0) == 1.0
    assert d["hardsigmoid"](-3.0) == 0.0 and d["hardsigmoid"](3.0) == 0.0
    assert d["leaky_relu"](0.0) == 0.01
    assert d["elu"](0.0) == 1.0


def test_float32_tails_are_not_flushed() -> None:
    silu = actlab.get("silu")
    y = silu(np.float32(-80.0))
    assert y.dtype == np.float32 and y != 0 and np.isfinite(y)  # -80 e^-80 ≈ -1.4e-33, a normal float32
    assert silu(np.float32(-95.0)) != 0  # ≈ -5.2e-40, a float32 subnormal, kept
    assert actlab.get("sigmoid").derivative(np.float32(20.0)) > 0  # s(1-s) would give 0 from 17.3


def test_known_peer_pitfalls_avoided() -> None:
    g = actlab.get("gelu")
    assert g(np.float32(-7.0)) != 0  # (1 + erf) loses every digit below -6 in float32
    assert actlab.get("gelu_tanh").derivative(1e13) == 1.0  # x**3 overflow gives NaN elsewhere
    sp = actlab.get("softplus")
    assert sp(1000.0) == 1000.0 and sp(-1000.0) == 0.0
    assert sp(20.5) != 20.5  # no silent threshold switch
    assert actlab.get("elu")(1e-20) == 1e-20 and actlab.get("elu")(-1e-20) == -1e-20  # expm1, not exp - 1
    assert actlab.get("tanh").derivative(np.float32(12.0)) > 0
    for n in ("mish", "silu"):
        assert np.array_equal(actlab.get(n)(np.array([-np.inf, np.inf])), [0.0, np.inf])


@pytest.mark.parametrize("act", ALL_DEFAULTS)
def test_dtypes_preserved_and_integers_promoted(act: actlab.Activation) -> None:
    x = np.array([[-2, -1, 0, 1], [2, 3, 4, 5]])
    assert act(x).dtype == np.float64
    for dtype in DTYPES:
        assert act(x.astype(dtype)).dtype == dtype
        assert act.jacobian(x.astype(dtype)).dtype == dtype
    assert np.array_equal(act(x.tolist()), act(x.astype(float)))


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array(["a"]), np.array([object()], dtype=object), "x"])
def test_non_real_input_raises_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        actlab.get("relu")(bad)


def test_longdouble_is_refused_clearly() -> None:
    if np.dtype(np.longdouble) == np.dtype(np.float64):
        pytest.skip("longdouble is float64 here")
    with pytest.raises(TypeError, match="float16, float32 and float64"):
        actlab.get("relu")(np.array([1.0], dtype=np.longdouble))


def test_scalars_and_out() -> None:
    gelu = actlab.get("gelu")
    y = gelu(1.0)
    assert isinstance(y, np.float64) and y == pytest.approx(0.8413447460685429, rel=1e-15)
    assert isinstance(gelu(np.float32(1.0)), np.float32)
    x = np.linspace(-3, 3, 7)
    out = np.empty_like(x)
    assert gelu(x, out=out) is out and np.array_equal(out, gelu(x))
    d = np.empty_like(x)
    assert gelu.derivative(x, out=d) is d
    out32 = np.empty(7, np.float32)
    gelu(x.astype(np.float32), out=out32)
    with pytest.raises(ValueError, match="shape"):
        gelu(x, out=np.empty(3))
    with pytest.raises(TypeError):
        gelu(x, out=np.empty(7, dtype=np.int64))
    with pytest.raises(TypeError):
        gelu(x, out=[0.0] * 7)


def test_vjp_broadcasts() -> None:
    act = actlab.get("tanh")
    x = np.linspace(-1, 1, 3)[:, None]
    g = np.arange(4.0)[None, :]
    v = act.vjp(x, g)
    assert v.shape == (3, 4)
    np.testing.assert_allclose(v, g * act.derivative(x))
    with pytest.raises(ValueError):
        act.vjp(np.ones(3), np.ones(4))


def test_declared_range_holds(subtests: object = None) -> None:
    x = np.concatenate([-np.logspace(-300, 300, 601), [0.0], np.logspace(-300, 300, 601), np.linspace(-50, 50, 20001)])
    for spec in actlab.specs("elementwise"):
        act = actlab.get(spec.name)
        y = act(x)
        r = spec.output_range(act.bound)
        tol = 1e-12 + (5e-3 * max(1.0, abs(r.lo)) if r.approx else 0.0)
        assert y.min() >= r.lo - tol, spec.name
        assert y.max() <= r.hi + tol, spec.name
        if r.approx:  # the approximate bound is the real minimum, rounded
            assert abs(y.min() - r.lo) <= tol, (spec.name, y.min())
        if r.lo_closed and np.isfinite(r.lo):
            assert y.min() == pytest.approx(r.lo, abs=1e-5), spec.name  # attained: the grid comes within its spacing
