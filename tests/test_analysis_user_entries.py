"""Computed properties do not depend on whether an entry is built in.

Every built-in elementwise entry is registered again as a user would write it: its textbook
formula (the naive form, ``Elementwise.definition``) as the forward, and the derivative a user
would derive by hand from it (s(1 - s), 1 - tanh², ...), with no care for float64.  The copy
must get the built-in's extrema, monotonicity, kinks and continuity class.  Then the two cases
first seen with user entries: x σ(x³) and tanh.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import mpmath
import numpy as np
import pytest

import actlab
from actlab.analysis import find_kinks, properties
from actlab.catalog import registry
from actlab.catalog.spec import SMOOTH, Elementwise, Params
from actlab.cli import main

from .conftest import ELEMENTWISE

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
SELU_SCALE, SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717


def _sig(v: Any, xp: Any) -> Any:
    return 1 / (1 + xp.exp(-v))


def _gelu_tanh_slope(x: Any, xp: Any) -> Any:
    t = xp.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x**2)


def _swish_slope(beta: Any) -> Any:
    return lambda x, p, xp: _sig(beta(p) * x, xp) + beta(p) * x * _sig(beta(p) * x, xp) * (1 - _sig(beta(p) * x, xp))


def _softplus_slope(x: Any, p: Params, xp: Any) -> Any:
    s = _sig(p.beta * x, xp)
    return s if p.threshold is None else xp.where(p.beta * x > p.threshold, 1.0, s)


def _mish_slope(x: Any, p: Params, xp: Any) -> Any:
    t = xp.tanh(xp.log1p(xp.exp(x)))
    return t + x * (1 - t**2) * _sig(x, xp)


def _xielu_slope(x: Any, p: Params, xp: Any) -> Any:
    neg = xp.where(x < p.eps, p.alpha_n * (xp.exp(x) - 1), -p.alpha_n) + p.beta
    return xp.where(x > 0, 2 * p.alpha_p * x + p.beta, neg)


NAIVE_DERIVATIVES: dict[str, Any] = {
    # what a user derives by hand from the textbook forward; the piecewise entries (relu, hardtanh,
    # ...) keep their own derivative, which already is that (a selection between constants)
    "sigmoid": lambda x, p, xp: _sig(x, xp) * (1 - _sig(x, xp)),
    "tanh": lambda x, p, xp: 1 - ((xp.exp(x) - xp.exp(-x)) / (xp.exp(x) + xp.exp(-x))) ** 2,
    "elu": lambda x, p, xp: xp.where(x > 0, 1.0, p.alpha * xp.exp(x)),
    "selu": lambda x, p, xp: xp.where(x > 0, SELU_SCALE, SELU_SCALE * SELU_ALPHA * xp.exp(x)),
    "celu": lambda x, p, xp: xp.where(x > 0, 1.0, xp.exp(x / p.alpha)),
    "gelu": lambda x, p, xp: (
        _gelu_tanh_slope(x, xp)
        if p.approximate == "tanh"
        else xp.ndtr(x) + x * xp.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    ),
    "gelu_tanh": lambda x, p, xp: _gelu_tanh_slope(x, xp),
    "quick_gelu": _swish_slope(lambda p: 1.702),
    "silu": _swish_slope(lambda p: 1.0),
    "swish_beta": _swish_slope(lambda p: p.beta),
    "mish": _mish_slope,
    "softplus": _softplus_slope,
    "log_sigmoid": lambda x, p, xp: 1 / (1 + xp.exp(x)),
    "softsign": lambda x, p, xp: 1 / (1 + xp.abs(x)) ** 2,
    "hardsigmoid": lambda x, p, xp: xp.where((x * p.slope + p.offset > 0) & (x * p.slope + p.offset < 1), p.slope, 0.0),
    "tanhshrink": lambda x, p, xp: xp.tanh(x) ** 2,
    "squareplus": lambda x, p, xp: (1 + x / xp.sqrt(x * x + p.b)) / 2,
    "snake": lambda x, p, xp: 1 + 2 * xp.sin(p.alpha * x) * xp.cos(p.alpha * x),
    "xielu": _xielu_slope,
    "laplace": lambda x, p, xp: xp.exp(-(((x - p.mu) / p.sigma) ** 2) / 2) / (p.sigma * math.sqrt(2 * math.pi)),
    # the hand derivative σ(x)/(2√log(1 + eˣ)) is σ/0 = inf from x ≈ −37 (and 0/0 below exp's underflow),
    # where f′ ≈ e^{x/2}/2 is finite: a formula that gives no value there cannot be analysed into one,
    # so this copy keeps the entry's own derivative (its forward is still the textbook one)
    "sqrtsoftplus": lambda x, p, xp: actlab.spec("sqrtsoftplus").derivative(x, p, xp),
}


def _user_copy(spec: Elementwise, name: str) -> Elementwise:
    derivative = NAIVE_DERIVATIVES.get(spec.name, spec.derivative)
    return Elementwise(
        name=name,
        title=spec.title,
        summary=spec.summary,
        formula=spec.formula,
        derivative_formula=spec.derivative_formula,
        year=None,
        uses=("a test",),
        params=spec.params,
        forward=spec.textbook(),
        derivative=derivative,
    )


def test_every_textbook_entry_has_its_hand_derivative() -> None:
    """Each entry whose forward is not its textbook formula gets a derivative written from the textbook one."""
    missing = [
        s.name for s in actlab.specs("elementwise") if s.definition is not None and s.name not in NAIVE_DERIVATIVES
    ]
    assert missing == []


@pytest.fixture
def user_copy(request: pytest.FixtureRequest) -> Iterator[tuple[actlab.Activation, actlab.Activation]]:
    act: actlab.Activation = request.param
    spec = act.spec
    assert isinstance(spec, Elementwise)
    name = f"user_{spec.name}"
    actlab.register(_user_copy(spec, name))
    try:
        yield act, actlab.get(name, **act.params)
    finally:
        registry.unregister(name)


def _same_place(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-7 * max(1.0, abs(a))


@pytest.mark.parametrize("user_copy", ELEMENTWISE, indirect=True)
def test_a_textbook_copy_gets_the_built_in_properties(user_copy: tuple[actlab.Activation, actlab.Activation]) -> None:
    built_in, copy = user_copy
    want, got = properties(built_in), properties(copy)
    for which in ("infimum", "supremum"):
        w, g = getattr(want, which), getattr(got, which)
        assert g.value == pytest.approx(w.value, rel=1e-9, abs=1e-12), which
        assert _same_place(w.at, g.at), (which, w.at, g.at)
    assert got.monotonic == want.monotonic
    assert got.kinks == pytest.approx(want.kinks, abs=1e-9)
    assert got.smoothness == want.smoothness
    assert got.dead_fraction == pytest.approx(want.dead_fraction, rel=1e-9, abs=1e-15)
    assert got.saturated_fraction == pytest.approx(want.saturated_fraction, rel=1e-9, abs=1e-15)
    assert got.lipschitz == pytest.approx(want.lipschitz, rel=1e-9)


def _register(name: str, forward: Any, derivative: Any) -> None:
    actlab.register(
        Elementwise(
            name=name,
            title=name,
            summary=name,
            formula="-",
            derivative_formula="-",
            year=None,
            uses=("a test",),
            forward=forward,
            derivative=derivative,
            monotonic=False,
        ),
        replace=True,
    )


@pytest.fixture
def cube_gate() -> Iterator[str]:
    """The README's own example, with its derivative as written there: s + 3x³ s(1 - s)."""
    _register(
        "cube_gate",
        lambda x, p, xp: x / (1 + xp.exp(-x * x * x)),
        lambda x, p, xp: (s := 1 / (1 + xp.exp(-x * x * x))) + 3 * x**3 * s * (1 - s),
    )
    yield "cube_gate"
    registry.unregister("cube_gate")


