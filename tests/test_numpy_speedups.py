"""The cheaper forms the NumPy backend takes for float32/float16 results (``numpy_ns_narrow``).

A float32 or float16 result is computed in float64 and rounded once, so a shared building
block may lose a few of float64's bits there.  These tests hold each such form to what that
allows: against the mpmath oracle, densely around the points where a form switches from one
expression to another, and against the float64 reference form on many random inputs.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import actlab
from actlab import accuracy
from actlab.catalog import formulas as F
from actlab.namespaces import numpy_ns, numpy_ns_for, numpy_ns_narrow

ORACLES = {
    "x_minus_tanh": (F.x_minus_tanh, lambda v: v - mpmath.tanh(v)),
    "expm1_minus_x": (F.expm1_minus_x, lambda v: mpmath.expm1(v) - v),
    "sigmoid": (F.sigmoid, lambda v: 1 / (1 + mpmath.exp(-v))),
    "tanh_softplus": (F.tanh_softplus, lambda v: mpmath.tanh(mpmath.log1p(mpmath.exp(v)))),
}
"""Each narrow form and its definition on mpmath numbers."""

SWITCHES = {
    "x_minus_tanh": F.NARROW_TARGET_TANHSHRINK_LIMIT,
    "expm1_minus_x": F.NARROW_TARGET_EXPM1_LIMIT,
    "sigmoid": 30.0,
    "tanh_softplus": F.TANH_SOFTPLUS_ONE,
}


def _points(switch: float) -> np.ndarray:
    """float32 points on both sides of ±switch, a log-spread over the range, and the specials."""
    rng = np.random.default_rng(3)
    near = switch * (1.0 + rng.uniform(-0.5, 0.5, 300))
    spread = 10.0 ** rng.uniform(-30, 2.5, 300)
    x = np.concatenate([near, -near, spread, -spread, [0.0, 1e-45, -1e-45, 3.4e38, -3.4e38]])
    return np.unique(x.astype(np.float32))


def test_numpy_ns_for_picks_by_result_type() -> None:
    assert numpy_ns_for(np.float64) is numpy_ns
    assert numpy_ns_for(np.float32) is numpy_ns_narrow
    assert numpy_ns_for(np.float16) is numpy_ns_narrow
    assert numpy_ns.target_bits == 53 and numpy_ns_narrow.target_bits == 24
    assert numpy_ns_narrow.wide  # the narrow namespace still computes in float64


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_narrow_form_within_half_an_ulp_plus_a_hair(name: str) -> None:
    """Rounded to float32, each narrow form is the correctly rounded value or off by less than
    1e-3 ulp from the midpoint: far within the 1 ulp the catalog promises."""
    fn, exact = ORACLES[name]
    x = _points(SWITCHES[name])
    with np.errstate(all="ignore"):
        y64 = np.asarray(fn(x.astype(np.float64), numpy_ns_narrow), dtype=np.float64)
    worst = 0.0
    with mpmath.workdps(40):
        for xi, yi in zip(x, y64):
            ref = exact(mpmath.mpf(float(xi)))
            if abs(ref) > float(np.finfo(np.float32).max):  # beyond float32: it must overflow there
                assert abs(yi) > float(np.finfo(np.float32).max) and np.sign(yi) == mpmath.sign(ref)
                continue
            # the error of the float64 value, in float32 ulp of the true value
            err = float(abs(mpmath.mpf(float(yi)) - ref) / accuracy.ulp(ref, "float32"))
            worst = max(worst, err)
    assert worst < 1e-3, f"{name}: float64 value {worst:.3g} float32 ulp from the truth"


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_narrow_form_limits_and_nan(name: str) -> None:
    fn = ORACLES[name][0]
    x = np.array([-np.inf, np.inf, np.nan])
    with np.errstate(all="ignore"):
        got = np.asarray(fn(x, numpy_ns_narrow), dtype=np.float64)
        want = np.asarray(fn(x, numpy_ns), dtype=np.float64)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[2])


@pytest.mark.parametrize(
    "name",
    [
        "tanhshrink",
        "xielu",
        "sigmoid",
        "silu",
        "mish",
        "quick_gelu",
        "swish_beta",
        "gelu",
        "tanh",
        "softsign",
        "squareplus",
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_narrow_results_match_the_float64_forms(name: str, dtype: type) -> None:
    """On 200,000 random inputs the narrow-target result and the float64 form rounded to the
    same type differ by at most one ulp, and only where the value sits at a rounding midpoint."""
    act = actlab.get(name)
    spec, p = act.spec, act.bound
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(200_000) * np.exp(rng.uniform(-8, 3, 200_000))).astype(dtype)
    with np.errstate(all="ignore"):
        x64 = x.astype(np.float64)
        for what, fn in (("f", spec.forward), ("f'", spec.derivative)):
            got = act(x) if what == "f" else act.derivative(x)
            ref = np.asarray(fn(x64, p, numpy_ns), dtype=np.float64).astype(dtype)
            differ = got != ref
            both_nan = np.isnan(got) & np.isnan(ref)
            bad = differ & ~both_nan
            assert bad.mean() < 1e-3, f"{name} {what}: {bad.sum()} of {x.size} differ"
            if bad.any():
                gap = np.abs(np.nextafter(ref[bad], np.inf, dtype=dtype) - ref[bad])
                assert (np.abs(got[bad].astype(np.float64) - ref[bad]) <= gap).all(), f"{name} {what}"


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_fast_mode_keeps_the_wide_forms(dtype: type) -> None:
    """The fast mode computes in the input's own type, where the direct forms would cancel: it
    keeps the series (tanhshrink near 0 is x³/3, not 0)."""
    x = np.array([0.05, -0.05, 0.1], dtype=dtype)
    y = actlab.get("tanhshrink")(x, fast=True)
    want = (x.astype(np.float64) ** 3) / 3.0
    np.testing.assert_allclose(y.astype(np.float64), want, rtol=2e-2)
