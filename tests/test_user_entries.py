"""A user's own activation: registration checks, and what `show`, `list` and `accuracy` say of it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import pytest

import actlab
from actlab.catalog import registry


def cube_gate(**changes: Any) -> actlab.Elementwise:
    """The README's x σ(x³), with a derivative that is right in both tails."""

    def sigmoid(t: Any, xp: Any) -> Any:
        return 1 / (1 + xp.exp(-t))

    spec = actlab.Elementwise(
        name="cube_gate",
        title="Cube gate",
        summary="x σ(x³)",
        year=2026,
        uses=("an experiment",),
        formula=r"x\,\sigma(x^3)",
        derivative_formula=r"\sigma(x^3) + 3x^3\sigma(x^3)\sigma(-x^3)",
        forward=lambda x, p, xp: x * sigmoid(x**3, xp),
        derivative=lambda x, p, xp: sigmoid(x**3, xp) + xp.mul0(3 * x**3, sigmoid(x**3, xp) * sigmoid(-(x**3), xp)),
        monotonic=False,
    )
    return dataclasses.replace(spec, **changes)


@pytest.fixture
def registered() -> Iterator[actlab.Elementwise]:
    spec = actlab.register(cube_gate())
    try:
        yield spec
    finally:
        actlab.unregister("cube_gate")


# --- registration checks ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [s.name for s in actlab.specs("elementwise")])
def test_every_builtin_derivative_agrees_with_its_forward(name: str) -> None:
    spec = actlab.spec(name)
    registry.check_derivatives(spec)  # raises RegistrationError on a disagreement
    registry._check_param_derivative_keys(spec)


def test_a_wrong_derivative_is_refused_at_registration_with_the_worst_point() -> None:
    wrong = cube_gate(derivative=lambda x, p, xp: 1 / (1 + xp.exp(-(x**3))) + x**3 * xp.exp(-(x**3)))
    with pytest.raises(actlab.RegistrationError, match=r"cube_gate: its derivative disagrees .* at x = -?\d"):
        actlab.register(wrong)
    assert "cube_gate" not in actlab.names()


def test_an_undeclared_kink_is_not_a_wrong_derivative() -> None:
    # a user's ReLU-like entry that declares no kink, with the kink on a check point's neighbourhood
    shifted = actlab.Elementwise(
        name="shifted_relu",
        title="shifted ReLU",
        summary="max(x - c, 0)",
        formula="",
        derivative_formula="",
        year=None,
        uses=(),
        params=(actlab.Param("c", 8 * (2 / 47 - 1) + math.pi / 100, "shift"),),  # on a check point itself
        forward=lambda x, p, xp: xp.maximum(x - p.c, 0.0),
        derivative=lambda x, p, xp: xp.where(x > p.c, 1.0, 0.0),
        monotonic=True,
    )
    actlab.register(shifted)
    try:
        for c in (0.3, 1 / 3, -5.123456):
            actlab.register(dataclasses.replace(shifted, params=(actlab.Param("c", c, "shift"),)), replace=True)
    finally:
        actlab.unregister("shifted_relu")


def test_a_param_derivative_must_name_a_learnable_parameter() -> None:
    learnable = actlab.Param("k", 1.0, "scale", learnable=True)
    fixed = actlab.Param("k", 1.0, "scale")
    base = cube_gate(forward=lambda x, p, xp: p.k * x, derivative=lambda x, p, xp: p.k + 0 * x, params=(learnable,))
    with pytest.raises(actlab.RegistrationError, match=r"'kk', which is not one of its parameters \(they are: k\)"):
        actlab.register(dataclasses.replace(base, param_derivatives={"kk": lambda x, p, xp: x}))
    with pytest.raises(actlab.RegistrationError, match="'k', which is not learnable"):
        actlab.register(dataclasses.replace(base, params=(fixed,), param_derivatives={"k": lambda x, p, xp: x}))
    with pytest.raises(actlab.RegistrationError, match=r"param_derivatives\['k'\] disagrees"):
        actlab.register(dataclasses.replace(base, param_derivatives={"k": lambda x, p, xp: 2 * x}))
    actlab.register(dataclasses.replace(base, param_derivatives={"k": lambda x, p, xp: x}))
    actlab.unregister("cube_gate")


def test_a_formula_that_fails_on_arrays_is_refused() -> None:
    import math as m

    scalar_only = cube_gate(forward=lambda x, p, xp: m.tanh(x))
    with pytest.raises(actlab.RegistrationError, match="cube_gate: evaluating forward on an array failed"):
        actlab.register(scalar_only)


def test_is_builtin() -> None:
    assert registry.is_builtin("gelu") and registry.is_builtin("SiLU")
    actlab.register(cube_gate())
    try:
        assert not registry.is_builtin("cube_gate")
    finally:
        actlab.unregister("cube_gate")
