"""Identities between activations, and the worked values printed in the article."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import actlab

X = np.concatenate([np.linspace(-30, 30, 1201), np.logspace(-12, 2, 50), -np.logspace(-12, 2, 50)])


def get(name: str, **p: float) -> actlab.Activation:
    return actlab.get(name, **p)


def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-14, atol: float = 1e-300) -> None:
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def test_tanh_is_a_scaled_sigmoid() -> None:
    close(get("tanh")(X), 2 * get("sigmoid")(2 * X) - 1, atol=1e-15)


def test_softplus_derivative_is_sigmoid() -> None:
    assert np.array_equal(get("softplus").derivative(X), get("sigmoid")(X))
    close(get("softplus", beta=2.0).derivative(X), get("sigmoid")(2 * X))


def test_elu_derivative_is_elu_plus_alpha_below_zero() -> None:
    for alpha in (1.0, 0.5, 2.0):
        elu = get("elu", alpha=alpha)
        neg = X[X <= 0]
        close(elu.derivative(neg), elu(neg) + alpha, atol=1e-15)


def test_gelu_derivative_is_phi_plus_x_density() -> None:
    x = X[np.abs(X) < 8]
    close(
        get("gelu").derivative(x), special.ndtr(x) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi), rtol=1e-12, atol=1e-17
    )


def test_swish_derivative_identity() -> None:
    s, sig = get("silu"), get("sigmoid")
    close(s.derivative(X), s(X) + sig(X) * (1 - s(X)), rtol=1e-10, atol=1e-15)


def test_hardswish_is_x_times_hardsigmoid() -> None:
    close(get("hardswish")(X), X * get("hardsigmoid")(X), rtol=5e-15, atol=0)


def test_reparameterisations() -> None:
    close(get("silu")(X), get("swish_beta", beta=1.0)(X), rtol=0)
    close(get("quick_gelu")(X), get("swish_beta", beta=1.702)(X), rtol=0)
    close(get("gelu", approximate="tanh")(X), get("gelu_tanh")(X), rtol=0)
    close(get("log_sigmoid")(X), -get("softplus")(-X), rtol=1e-15)
    selu, elu = get("selu"), get("elu", alpha=1.6732632423543772)
    close(selu(X), 1.0507009873554805 * elu(X), rtol=1e-15)
    close(get("prelu", weight=0.3)(X), get("leaky_relu", negative_slope=0.3)(X), rtol=0)
    close(get("hardtanh", min_val=0.0, max_val=6.0)(X), get("relu6")(X), rtol=0)
    close(get("celu", alpha=1.0)(X), get("elu", alpha=1.0)(X), rtol=0)
    close(get("swish_beta", beta=0.0)(X), X / 2, rtol=0)


def test_selu_constants_match_the_paper() -> None:
    from actlab.catalog.elementwise import SELU_ALPHA, SELU_SCALE

    # the paper's 32-digit values, eq. 14 of Klambauer et al. (2017)
    assert SELU_ALPHA == pytest.approx(1.6732632423543772848170429916717, rel=2e-16)
    assert SELU_SCALE == pytest.approx(1.0507009873554804934193349852946, rel=2e-16)


def test_star_relu_normalises_a_standard_normal() -> None:
    x, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()
    y = get("star_relu")(x)
    assert np.dot(w, y) == pytest.approx(0.0, abs=1e-3)  # relu² has a kink: quadrature is only approximate
    assert np.dot(w, y * y) == pytest.approx(1.0, abs=2e-3)


# --- the article's worked examples ------------------------------------------------------


def test_article_sigmoid_values() -> None:
    x = np.array([-5, -2, 0, 2, 5])
    s = get("sigmoid")
    assert np.array_equal(s(x).round(4), [0.0067, 0.1192, 0.5, 0.8808, 0.9933])
    assert np.array_equal(s.derivative(x).round(4), [0.0066, 0.105, 0.25, 0.105, 0.0066])


def test_article_sigmoid_vs_tanh_gradients() -> None:
    x = np.array([0, 1, 2, 3])
    assert np.array_equal(get("sigmoid").derivative(x).round(4), [0.25, 0.1966, 0.105, 0.0452])
    assert np.array_equal(get("tanh").derivative(x).round(4), [1.0, 0.42, 0.0707, 0.0099])
    assert get("tanh").derivative(0.0) == 4 * get("sigmoid").derivative(0.0)


def test_article_gelu_swish_mish_values() -> None:
    # the article's code uses the tanh form of GELU
    values = {-1.0: (-0.1588, -0.2689, -0.3034), -0.5: (-0.1543, -0.1888, -0.2207)}
    for x, expected in values.items():
        got = tuple(round(float(get(n)(x)), 4) for n in ("gelu_tanh", "silu", "mish"))
        assert got == expected
    assert round(float(get("gelu")(-1.0)), 4) == -0.1587  # the exact GELU differs in the 4th digit


def test_article_softmax_example() -> None:
    p = get("softmax")([2.0, 1.0, 0.1])
    assert np.array_equal(p.round(4), [0.659, 0.2424, 0.0986])
    assert p.sum() == pytest.approx(1.0, abs=1e-15)


def test_article_dying_relu_example() -> None:
    pre = -5.0 * np.array([1, 2, 3, 4, 5])
    relu = get("relu")
    assert not relu(pre).any() and not relu.derivative(pre).any()


def test_article_comparison_table_ranges() -> None:
    """The article's table: GELU ≈(-0.17, ∞), Swish ≈(-0.28, ∞), Mish ≈(-0.31, ∞), ELU (-α, ∞)."""
    x = np.linspace(-5, 5, 200001)
    assert round(float(get("gelu")(x).min()), 2) == -0.17
    assert round(float(get("silu")(x).min()), 2) == -0.28
    assert round(float(get("mish")(x).min()), 2) == -0.31
    assert str(actlab.spec("elu").output_range()) == "(-1, inf)"
    assert str(actlab.spec("relu").output_range()) == "[0, inf)"
