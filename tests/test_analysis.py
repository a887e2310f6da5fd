"""Analysis: computed properties, gains, mean-field propagation and self-normalization,
checked against independent references (closed forms, mpmath, published constants)."""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
from scipy.special import ndtr

import actlab
from actlab.analysis import (
    MeanField,
    edge_of_chaos,
    find_kinks,
    gain_table,
    gains,
    properties,
    self_normalizing_scaling,
    solve_selu_constants,
)
from actlab.analysis.properties import STEP
from actlab.analysis.selfnorm import stability
from actlab.catalog.spec import SMOOTH, resolve
from actlab.cli import main

from .conftest import ELEMENTWISE


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_kinks_found_equal_the_declared_ones(act: actlab.Activation) -> None:
    if act.params.get("threshold") is not None or act.params.get("eps", 0.0) != 0.0:
        pytest.skip("the compatibility jumps of softplus's threshold (2e-9) and xielu's eps (8e-7) are below the scan")
    kinks, klass = find_kinks(act)
    declared: list[float] = []
    for k in sorted(k.x for k in act.spec.kink_points(act.bound) if abs(k.x) <= 32):
        if not declared or k - declared[-1] > 2 * STEP:  # kinks closer than the scan's step are one
            declared.append(k)
    assert kinks == pytest.approx(tuple(declared), abs=1e-5)
    assert klass == resolve(act.spec.smoothness, act.bound)


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_declared_properties_match_the_computed_ones(act: actlab.Activation) -> None:
    p = properties(act)
    assert p.monotonic == bool(resolve(act.spec.monotonic, act.bound))
    r = act.spec.output_range(act.bound)
    if r.approx:
        assert abs(p.infimum.value - r.lo) <= 5e-3 * max(1.0, abs(r.lo))
    else:
        assert p.infimum.value == pytest.approx(r.lo, rel=1e-9, abs=1e-12)
        assert p.supremum.value == pytest.approx(r.hi, rel=1e-9, abs=1e-12)
        if math.isfinite(r.lo):
            assert (p.infimum.at is not None) == r.lo_closed
    assert 0 <= p.dead_fraction <= p.saturated_fraction <= 1


def _mp_minimum(definition: str) -> tuple[float, float]:
    f = {
        "gelu": lambda x: x * mpmath.ncdf(x),
        "silu": lambda x: x / (1 + mpmath.exp(-x)),
        "mish": lambda x: x * mpmath.tanh(mpmath.log1p(mpmath.exp(x))),
    }[definition]
    with mpmath.workdps(40):
        x = mpmath.findroot(lambda t: mpmath.diff(f, t), -1.0)
        return float(x), float(f(x))


@pytest.mark.parametrize("name", ["gelu", "silu", "mish"])
def test_minima_to_ten_significant_digits(name: str) -> None:
    x, value = _mp_minimum(name)
    p = properties(name)
    assert p.infimum.at == pytest.approx(x, rel=1e-10)
    assert p.infimum.value == pytest.approx(value, rel=1e-10)


def test_closed_forms() -> None:
    relu = properties("relu")
    assert relu.second_moment == pytest.approx(0.5, rel=1e-13)
    assert relu.mean == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-13)
    assert relu.dead_fraction == pytest.approx(0.5, abs=1e-12)
    assert relu.lipschitz == 1.0
    assert properties("hardsigmoid").dead_fraction == pytest.approx(2 * ndtr(-3.0), rel=1e-9)
    assert properties("tanh").supremum.at is None and properties("relu6").supremum.at == 6.0
    assert properties("relu2").lipschitz == math.inf
    assert properties("selu").second_moment == pytest.approx(1.0, rel=1e-12)  # its defining property
    with pytest.raises(TypeError, match="elementwise"):
        properties("softmax")