@pytest.fixture
def my_tanh() -> Iterator[str]:
    _register("my_tanh", lambda x, p, xp: xp.tanh(x), lambda x, p, xp: 1 - xp.tanh(x) ** 2)
    yield "my_tanh"
    registry.unregister("my_tanh")


def test_cube_gate_is_smooth_with_its_minimum_to_nine_digits(cube_gate: str) -> None:
    # 1 - s has few bits left where x³ > 25: the scan's f'' sees its rounding steps (near 3.0 and 3.1)
    assert find_kinks(cube_gate) == ((), SMOOTH)
    p = properties(cube_gate)
    assert p.kinks == () and p.smoothness == SMOOTH and not p.monotonic
    with mpmath.workdps(40):
        f = lambda t: t / (1 + mpmath.exp(-(t**3)))  # noqa: E731
        at = mpmath.findroot(lambda t: mpmath.diff(f, t), -0.8)
        value = f(at)
    assert p.infimum.at == pytest.approx(float(at), abs=1e-9)
    assert p.infimum.value == pytest.approx(float(value), abs=1e-9)
    assert p.supremum.value == math.inf and p.supremum.at is None
    assert p.dead_fraction == 0.0


def test_tanh_of_a_user_approaches_its_limits(my_tanh: str) -> None:
    # float64 rounds tanh(x) to -1 from x = -19.06 on, and 1 - tanh² to 0: only the oracle tells
    p = properties(my_tanh)
    assert (p.infimum.value, p.infimum.at) == (-1.0, None)
    assert (p.supremum.value, p.supremum.at) == (1.0, None)
    assert p.monotonic and p.kinks == () and p.smoothness == SMOOTH
    assert p.dead_fraction == 0.0
    assert p.saturated_fraction == pytest.approx(properties("tanh").saturated_fraction, rel=1e-9)


