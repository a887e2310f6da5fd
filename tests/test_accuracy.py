"""The NumPy reference against the mpmath oracle (50 digits) on a grid spanning each float range.

float16 and float32: at most 1 ulp; float64: at most max(4, 4κ) ulp (κ the condition
number), or the spec's stated, measured exception.  f' is checked against a
high-precision numerical derivative of the textbook definition.
"""

from __future__ import annotations

import numpy as np
import pytest

import actlab
from actlab import accuracy

from .conftest import ELEMENTWISE, ELEMENTWISE_DEFAULTS, VECTOR


def _check(act: actlab.Activation, dtype: str) -> None:
    failures = []
    for what in ("f", "f'"):
        w = accuracy.measure(act, dtype, what)
        assert w.points > 100
        if not w.passed:
            failures.append(
                f"{what}: {w.ulp:.3g} ulp at x={w.ulp_x!r}; {w.scaled:.3g} ulp/max(1,κ) at x={w.scaled_x!r} "
                f"(bound {w.bound})"
            )
    assert not failures, f"{act!r} {dtype}: " + "; ".join(failures)


@pytest.mark.parametrize("act", ELEMENTWISE)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_elementwise_accuracy(act: actlab.Activation, dtype: str) -> None:
    _check(act, dtype)


@pytest.mark.parametrize("act", ELEMENTWISE_DEFAULTS)
def test_elementwise_accuracy_float16(act: actlab.Activation) -> None:
    _check(act, "float16")


@pytest.mark.parametrize("act", VECTOR)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vector_accuracy(act: actlab.Activation, dtype: str) -> None:
    w = accuracy.measure_vector(act, dtype)
    assert w.points > 20
    assert w.passed, f"{act!r} {dtype}: {w.ulp:.3g} ulp at {w.ulp_x!r}; {w.scaled:.3g} per condition"


def test_oracle_catches_a_textbook_formula() -> None:
    """The oracle is not a mirror: sigma' as s(1 - s) fails it, as it fails in PyTorch and JAX."""
    spec = actlab.spec("sigmoid")
    naive = actlab.Elementwise(
        name="naive_sigmoid",
        title="naive",
        summary="s(1 - s)",
        formula="",
        derivative_formula="",
        year=None,
        uses=(),
        forward=lambda x, p, xp: 1 / (1 + xp.exp(-x)),
        derivative=lambda x, p, xp: (1 / (1 + xp.exp(-x))) * (1 - 1 / (1 + xp.exp(-x))),
        definition=spec.definition,
    )
    actlab.register(naive)
    try:
        w = accuracy.measure("naive_sigmoid", "float32", "f'")
        assert not w.passed and w.ulp > 1e3
    finally:
        actlab.unregister("naive_sigmoid")


def test_ulp_units() -> None:
    assert accuracy.ulp(1.0, "float64") == 2.0**-52
    assert accuracy.ulp(1.5, "float32") == 2.0**-23
    assert accuracy.ulp(0.0, "float64") == 2.0**-1074
    assert accuracy.ulp(1e-320, "float64") == 2.0**-1074
    assert accuracy.ulp_error(np.float32(1.0), 1, "float32") == 0.0
