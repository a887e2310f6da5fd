"""actlab.torch with exact=True against the mpmath oracle: the NumPy reference's bounds.

float16, bfloat16 and float32 inputs: f and f' (through autograd's backward) within 1 ulp on
the accuracy grid, op by op and in the fused (compiled) kernel that inputs of FUSE_MIN_NUMEL
elements or more run; parameter gradients rounded once from float64.  The oracle is the one
``actlab accuracy`` uses (cached per entry and dtype).
"""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest

import actlab
from actlab import accuracy
from actlab.cli import main

from .conftest import ELEMENTWISE_DEFAULTS

torch = pytest.importorskip("torch")
import actlab.torch as at  # noqa: E402
from actlab.torch import _ops  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"  # inside inductor
)


def _check(act: actlab.Activation, dtype: str, fused: bool) -> None:
    failures = []
    for what in ("f", "f'"):
        w, agree = accuracy.measure_torch(act, dtype, what, exact=True, fused=fused)
        assert w.points > 100
        assert agree, f"{act.name} {dtype} {what}: the fused kernel's copies of the grid differ"
        if not w.passed:
            failures.append(f"{what}: {w.ulp:.3g} ulp at x={w.ulp_x!r}")
    assert not failures, f"{act!r} {dtype} {'fused' if fused else 'op by op'}: " + "; ".join(failures)


@pytest.mark.parametrize("act", ELEMENTWISE_DEFAULTS)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_exact_op_by_op_within_one_ulp(act: actlab.Activation, dtype: str) -> None:
    _check(act, dtype, fused=False)


BFLOAT16_CASES = ["gelu", "silu", "mish", "elu", "softplus", "tanhshrink", "snake", "xielu"]


@pytest.mark.parametrize("name", BFLOAT16_CASES)
def test_exact_bfloat16_within_one_ulp(name: str) -> None:
    _check(actlab.get(name), "bfloat16", fused=False)


FUSED_CASES = [
    # one entry per way Inductor lowers a formula's building blocks: expm1 (elu, selu), the
    # series of expm1 - x (xielu) and x - tanh x (tanhshrink), Φ through erfc (gelu), the
    # sigmoid (silu), tanh of softplus (mish), log1p (softplus), sin (snake), sqrt (squareplus),
    # clip (hardsigmoid).  Each costs a compile (seconds), so not the whole catalog: the
    # op-by-op test above covers every formula.
    "elu",
    "selu",
    "xielu",
    "tanhshrink",
    "gelu",
    "silu",
    "mish",
    "softplus",
    "snake",
    "squareplus",
    "hardsigmoid",
]


@pytest.mark.parametrize("name", FUSED_CASES)
def test_exact_fused_within_one_ulp(name: str) -> None:
    _check(actlab.get(name), "float32", fused=True)


@pytest.mark.parametrize("name", ["gelu", "elu"])
def test_exact_fused_float16_within_one_ulp(name: str) -> None:
    _check(actlab.get(name), "float16", fused=True)


ELU_POINTS = [-1e-30, -4.2e-22, -1e-8, -1e-6]


