"""Softmax and log-softmax, the gated family and maxout: values, limits, VJPs, Jacobians, errors."""

from __future__ import annotations

import numpy as np
import pytest

import actlab
from actlab.numpy import _jacobian_from_vjp

from .conftest import VECTOR

RNG = np.random.default_rng(7)


def numerical_jacobian(act: actlab.Activation, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences along the activation's axis (the last one here)."""
    cols = []
    for j in range(x.shape[-1]):
        e = np.zeros_like(x)
        e[..., j] = h
        cols.append((act(x + e) - act(x - e)) / (2 * h))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("act", VECTOR)
def test_jacobian_matches_finite_differences(act: actlab.Activation) -> None:
    if act.params.get("dim", -1) != -1:
        pytest.skip("checked along the last axis")
    x = RNG.standard_normal((3, 6)) + 0.05  # away from relu's kink and maxout's ties
    np.testing.assert_allclose(act.jacobian(x), numerical_jacobian(act, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("act", VECTOR)
def test_vjp_is_g_times_jacobian(act: actlab.Activation) -> None:
    x = RNG.standard_normal((2, 6, 4) if act.params.get("dim") == 0 else (2, 4, 6))
    y = act(x)
    g = RNG.standard_normal(y.shape)
    v = act.vjp(x, g)
    assert v.shape == x.shape
    dim = act.params.get("dim", -1)
    j = act.jacobian(x)  # (..., m, n) with the axis last
    expected = np.einsum("...m,...mn->...n", np.moveaxis(g, dim, -1), j)
    np.testing.assert_allclose(np.moveaxis(v, dim, -1), expected, rtol=1e-12, atol=1e-14)


def test_hand_written_softmax_jacobian_equals_the_vjp_construction() -> None:
    for name in ("softmax", "log_softmax"):
        act = actlab.get(name, temperature=0.7)
        x = RNG.standard_normal((4, 5))
        np.testing.assert_allclose(act.jacobian(x), _jacobian_from_vjp(act.spec, x, act.bound), rtol=1e-14, atol=1e-16)


def test_softmax_basic_laws() -> None:
    sm = actlab.get("softmax")
    x = RNG.standard_normal((5, 7)) * 30
    p = sm(x)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(sm(x + 1234.5), p, rtol=1e-11, atol=1e-300)
    assert (p >= 0).all()
    q = actlab.get("softmax", dim=0)(x)
    np.testing.assert_allclose(q.sum(0), 1.0, rtol=1e-15)


def test_softmax_temperature() -> None:
    x = np.array([2.0, 1.0, 0.1])
    hot, cold = actlab.get("softmax", temperature=10.0)(x), actlab.get("softmax", temperature=0.1)(x)
    assert hot.max() < 0.4 and cold.max() > 0.99
    np.testing.assert_allclose(actlab.get("softmax", temperature=2.0)(x), actlab.get("softmax")(x / 2), rtol=1e-15)
    assert np.array_equal(actlab.get("softmax", temperature=1e-300)(x), [1.0, 0.0, 0.0])  # -> argmax
    with pytest.raises(actlab.InvalidParameterError, match=r"\(0, inf\)"):
        actlab.get("softmax", temperature=0.0)
    with pytest.raises(actlab.InvalidParameterError):
        actlab.get("log_softmax", temperature=-1.0)


def test_softmax_rows_with_infinities_and_nan() -> None:
    sm, lsm = actlab.get("softmax"), actlab.get("log_softmax")
    x = np.array(
        [
            [1.0, np.inf, np.inf, -np.inf],
            [-np.inf, -np.inf, -np.inf, -np.inf],
            [1.0, np.nan, 0.0, 0.0],
            [0.0, -np.inf, 1.0, 2.0],
        ]
    )
    p = sm(x)
    assert np.array_equal(p[0], [0.0, 0.5, 0.5, 0.0])
    assert np.array_equal(p[1], [0.0, 0.0, 0.0, 0.0])  # a fully masked row: safe softmax
    assert np.isnan(p[2]).all()
    assert p[3, 1] == 0.0 and p[3].sum() == pytest.approx(1.0)
    lp = lsm(x)
    assert lp[0, 1] == lp[0, 2] == pytest.approx(-np.log(2)) and lp[0, 0] == lp[0, 3] == -np.inf
    assert (lp[1] == -np.inf).all() and np.isnan(lp[2]).all()
    assert lp[3, 1] == -np.inf
    np.testing.assert_allclose(lp[3, [0, 2, 3]], np.log(p[3, [0, 2, 3]]), rtol=1e-15)


def test_log_softmax_is_log_of_softmax_without_underflow() -> None:
    x = RNG.standard_normal((6, 5)) * 3
    np.testing.assert_allclose(actlab.get("log_softmax")(x), np.log(actlab.get("softmax")(x)), rtol=1e-13)
    far = np.array([0.0, -1000.0, -2000.0])
    lp = actlab.get("log_softmax")(far)
    assert np.array_equal(actlab.get("softmax")(far), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(lp, [0.0, -1000.0, -2000.0], rtol=1e-15)
    assert actlab.get("log_softmax")(np.array([0.0, -40.0]))[0] == pytest.approx(-np.exp(-40.0), rel=1e-14)


def test_log_softmax_with_tied_maxima_keeps_the_small_terms() -> None:
    """Each maximal entry adds exactly 1 to the row's sum: with ties, the rest must still not be added to them
    before log1p (log(2 + 2e-44) would lose the 2e-44)."""
    f = actlab.get("log_softmax")
    np.testing.assert_allclose(f(np.array([3.0, 3.0, 3.0])), -np.log(3.0), rtol=1e-15)
    top = f(np.array([100.0, 100.0, 0.0]))
    assert top[0] == top[1] == pytest.approx(-np.log(2.0) - np.exp(-100.0) / 2, rel=1e-15)
    assert f(np.array([100.0, 0.0, 0.0]))[0] == pytest.approx(-2 * np.exp(-100.0), rel=1e-14)
    assert f(np.array([100.0, 0.0, 0.0], dtype=np.float32))[0] == np.float32(-2 * np.exp(-100.0))  # in float32 too
    np.testing.assert_array_equal(f(np.array([np.inf, np.inf, 1.0])), [-np.log(2.0), -np.log(2.0), -np.inf])


def test_softmax_cross_entropy_gradient_is_p_minus_y() -> None:
    z = RNG.standard_normal((4, 10)) * 3
    y = np.eye(10)[[3, 1, 4, 1]]
    grad = actlab.get("log_softmax").vjp(z, -y)  # d/dz of -sum(y log softmax(z))
    np.testing.assert_allclose(grad, actlab.get("softmax")(z) - y, rtol=1e-13, atol=1e-16)


def test_gated_family_values_and_halves() -> None:
    x = np.array([[1.0, -2.0, 0.5, 3.0]])
    a, b = x[:, :2], x[:, 2:]
    for name, gate in (("glu", "sigmoid"), ("reglu", "relu"), ("geglu", "gelu"), ("swiglu", "silu")):
        np.testing.assert_allclose(actlab.get(name)(x), a * actlab.get(gate)(b), rtol=1e-15)
    np.testing.assert_allclose(actlab.get("bilinear")(x), a * b, rtol=0)
    assert actlab.get("glu", dim=0)(np.ones((4, 3))).shape == (2, 3)
    with pytest.raises(actlab.ShapeError, match="odd"):
        actlab.get("glu")(np.ones(5))
    with pytest.raises(actlab.ShapeError):
        actlab.get("swiglu")(np.float64(1.0))
    with pytest.raises(actlab.ShapeError, match="out of range"):
        actlab.get("geglu", dim=3)(np.ones((2, 2)))


def test_maxout_values_ties_and_routing() -> None:
    mo = actlab.get("maxout")
    x = np.array([1.0, 3.0, 2.0, 2.0, -1.0, np.nan])
    y = mo(x)
    assert y[0] == 3.0 and y[1] == 2.0 and np.isnan(y[2])
    v = mo.vjp(x, np.array([10.0, 20.0, 30.0]))
    assert np.array_equal(v[:4], [0.0, 10.0, 20.0, 0.0])  # the tie goes to the first maximal piece
    assert np.array_equal(actlab.get("maxout", pieces=3)(np.arange(6.0)), [2.0, 5.0])
    with pytest.raises(actlab.ShapeError, match="multiple of 4"):
        actlab.get("maxout", pieces=4)(np.ones(6))
    with pytest.raises(actlab.InvalidParameterError, match="integer"):
        actlab.get("maxout", pieces=1.5)
    with pytest.raises(actlab.InvalidParameterError):
        actlab.get("maxout", pieces=0)


def test_vector_kinds_refuse_elementwise_derivative() -> None:
    with pytest.raises(TypeError, match="vjp"):
        actlab.get("softmax").derivative([1.0, 2.0])


def test_elementwise_jacobian_is_diagonal() -> None:
    x = np.array([-1.0, 0.5, 2.0])
    act = actlab.get("gelu")
    np.testing.assert_array_equal(act.jacobian(x), np.diag(act.derivative(x)))
