"""The analysis commands at the edges: extreme parameters, invalid propagation settings, depth
scales at criticality, and what `gain` says where PyTorch's calculate_gain differs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest

import actlab
from actlab.analysis import Float64RangeError, MeanField, gains
from actlab.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _fails_cleanly(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    return captured.err


def test_an_overflowing_slope_is_one_line_in_a_real_process() -> None:
    """f = 1e308 x overflows at x < -1.8: no gain to compute, said in one line, without warnings."""
    run = subprocess.run(
        [sys.executable, "-W", "error", "-m", "actlab.cli", "gain", "leaky_relu", "-p", "negative_slope=1e308"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "f(z) is -inf" in run.stderr and "cannot be computed" in run.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["gain", "leaky_relu", "-p", "negative_slope=1e308"],
        ["analyze", "leaky_relu", "-p", "negative_slope=1e308"],
        ["analyze", "elu", "-p", "alpha=1e308"],  # gains exist (below), but gain² underflows
        ["analyze", "softplus", "-p", "beta=1e-308"],
        ["analyze", "hardtanh", "-p", "min_val=-1e-300", "-p", "max_val=1e-300"],  # gain² overflows
        ["gain", "snake", "-p", "alpha=1e308"],  # sin(2αx) is NaN: f' is not a number
        ["analyze", "star_relu", "-p", "scale=1e-308"],  # f is a constant in float64: no variance to scale
        ["gain", "star_relu", "-p", "scale=5e-324"],  # f' = 2sx in subnormal steps: quadrature cannot converge
    ],
)
def test_extreme_parameters_fail_in_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails_cleanly(argv, capsys)
    assert "float64" in err or "cannot be computed" in err or "did not converge" in err


def test_breaks_far_away_or_subnormally_close_keep_the_moments() -> None:
    """A kink at 1e308 (softplus's threshold) or two kinks 6e-308 apart (hardsigmoid's offset):
    the same gains as without them, to the digits the difference allows."""
    assert gains("softplus", threshold=1e308) == pytest.approx(gains("softplus"), rel=1e-12)
    assert gains("hardsigmoid", offset=1e-308) == pytest.approx(gains("hardsigmoid", offset=0.0), rel=1e-12)


def _mp_gaussian(g: object, *pieces: tuple[float, float]) -> mpmath.mpf:
    phi = lambda z: mpmath.exp(-z * z / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
    return sum(mpmath.quad(lambda z: g(z) * phi(z), [a, b]) for a, b in pieces)  # type: ignore[operator]


def test_gains_whose_moments_leave_float64_are_still_correct(capsys: pytest.CaptureFixture[str]) -> None:
    with mpmath.workdps(30):
        alpha = mpmath.mpf(1e308)
        m2 = _mp_gaussian(lambda z: (mpmath.expm1(z)) ** 2, (-mpmath.inf, 0)) + _mp_gaussian(
            lambda z: (z / alpha) ** 2, (0, mpmath.inf)
        )
        d2 = _mp_gaussian(lambda z: mpmath.exp(2 * z), (-mpmath.inf, 0)) + _mp_gaussian(
            lambda z: 1 / alpha**2, (0, mpmath.inf)
        )
        forward, backward = float(1 / (alpha * mpmath.sqrt(m2))), float(1 / (alpha * mpmath.sqrt(d2)))
    g = gains("elu", alpha=1e308)  # E[f²] ≈ 1.5e615
    assert g["forward"] == pytest.approx(forward, rel=1e-9) and g["backward"] == pytest.approx(backward, rel=1e-9)
    g = gains("softplus", beta=1e-308)  # f ≈ log(2)/β + x/2 ≈ 6.9e307
    assert g["forward"] == pytest.approx(1e-308 / math.log(2), rel=1e-9) and g["backward"] == pytest.approx(2.0)
    g = gains("hardtanh", min_val=-1e-300, max_val=1e-300)  # E[f²] ≈ 1e-600, E[f'²] = P(|z| < 1e-300)
    assert g["forward"] == pytest.approx(1e300, rel=1e-9)
    assert g["backward"] == pytest.approx((2e-300 / math.sqrt(2 * math.pi)) ** -0.5, rel=1e-9)
    assert main(["gain", "elu", "-p", "alpha=1e308", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["forward"] == pytest.approx(forward, rel=1e-9)
    with pytest.raises(Float64RangeError, match="f\\(z\\) is -inf"):
        gains("leaky_relu", negative_slope=1e308)


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--depth", "-1", "from 1 to 10000"),
        ("--depth", "0", "from 1 to 10000"),
        ("--depth", "10001", "from 1 to 10000"),
        ("--sigma-w2", "-1", "> 0"),
        ("--sigma-w2", "0", "> 0"),
        ("--sigma-w2", "inf", "finite"),
        ("--sigma-b2", "-0.5", ">= 0"),
        ("--sigma-b2", "nan", ">= 0"),
        ("--q0", "0", "> 0"),
        ("--q0", "-2", "> 0"),
    ],
)
def test_propagate_names_the_valid_range(flag: str, value: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails_cleanly(["propagate", "tanh", flag, value], capsys)
    assert flag in err and says in err


def test_mean_field_rejects_what_has_no_meaning() -> None:
    with pytest.raises(ValueError, match="σ_w²"):
        MeanField.of("tanh", 0.0)
    with pytest.raises(ValueError, match="σ_b²"):
        MeanField.of("tanh", 1.0, -1.0)
    with pytest.raises(ValueError, match="q0"):
        MeanField.of("tanh").layers(0.0, 3)


def test_depth_scales_diverge_at_criticality(capsys: pytest.CaptureFixture[str]) -> None:
    # tanh at σ_w² = 1, σ_b² = 0: q* = 0 and χ₁ = tanh'(0)² = 1, so ξ_q = ξ_c = ∞
    assert main(["propagate", "tanh", "--sigma-w2", "1"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("tanh")).split()
    assert row[1:5] == ["0", "1", "∞", "∞"] and "nan" not in out and "∞: the depth scale diverges" in out
    assert main(["propagate", "tanh", "relu", "--sigma-w2", "1", "--json"]) == 0
    tanh, relu = json.loads(capsys.readouterr().out)
    assert tanh["xi_q"] == tanh["xi_c"] == "inf"
    # relu at σ_w² = 1: V(q) = q/2, so q* = 0, χ₁ = 1/2 (f' is 0 and 1 on either side) and ξ = 1/ln 2
    assert relu["q_star"] == 0 and relu["chi1"] == 0.5
    assert relu["xi_q"] == relu["xi_c"] == pytest.approx(1 / math.log(2), rel=1e-12)
    assert relu["variances"][-1] == pytest.approx(2.0**-20, rel=1e-12)


def test_growing_variance_has_no_depth_scale(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["propagate", "relu", "--sigma-w2", "3", "--depth", "4"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("relu")).split()
    assert row[1:5] == ["∞", "1.5", "-", "-"] and "-: no depth scale" in out
    assert float(row[5]) == pytest.approx(1.5**4, rel=1e-9)


def test_propagation_where_only_the_product_is_in_range(capsys: pytest.CaptureFixture[str]) -> None:
    """σ_w² E[f'²] = 1e-300 (1 + 1e600) / 2 though E[f'²] alone overflows; the variance still grows."""
    mf = MeanField.of("leaky_relu", 1e-300, negative_slope=1e300)
    assert mf.chi1(1.0) == pytest.approx(5e299, rel=1e-12) and mf.fixed_point() == math.inf
    assert main(["propagate", "leaky_relu", "-p", "negative_slope=1e308", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["q_star"] == row["chi1"] == row["variances"][-1] == "inf"  # 5e615 and beyond: overflow


def test_a_huge_weight_variance_keeps_tanh_finite() -> None:
    """Bounded f: q* is near σ_w² itself, and χ₁ = σ_w² E[sech⁴(√q* z)] ≈ σ_w² (4/3) / √(2π q*)."""
    mf = MeanField.of("tanh", 1e300)
    scales = mf.depth_scales()
    assert scales["q_star"] == pytest.approx(1e300, rel=1e-6)
    assert scales["chi1"] == pytest.approx(1e300 * (4 / 3) / math.sqrt(2 * math.pi * scales["q_star"]), rel=1e-6)
    assert mf.layers(1.0, 5)[-1] == pytest.approx(1e300, rel=1e-6)


def test_layers_stop_computing_at_a_float64_fixed_point() -> None:
    qs = MeanField.of("tanh", 1.5, 0.05).layers(1.0, 10_000)
    assert len(qs) == 10_001 and qs[-1] == qs[-2] == pytest.approx(MeanField.of("tanh", 1.5, 0.05).fixed_point())


def test_gain_says_why_torch_differs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gain", "tanh"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "calculate_gain: 1.666666667" in lines[0]
    assert lines[1].startswith("PyTorch's 5/3 for tanh is a convention") and "second moment" in lines[1]
    assert main(["gain", "selu", "--json"]) == 0
    note = json.loads(capsys.readouterr().out)["torch_note"]
    assert "self-normalization" in note and "'linear'" in note
    assert main(["gain", "relu"]) == 0  # the same value: nothing to explain
    assert len(capsys.readouterr().out.splitlines()) == 1


@pytest.mark.parametrize("offset", ["1e308", "-1e308"])
def test_hardsigmoid_with_its_knees_past_the_floats(offset: str, capsys: pytest.CaptureFixture[str]) -> None:
    # the knees -offset/slope and (1 - offset)/slope overflow: they are ±inf, not an OverflowError
    assert main(["show", "hardsigmoid", "-p", f"offset={offset}"]) == 0
    assert "kinks" not in capsys.readouterr().out
    act = actlab.get("hardsigmoid", offset=float(offset))
    expected = 1.0 if offset == "1e308" else 0.0
    assert act(np.array([-1e308, 0.0, 1e308])).tolist() == [expected] * 3