def _rows(out: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (line.partition("  ") for line in out.splitlines()[3:]) if v}


def test_analyze_prints_the_user_entries_like_built_in_ones(
    cube_gate: str, my_tanh: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", "cube_gate"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["kinks found"] == "none" and rows["continuity"] == "C∞ (smooth)"
    # f' = s + 3x³ s(1 - s) is 0 in float64 below x = -9.06 (s underflows), not in fact
    assert rows["dead fraction"].startswith("0  ")
    assert main(["analyze", "my_tanh"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["infimum"] == "-1 (approached at ±inf)" and rows["supremum"] == "1 (approached at ±inf)"


def test_true_kinks_and_attained_extrema_are_kept() -> None:
    """The oracle rejects float64 artefacts only: relu's corner, hardtanh's, celu's C1 join stay."""
    assert find_kinks("relu") == ((0.0,), 0)
    assert find_kinks("hardtanh") == ((-1.0, 1.0), 0)
    assert find_kinks("celu") == ((0.0,), 1)
    assert find_kinks("hardshrink")[1] == -1
    relu, relu6, hardswish = properties("relu"), properties("relu6"), properties("hardswish")
    assert (relu.infimum.value, relu.infimum.at) == (0.0, 0.0)
    assert (relu6.supremum.value, relu6.supremum.at) == (6.0, 6.0)
    assert (hardswish.infimum.value, hardswish.infimum.at) == (-0.375, -1.5)


def test_a_kink_between_grid_points_is_located() -> None:
    """A corner at 1/3 (not a grid point, not a round number) is found and placed to 1e-9."""
    _register(
        "corner_third",
        lambda x, p, xp: xp.where(x > 1 / 3, 2 * x - 1 / 3, x) * xp.exp(-x * x / 8),
        lambda x, p, xp: (
            (xp.where(x > 1 / 3, 2.0, 1.0) - x / 4 * xp.where(x > 1 / 3, 2 * x - 1 / 3, x)) * xp.exp(-x * x / 8)
        ),
    )
    _register(
        "c1_third",
        lambda x, p, xp: xp.where(x > 1 / 3, (x - 1 / 3) ** 2, 0.0) + xp.sin(x),
        lambda x, p, xp: xp.where(x > 1 / 3, 2 * (x - 1 / 3), 0.0) + xp.cos(x),
    )
    try:
        kinks, klass = find_kinks("corner_third")
        assert klass == 0 and kinks == pytest.approx((1 / 3,), abs=1e-9)
        kinks, klass = find_kinks("c1_third")
        assert klass == 1 and kinks == pytest.approx((1 / 3,), abs=1e-9)
    finally:
        registry.unregister("corner_third")
        registry.unregister("c1_third")


def test_a_formula_the_oracle_cannot_evaluate_keeps_the_float64_scan() -> None:
    """xp.sigmoid exists for PyTorch only: without an oracle the scan's own verdict stands."""
    _register(
        "np_only",
        lambda x, p, xp: np.maximum(x, 0.0) if xp.name == "numpy" else xp.sigmoid(x),
        lambda x, p, xp: np.where(x > 0, 1.0, 0.0),
    )
    try:
        assert find_kinks("np_only") == ((0.0,), 0)
        p = properties("np_only")
        assert (p.infimum.value, p.infimum.at) == (0.0, 0.0)
    finally:
        registry.unregister("np_only")
