"""The blocked NumPy engine: same bits as whole-array evaluation, any layout, threads, out=, narrow paths."""

from __future__ import annotations

import os

import numpy as np
import pytest

import actlab
from actlab.catalog import registry
from actlab.catalog.spec import Elementwise
from actlab.namespaces import numpy_ns, numpy_ns_for
from actlab.numpy import _engine

from .conftest import ELEMENTWISE, VECTOR


def _inputs(dtype: np.dtype, size: int = 2 * _engine.NARROW_BLOCK + 17) -> np.ndarray:
    rng = np.random.default_rng(7)
    x = rng.standard_normal(size) * 4
    finfo = np.finfo(dtype)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, float(finfo.max), -float(finfo.max), float(finfo.tiny), 3.0, -3.0]
    x[: len(specials)] = specials
    x[_engine.BLOCK - 3 : _engine.BLOCK + 3] = np.nan  # NaN across a block edge
    x[_engine.NARROW_BLOCK - 3 : _engine.NARROW_BLOCK + 3] = np.nan  # ... and a narrow formula's block edge
    return x.astype(dtype)


def _whole(spec: Elementwise, p, x: np.ndarray, what: str) -> np.ndarray:
    """The plain whole-array evaluation in float64, rounded once: what blocking must reproduce."""
    with np.errstate(all="ignore"):
        x64 = x.astype(np.float64)
        fn = spec.forward if what == "f" else spec.derivative
        y = np.broadcast_to(np.asarray(fn(x64, p, numpy_ns_for(x.dtype)), dtype=np.float64), x.shape)
        y = np.where(np.isnan(x64), np.nan, y)
        return y.astype(x.dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("act", ELEMENTWISE)
def test_blocked_equals_whole_array_bit_for_bit(act, dtype):
    name = act.name
    x = _inputs(np.dtype(dtype))
    for what, got in (("f", act(x)), ("f'", act.derivative(x))):
        want = _whole(act.spec, act.bound, x, what)
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(got, want, err_msg=f"{name} {what}")


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_value_and_derivative_equals_separate_calls(act):
    x = _inputs(np.dtype(np.float32))
    y, d = act.value_and_derivative(x)
    np.testing.assert_array_equal(y, act(x))
    np.testing.assert_array_equal(d, act.derivative(x))


@pytest.mark.parametrize("name", ["gelu", "relu", "silu", "tanh", "elu"])
def test_threads_out_and_layouts(name):
    act = actlab.get(name)
    x = _inputs(np.dtype(np.float32), 40 * _engine.BLOCK + 5).reshape(5, -1)
    want = act(x)
    np.testing.assert_array_equal(act(x, threads=3), want)
    out = np.empty_like(x)
    assert act(x, out=out) is out
    np.testing.assert_array_equal(out, want)
    # a strided input and a strided output, and an out of a wider type
    np.testing.assert_array_equal(act(x.T), want.T)
    wide = np.empty(x.shape, np.float64)
    act(x, out=wide)
    np.testing.assert_array_equal(wide, want.astype(np.float64))
    strided = np.empty((5, 2 * x.shape[1]), np.float32)[:, ::2]
    act.derivative(x, out=strided)
    np.testing.assert_array_equal(strided, act.derivative(x))
    dout = np.empty_like(x)
    y, d = act.value_and_derivative(x, out=out, dout=dout, threads=2)
    assert y is out and d is dout


def test_bad_threads_and_out():
    act = actlab.get("relu")
    with pytest.raises(ValueError, match="threads"):
        act(np.zeros(3), threads=0)
    with pytest.raises(ValueError, match="shape"):
        act(np.zeros(3), out=np.zeros(4))
    with pytest.raises(TypeError, match="dtype"):
        act(np.zeros(3), out=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="threads"):
        actlab.numpy.set_threads(-1)
    old = actlab.numpy.set_threads(3)
    try:
        assert actlab.numpy.get_threads() == 3
        assert actlab.numpy.set_threads(None) == 3 and actlab.numpy.get_threads() == (os.cpu_count() or 1)
        np.testing.assert_array_equal(act(np.arange(-5.0, 5.0)), np.maximum(np.arange(-5.0, 5.0), 0))
    finally:
        actlab.numpy.set_threads(old)


def test_narrow_entries_are_declared_where_the_bits_allow_it():
    narrow = [n for n in actlab.names() if getattr(registry.spec(n), "narrow", ())]
    assert {"relu", "relu6", "hardtanh", "identity"} <= set(narrow)
    act = actlab.get("relu")
    _, widen, _, block = act._plan("f", np.dtype(np.float32))
    assert not widen and block == _engine.NARROW_BLOCK
    # a parameter that float16 cannot hold sends the entry back to float64, in cache-sized blocks
    _, widen, _, block = actlab.get("hardtanh", min_val=-1.1)._plan("f", np.dtype(np.float16))
    assert widen and block == _engine.BLOCK


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_fast_mode_stays_close_and_keeps_the_limits(act):
    """fast=True computes float32 in float32: a few ulp off the exact result, the same limits and NaN."""
    x = np.concatenate([np.linspace(-20, 20, 4001), [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(np.float32)
    for what in ("f", "f'"):
        fn = act if what == "f" else act.derivative
        exact, fast = fn(x), fn(x, fast=True)
        assert fast.dtype == np.float32
        np.testing.assert_array_equal(np.isnan(fast), np.isnan(exact), err_msg=f"{act!r} {what}")
        ends = np.isinf(x)
        np.testing.assert_allclose(fast[ends], exact[ends], rtol=1e-6, err_msg=f"{act!r} {what} at ±inf")
        finite = ~np.isnan(exact)
        for k in act.spec.kink_points(act.bound):  # where f' jumps, rounding may move x across the knee
            finite &= ~(np.abs(x - k.x) <= 1e-5 * max(1.0, abs(k.x)))
        scale = np.max(np.abs(exact[finite & ~ends]), initial=1.0)
        # a few ulp relative, or a few ulp of the function's scale where f or f' passes through zero
        np.testing.assert_allclose(fast[finite], exact[finite], rtol=2e-6, atol=4e-7 * scale, err_msg=f"{act!r} {what}")


@pytest.mark.parametrize("act", VECTOR)
def test_vector_kinds_in_row_blocks_equal_the_whole_array(act):
    """Softmax, the gated family and maxout on a large array run a block of rows at a time: same bits."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 17, 1020)) * 4).astype(np.float32)  # 1020: even, and a multiple of 3
    x[0, 0, :4] = [np.inf, -np.inf, np.nan, 0.0]
    x[1, 2, :] = -np.inf
    spec, p = act.spec, act.bound
    if spec.axis(p) % x.ndim != x.ndim - 1:
        pytest.skip("blocks of rows serve the last axis only")
    with np.errstate(all="ignore"):
        want = np.asarray(spec.apply(x.astype(np.float64), p, numpy_ns)).astype(np.float32)
        got = act(x)
        np.testing.assert_array_equal(got, want)
        g = rng.standard_normal(want.shape).astype(np.float32)
        want_v = np.asarray(spec.vjp(x.astype(np.float64), g.astype(np.float64), p, numpy_ns)).astype(np.float32)
        np.testing.assert_array_equal(act.vjp(x, g), want_v)
    # the last axis named by its positive index takes the same path
    if "dim" in act.params:
        np.testing.assert_array_equal(act.with_params(dim=2)(x), got)
