"""Property-based tests: random inputs, random parameters, the laws every activation keeps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import actlab
from actlab.catalog.spec import Elementwise

from .conftest import ELEMENTWISE, VECTOR

floats64 = st.floats(allow_nan=True, allow_infinity=True, width=64)
moderate = st.floats(min_value=-60, max_value=60, allow_nan=False, width=64)


@pytest.mark.parametrize("act", ELEMENTWISE)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=5), elements=floats64))
def test_any_float64_array(act: actlab.Activation, x: np.ndarray) -> None:
    y, d = act(x), act.derivative(x)
    assert y.shape == x.shape == d.shape and y.dtype == d.dtype == np.float64
    assert np.array_equal(np.isnan(y), np.isnan(x))
    r = act.spec.output_range(act.bound)
    ok = ~np.isnan(y)
    tol = 0.01 if r.approx else 0.0
    assert (y[ok] >= r.lo - tol).all() and (y[ok] <= r.hi + tol).all()


@pytest.mark.parametrize("act", ELEMENTWISE)
@given(x=moderate)
def test_derivative_matches_a_finite_difference(act: actlab.Activation, x: float) -> None:
    kinks = [k.x for k in act.spec.kink_points(act.bound)]
    h = 1e-6 * max(1.0, abs(x))
    if any(abs(x - k) <= 2 * h for k in kinks):
        return
    fd = (act(x + h) - act(x - h)) / (2 * h)
    scale = max(abs(act(x + h)), abs(act(x - h)), 1.0) / max(abs(x), 1.0)
    assert act.derivative(x) == pytest.approx(fd, rel=1e-5, abs=1e-7 * scale)


@given(
    x=hnp.arrays(np.float32, st.integers(1, 20), elements=st.floats(width=32, allow_nan=False, allow_infinity=False))
)
def test_float32_matches_rounded_float64(x: np.ndarray) -> None:
    """Every float32 result is the float64 result rounded, to within one float32 ulp."""
    for spec in actlab.specs("elementwise"):
        act = actlab.get(spec.name)
        y32 = act(x).astype(np.float64)
        y64 = act(x.astype(np.float64))
        with np.errstate(over="ignore", invalid="ignore"):  # the test's own arithmetic at float32's max
            r = y64.astype(np.float32).astype(np.float64)
            ulp32 = np.spacing(np.abs(r).astype(np.float32)).astype(np.float64)
            same = (y32 == r) | (np.abs(y32 - y64) <= ulp32)
        assert same.all(), spec.name


@given(
    x=hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 8)), elements=moderate),
    shift=moderate,
    temperature=st.floats(0.05, 20),
)
def test_softmax_laws(x: np.ndarray, shift: float, temperature: float) -> None:
    sm = actlab.get("softmax", temperature=temperature)
    p = sm(x)
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-13)
    np.testing.assert_allclose(sm(x + shift), p, rtol=1e-9, atol=1e-12)
    lp = actlab.get("log_softmax", temperature=temperature)(x)
    assert (lp <= 0).all()
    np.testing.assert_allclose(np.exp(lp), p, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("act", VECTOR)
@given(data=st.data())
def test_vector_kinds_shapes(act: actlab.Activation, data: st.DataObject) -> None:
    dim = act.params.get("dim", -1)
    pieces = act.params.get("pieces", 2)
    shape = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    shape[dim] *= 2 * pieces
    x = data.draw(hnp.arrays(np.float64, tuple(shape), elements=moderate))
    y = act(x)
    assert act.vjp(x, np.ones_like(y)).shape == x.shape
    assert not isinstance(act.spec, Elementwise)


@given(
    slope=st.floats(-5, 5),
    alpha=st.floats(0.01, 5),
    beta=st.floats(0.01, 5),
    x=hnp.arrays(np.float64, 8, elements=moderate),
)
def test_random_parameters(slope: float, alpha: float, beta: float, x: np.ndarray) -> None:
    lr = actlab.get("leaky_relu", negative_slope=slope)
    assert np.array_equal(lr(x), np.where(x > 0, x, slope * x))
    elu = actlab.get("elu", alpha=alpha)
    assert (elu(x) > -alpha - 1e-12).all()
    sp = actlab.get("softplus", beta=beta)
    np.testing.assert_allclose(sp.derivative(x), actlab.get("sigmoid")(beta * x), rtol=1e-15)
    np.testing.assert_allclose(
        actlab.get("swish_beta", beta=beta)(x), x * actlab.get("sigmoid")(beta * x), rtol=1e-13, atol=1e-300
    )