def test_gains_against_closed_forms_and_torch() -> None:
    assert gains("relu")["forward"] == pytest.approx(math.sqrt(2), rel=1e-13)
    assert gains("relu")["backward"] == pytest.approx(math.sqrt(2), rel=1e-13)
    assert gains("identity") == pytest.approx({"forward": 1.0, "backward": 1.0})
    for slope in (0.01, 0.2):
        expected = math.sqrt(2 / (1 + slope**2))
        assert gains("leaky_relu", negative_slope=slope)["forward"] == pytest.approx(expected, rel=1e-12)
    torch = pytest.importorskip("torch")
    rows = {r["name"]: r for r in gain_table()}
    assert rows["relu"]["forward"] == pytest.approx(torch.nn.init.calculate_gain("relu"), rel=1e-12)
    assert rows["leaky_relu"]["forward"] == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.01), rel=1e-12)
    assert rows["tanh"]["torch"] == pytest.approx(torch.nn.init.calculate_gain("tanh"))
    assert abs(rows["tanh"]["forward"] - 5 / 3) > 0.05  # 5/3 is a heuristic
    assert rows["selu"]["forward"] == pytest.approx(1.0, rel=1e-12) and rows["selu"]["torch"] == 0.75
    assert all(math.isfinite(r["forward"]) and r["forward"] > 0 for r in rows.values())


def test_mean_field_criticality() -> None:
    relu = MeanField.of("relu", 2.0, 0.0)
    assert relu.chi1() == pytest.approx(1.0, rel=1e-12)
    assert MeanField.of("relu", 1.0, 0.0).fixed_point() == 0.0
    assert MeanField.of("relu", 3.0, 0.0).fixed_point() == math.inf
    line = dict(edge_of_chaos("tanh", [0.0, 0.05]))
    assert line[0.0] == pytest.approx(1.0, abs=1e-4)  # tanh'(0)² σ_w² = 1 with q* = 0
    assert line[0.05] == pytest.approx(1.76, abs=5e-3)  # Schoenholz et al. (2017), Fig. 1: (σ_w², σ_b²) ≈ (1.76, 0.05)
    tanh = MeanField.of("tanh", 1.5, 0.05)
    q = tanh.fixed_point()
    assert tanh.variance_map(q) == pytest.approx(q, rel=1e-10)
    scales = tanh.depth_scales()
    assert (
        scales["chi1"] < 1 and scales["c_star"] == pytest.approx(1.0, abs=1e-6) and 0 < scales["xi_q"] < scales["xi_c"]
    )


def test_self_normalization() -> None:
    alpha, lam = solve_selu_constants()
    assert alpha == pytest.approx(1.6732632423543772848170429916717, rel=1e-8)
    assert lam == pytest.approx(1.0507009873554804934193349852946, rel=1e-8)
    s = stability("selu")
    assert s["stable"] and s["fixed_point"] == pytest.approx((0.0, 1.0), abs=1e-9)
    for name in ("gelu", "silu", "mish"):
        r = self_normalizing_scaling(name)
        act = actlab.get(name)
        z, w = np.polynomial.hermite_e.hermegauss(120)
        w = w / w.sum()
        y = r["scale"] * act(z) + r["shift"]
        assert np.dot(w, y) == pytest.approx(0.0, abs=1e-9) and np.dot(w, y * y) == pytest.approx(1.0, rel=1e-9)
        assert isinstance(r["stable"], bool) and len(r["eigenvalues"]) == 2


def test_cli_analysis_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gain", "relu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["forward"] == pytest.approx(math.sqrt(2)) and data["torch_calculate_gain"] == pytest.approx(
        math.sqrt(2)
    )
    assert main(["analyze", "mish", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["properties"]["infimum"]["value"] == pytest.approx(-0.3088434, rel=1e-6)
    assert main(["propagate", "tanh", "relu", "--depth", "5", "--sigma-w2", "1.5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [len(r["variances"]) for r in rows] == [6, 6]
    assert main(["analyze", "gelu"]) == 0 and "Lipschitz" in capsys.readouterr().out
    for argv in (
        ["gain", "softmax"],
        ["analyze", "gelo"],
        ["propagate", "relu", "--depth", "x"],
        ["gain", "elu", "-p", "alpha=-1"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_smooth_means_no_kink_found() -> None:
    assert find_kinks("gelu") == ((), SMOOTH)
