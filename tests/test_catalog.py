"""The catalog: complete entries, names and aliases, parameters and their domains, registration,
and the declared properties checked against computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

import actlab
from actlab.catalog.spec import DISCONTINUOUS, SMOOTH, Elementwise, resolve

from .conftest import ALL_DEFAULTS, ELEMENTWISE

ARTICLE = [
    "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "gelu_tanh", "silu",
    "swish_beta", "mish", "softplus", "hardsigmoid", "hardswish", "relu6", "maxout", "glu", "softmax",
    "log_softmax", "identity",
]  # fmt: skip
FRAMEWORKS = [
    "celu", "softsign", "log_sigmoid", "hardtanh", "tanhshrink", "softshrink", "hardshrink", "quick_gelu",
    "squareplus", "relu2", "reglu", "geglu", "swiglu", "bilinear", "snake", "star_relu", "xielu",
]  # fmt: skip


def test_catalog_holds_every_activation_named() -> None:
    assert set(ARTICLE + FRAMEWORKS) <= set(actlab.names())
    assert len(actlab.names()) == len(set(actlab.names()))


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("swish", "silu"), ("SiLU", "silu"), ("gelu_new", "gelu_tanh"), ("gelu_pytorch_tanh", "gelu_tanh"),
        ("hard_swish", "hardswish"), ("hard_silu", "hardswish"), ("Hardswish", "hardswish"),
        ("linear", "identity"), ("LeakyReLU", "leaky_relu"), ("leaky-relu", "leaky_relu"),
        ("LogSoftmax", "log_softmax"), ("hard_sigmoid", "hardsigmoid"), ("ReLU6", "relu6"),
        ("squared_relu", "relu2"), ("GELU", "gelu"), ("logistic", "sigmoid"),
    ],
)  # fmt: skip
def test_aliases_and_case_resolve(alias: str, name: str) -> None:
    assert actlab.spec(alias).name == name
    assert actlab.get(alias).name == name


@pytest.mark.parametrize("act", ALL_DEFAULTS)
def test_every_entry_is_complete(act: actlab.Activation) -> None:
    s = act.spec
    assert s.title and s.summary and s.formula and s.derivative_formula and s.uses
    assert s.year is None or 1950 < s.year <= 2026
    if s.paper is not None:
        assert s.paper.url.startswith("https://") and s.paper.year == s.year
    for q in s.params:
        assert q.doc
        assert q.validate(q.default, s.name) == q.default
        if q.example is not None:
            q.validate(q.example, s.name)
    assert isinstance(s.output_range(), actlab.Interval)
    assert s.name in repr(act)


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(actlab.UnknownActivationError, match="did you mean 'gelu'"):
        actlab.get("gelo")
    with pytest.raises(KeyError):  # it is a KeyError too, as dict lookups raise
        actlab.get("swishh")
    with pytest.raises(actlab.UnknownActivationError, match="'mish'"):
        actlab.spec("Mishh")
    with pytest.raises(TypeError):
        actlab.spec(3)  # type: ignore[arg-type]


def test_parameters_validate_with_their_domain_in_the_message() -> None:
    assert actlab.get("leaky_relu", negative_slope=0.1).params == {"negative_slope": 0.1}
    with pytest.raises(actlab.InvalidParameterError, match=r"\(0, inf\)"):
        actlab.get("softplus", beta=0)
    with pytest.raises(actlab.InvalidParameterError, match=r"\[0, inf\)"):
        actlab.get("elu", alpha=-1.0)
    with pytest.raises(actlab.InvalidParameterError, match="finite real"):
        actlab.get("leaky_relu", negative_slope=math.nan)
    with pytest.raises(actlab.InvalidParameterError, match="did you mean 'negative_slope'"):
        actlab.get("leaky_relu", negative_slop=0.1)
    with pytest.raises(actlab.InvalidParameterError, match="one of 'none', 'tanh'"):
        actlab.get("gelu", approximate="erf")
    with pytest.raises(actlab.InvalidParameterError, match="greater than min_val"):
        actlab.get("hardtanh", min_val=2.0, max_val=1.0)
    with pytest.raises(actlab.InvalidParameterError, match="greater than beta"):
        actlab.get("xielu", alpha_n=0.4)
    with pytest.raises(actlab.InvalidParameterError):
        actlab.get("relu", negative_slope=0.1)
    with pytest.raises(actlab.InvalidParameterError):
        actlab.get("elu", alpha="big")
    assert actlab.get("gelu", approximate="TANH").params["approximate"] == "tanh"
    assert actlab.get("softplus", threshold=None).params["threshold"] is None
    assert actlab.get("elu", alpha=np.float32(0.5)).params["alpha"] == 0.5
    assert actlab.get("maxout", pieces=3.0).params["pieces"] == 3


def test_with_params_and_equality() -> None:
    a = actlab.get("elu")
    b = a.with_params(alpha=0.5)
    assert b.params["alpha"] == 0.5 and a.params["alpha"] == 1.0
    assert actlab.get("ELU", alpha=0.5) == b and hash(b) == hash(actlab.get("elu", alpha=0.5))
    assert actlab.get(b) is b


def _cube() -> actlab.Elementwise:
    return actlab.Elementwise(
        name="cube_gate",
        title="x³ gate",
        summary="x σ(x³), a researcher's activation",
        formula=r"x\sigma(x^3)",
        derivative_formula=r"\sigma(x^3) + 3x^3\sigma'(x^3)",
        year=2026,
        uses=("testing registration",),
        params=(actlab.Param("k", 1.0, "power scale", domain=actlab.Interval(0.0, math.inf), example=2.0),),
        forward=lambda x, p, xp: x / (1 + xp.exp(-p.k * x * x * x)),
        derivative=lambda x, p, xp: (
            1 / (1 + xp.exp(-p.k * x**3)) + 3 * p.k * x**3 * xp.exp(-p.k * x**3) / (1 + xp.exp(-p.k * x**3)) ** 2
        ),
        monotonic=False,
    )


def test_a_user_registered_activation_is_served_everywhere() -> None:
    spec = actlab.register(_cube())
    try:
        assert "cube_gate" in actlab.names()
        act = actlab.get("Cube-Gate", k=2.0)
        assert act(1.0) == pytest.approx(1 / (1 + math.exp(-2.0)))
        assert act.derivative(0.0) == pytest.approx(0.5)
        with pytest.raises(actlab.RegistrationError, match="already taken"):
            actlab.register(_cube())
        actlab.register(spec, replace=True)
        with pytest.raises(actlab.InvalidParameterError):
            actlab.get("cube_gate", k=-1.0)
    finally:
        actlab.unregister("cube_gate")
    assert "cube_gate" not in actlab.names()


def test_builtins_cannot_be_replaced_or_removed() -> None:
    import dataclasses

    clash = dataclasses.replace(_cube(), name="my_gelu", aliases=("gelu",))
    with pytest.raises(actlab.RegistrationError, match="'gelu'"):
        actlab.register(clash, replace=True)
    with pytest.raises(actlab.RegistrationError, match="built in"):
        actlab.unregister("relu")
    with pytest.raises(actlab.RegistrationError, match="lower case"):
        actlab.register(dataclasses.replace(_cube(), name="Bad Name"))
    with pytest.raises(actlab.RegistrationError, match="Spec"):
        actlab.register("relu")  # type: ignore[arg-type]


# --- declared properties against computation --------------------------------------------

GRID = np.concatenate([np.linspace(-20, 20, 40001), np.logspace(-8, 3, 300), -np.logspace(-8, 3, 300)])
GRID.sort()


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_declared_monotonicity(act: actlab.Activation) -> None:
    s = act.spec
    assert isinstance(s, Elementwise)
    d = act.derivative(GRID)
    y = act(GRID)
    if resolve(s.monotonic, act.bound):
        assert (d >= 0).all()
        assert (np.diff(y) >= -4 * np.spacing(np.abs(y[1:]))).all()
    else:
        assert (d < 0).any() and (d > 0).any()


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_declared_symmetry_and_gating(act: actlab.Activation) -> None:
    s = act.spec
    assert isinstance(s, Elementwise)
    odd = np.allclose(act(-GRID), -act(GRID), rtol=1e-15, atol=0)
    assert odd == resolve(s.zero_centred, act.bound)
    if s.self_gated:
        nz = GRID[GRID != 0]
        gate = act(nz) / nz
        assert (gate >= -1e-15).all() and (gate <= 1 + 1e-15).all()


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_declared_smoothness_at_the_kinks(act: actlab.Activation) -> None:
    s = act.spec
    assert isinstance(s, Elementwise)
    k = resolve(s.smoothness, act.bound)
    kinks = s.kink_points(act.bound)
    if k >= SMOOTH:
        assert not kinks
        return
    assert kinks, "a function that is not smooth names where"
    jumps_f, jumps_df = [], []
    for kink in kinks:
        h = 1e-13 * max(1.0, abs(kink.x))
        left, right = np.array([kink.x - h]), np.array([kink.x + h])
        dl, dr = act.derivative(left)[0], act.derivative(right)[0]
        # a continuous f moves by about |f'| h across the kink; a jump moves by far more
        jumps_f.append(abs(act(right)[0] - act(left)[0]) > 10 * h * (abs(dl) + abs(dr) + 1))
        jumps_df.append(abs(dr - dl) > 1e-6)
    assert any(jumps_f) == (k == DISCONTINUOUS)
    if k >= 1:
        assert not any(jumps_df)
    elif k == 0:
        assert any(jumps_df)