@pytest.mark.parametrize("name", ["elu", "selu"])
@pytest.mark.parametrize("fused", [False, True])
def test_elu_and_selu_near_zero(name: str, fused: bool) -> None:
    """e^x - 1 near 0: a fused kernel once gave 0 at -1e-30 and -1.013e-6 at -1e-6."""
    x = torch.tensor(ELU_POINTS, dtype=torch.float32)
    n = _ops.FUSE_MIN_NUMEL if fused else 1
    xt = x.repeat(-(-n // len(ELU_POINTS)))
    saved = _ops.FUSE_MIN_NUMEL
    _ops.set_fusion(saved if fused else None)
    try:
        with torch.no_grad():
            y = at.get(name, exact=True)(xt)[: len(ELU_POINTS)]
    finally:
        _ops.set_fusion(saved)
    f = accuracy._textbook(actlab.get(name).spec, actlab.get(name).bound)
    for xi, yi in zip(x.tolist(), y.tolist()):
        with mpmath.workdps(50):
            ref = f(mpmath.mpf(xi))
        err = accuracy.ulp_error(yi, ref, "float32")
        assert err <= 1.0, f"{name}({xi}) = {yi}, {err:.3g} ulp from {float(ref)}"


@pytest.mark.parametrize("name, key", [("swish_beta", "beta"), ("elu", "alpha"), ("snake", "alpha")])
@pytest.mark.parametrize("numel", [1000, 1 << 17])
def test_exact_parameter_gradients_are_float64_rounded_once(name: str, key: str, numel: int) -> None:
    """exact=True computes d sum(g f)/dθ in float64 and rounds once, op by op and fused (large input)."""
    gen = torch.Generator().manual_seed(3)
    x, g = torch.randn(numel, generator=gen) * 6, torch.randn(numel, generator=gen)
    w = torch.tensor(0.75)
    params = _ops.encode(actlab.get(name).spec, {})
    with torch.no_grad():
        (g32,) = _ops.param_grads_op(x, [w], g, name, params, key, True)
        (g64,) = _ops.param_grads_op(x.double(), [w.double()], g.double(), name, params, key, True)
        (narrow,) = _ops.param_grads_op(x, [w], g, name, params, key, False)
    assert g32.dtype == torch.float32
    # the float64 sums may differ in their last bits (summation order): within 1 float32 ulp
    torch.testing.assert_close(g32, g64.float(), rtol=2.0**-23, atol=0.0)
    # the float32 path sums 10^3..10^5 float32 terms: further off, still close
    torch.testing.assert_close(narrow, g64.float(), rtol=1e-3, atol=0.0)


def test_exact_keeps_torch_compile_and_export() -> None:
    m = at.get("swish_beta", beta=1.5, exact=True)
    x = torch.linspace(-30, 30, 101)
    compiled = torch.compile(m, fullgraph=True)
    torch.testing.assert_close(compiled(x), m(x), rtol=0, atol=0)
    exported = torch.export.export(m, (x,))
    torch.testing.assert_close(exported.module()(x), m(x), rtol=0, atol=0)


def test_accuracy_command_torch(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["accuracy", "elu", "--backend", "torch", "--exact", "--dtype", "float32", "--json"])
    records = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {(r["fused"], r["what"]) for r in records} == {(False, "f"), (False, "f'"), (True, "f"), (True, "f'")}
    assert all(r["kernel"] == "float64" and r["passed"] and r["copies_agree"] for r in records)
    code = main(["accuracy", "gelu", "--backend", "torch", "--dtype", "float32"])
    out = capsys.readouterr().out
    assert code == 0 and "native" in out.splitlines()[2]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["accuracy", "elu", "--exact"], "--backend torch"),
        (["accuracy", "elu", "--dtype", "bfloat16"], "bfloat16"),
        (["accuracy", "elu", "--backend", "torch", "--fast"], "fast mode"),
    ],
)
def test_accuracy_command_refuses_what_a_backend_lacks(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_bfloat16_grid_and_ulp() -> None:
    xs = accuracy.grid("bfloat16")
    assert np.array_equal(accuracy.to_format(xs, "bfloat16"), xs)  # every point is a bfloat16
    assert xs.max() == accuracy._BFLOAT16_MAX and xs[xs > 0].min() == 2.0**-133
    assert accuracy.ulp(1.0, "bfloat16") == 2.0**-7
    assert accuracy.ulp(0.0, "bfloat16") == 2.0**-133


def test_the_precision_reaches_the_kernel() -> None:
    """quick_gelu(-53) = -53 σ(-90.2) ≈ -3.5e-38, a float32 subnormal: the default generic path
    computes it in float32 (its tail form, some ulp off: `actlab accuracy --backend torch` reports
    it), exact=True in float64, rounded once."""
    x = torch.tensor([-53.0])
    with mpmath.workdps(50):
        ref = accuracy._textbook(actlab.get("quick_gelu").spec, actlab.get("quick_gelu").bound)(mpmath.mpf(-53))
    for fused in (False, True):
        xt = x.repeat(_ops.FUSE_MIN_NUMEL if fused else 1)
        with torch.no_grad():
            exact = at.apply(xt, "quick_gelu", exact=True)[0].item()
            default = at.apply(xt, "quick_gelu")[0].item()
        assert accuracy.ulp_error(exact, ref, "float32") <= 0.5
        assert accuracy.ulp_error(default, ref, "float32") > 1.0
        assert default != exact


@pytest.mark.parametrize("name", ["gelu", "quick_gelu", "selu", "mish"])
def test_exact_float64_within_the_stated_bounds(name: str) -> None:
    """float64 input runs the formula op by op in float64: the spec's bound × max(1, κ), as NumPy
    (Φ through erfc, not torch's ndtr; the catalog's σ, not torch.sigmoid's 2 ulp)."""
    for what in ("f", "f'"):
        w, _ = accuracy.measure_torch(actlab.get(name), "float64", what, exact=True)
        assert w.passed, f"{name} {what}: {w.scaled:.3g} ulp/max(1,κ) at x={w.scaled_x!r} (bound {w.bound})"


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("act", ELEMENTWISE_DEFAULTS, ids=lambda a: a.name)
def test_default_path_runs_on_every_float_and_keeps_its_limits(act: actlab.Activation, dtype: str) -> None:
    """The default path (native kernel, or the catalog's formula in float32) on the whole narrow
    range, ±inf and NaN: it runs, a NaN comes out only where the reference has one (or the native
    kernel is measured to give one: actlab.torch.gaps), and moderate values agree to 1e-3."""
    from actlab.torch.native import native_for

    tdt = getattr(torch, dtype)
    info = torch.finfo(tdt)
    x = torch.tensor(
        [
            -float("inf"),
            -info.max,
            -1e4,
            -50.0,
            -3.0,
            -1.0,
            -0.5,
            0.0,
            0.5,
            1.0,
            3.0,
            50.0,
            1e4,
            info.max,
            float("inf"),
            float("nan"),
        ],
        dtype=torch.float64,
    ).clamp(-info.max, info.max)
    x[0], x[-2] = -float("inf"), float("inf")
    x = x.to(tdt)
    ref = act(x.double().numpy())
    native = native_for(act.name, act.bound) is not None
    for n in (1, _ops.FUSE_MIN_NUMEL // x.numel() + 1):  # op by op, then the fused kernel
        with torch.no_grad():
            y = at.apply(x.repeat(n), act.name, **act.params)[: x.numel()].double().numpy()
        if not native:
            assert np.array_equal(np.isnan(y), np.isnan(ref)), (
                f"{act.name} {dtype} x{n}: NaN where the reference has none"
            )
        moderate = np.abs(x.double().numpy()) <= 3.0
        np.testing.assert_allclose(y[moderate], ref[moderate], rtol=1e-3, atol=1e-3, err_msg=f"{act.name} {dtype}")
