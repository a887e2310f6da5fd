"""actlab.torch.gaps: the differences of PyTorch's native kernels from exact are measured, and shown."""

from __future__ import annotations

import doctest
import importlib.util
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import actlab  # noqa: E402
from actlab import accuracy  # noqa: E402
from actlab import table as comparison  # noqa: E402
from actlab.cli import main  # noqa: E402
from actlab.report import pages  # noqa: E402
from actlab.torch import functional  # noqa: E402
from actlab.torch import gaps as G  # noqa: E402
from actlab.torch.native import NATIVE, Native  # noqa: E402


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Put a kernel of one's own in the native table for one test (the cache cleared before and after)."""

    def put(name: str, fn: Any) -> None:
        monkeypatch.setitem(NATIVE, name, Native(fn, None))
        G._measure.cache_clear()

    yield put
    G._measure.cache_clear()


def specials(g: G.Gaps, dtype: str, what: str) -> dict[float, float]:
    return {f.x: f.got for f in g.findings if f.kind == "special" and f.dtype == dtype and f.what == what}


def test_gelu_nan_at_infinity() -> None:
    g = G.gaps("gelu")
    assert g is not None and not g.same
    for dtype in G.DTYPES:
        got = specials(g, dtype, "f′")
        assert math.isnan(got[-math.inf]) and math.isnan(got[math.inf])
        assert math.isnan(specials(g, dtype, "f")[-math.inf])
    # what the finding says is what PyTorch returns
    x = torch.tensor([-math.inf, math.inf], requires_grad=True)
    y = torch.nn.functional.gelu(x)
    (d,) = torch.autograd.grad(y, x, torch.ones_like(y))
    assert torch.isnan(d).all()
    assert "NaN at ±∞" in g.summary()
    assert "f′(+∞) = NaN, not 1 (its limit) (float16, float32, float64)" in g.lines()


def test_sigmoid_derivative_underflows_as_s_times_one_minus_s() -> None:
    g = G.gaps("sigmoid")
    assert g is not None
    (f,) = [f for f in g.findings if f.kind == "underflow" and f.what == "f′" and f.dtype == "float32" and f.x > 0]
    # s rounds to 1 in float32 once e^-x is below half its spacing under 1: x ≈ 24 ln 2 ≈ 16.6
    assert 16.0 < f.x < 17.5 and f.extent == "onward" and f.exact == pytest.approx(math.exp(-f.x), rel=1e-6)
    x = torch.tensor([f.x], dtype=torch.float32, requires_grad=True)
    (d,) = torch.autograd.grad(torch.sigmoid(x), x)
    assert d.item() == 0.0 and actlab.get("sigmoid").derivative(np.float32(f.x)) > 0
    # and a little below it the derivative is not 0: the edge is located between grid points (1 apart there)
    x = torch.tensor([f.x - 1e-3], dtype=torch.float32, requires_grad=True)
    (d,) = torch.autograd.grad(torch.sigmoid(x), x)
    assert d.item() > 0
    f64 = [f for f in g.findings if f.kind == "underflow" and f.what == "f′" and f.dtype == "float64" and f.x > 0]
    assert len(f64) == 1 and 36 < f64[0].x < 38
    assert "f′ = 0 from x ≈ 16.6 (float32)" in g.summary()


def test_piecewise_linear_values_are_exact_and_their_derivative_at_nan_is_not() -> None:
    for name in ("relu", "relu6", "hardtanh", "leaky_relu"):
        g = G.gaps(name)
        assert g is not None
        assert [f for f in g.findings if f.what == "f"] == []
        assert all(f.kind == "special" and math.isnan(f.x) and not math.isnan(f.got) for f in g.findings)
        # leaky_relu multiplies by 0.01, which float32 does not hold: within the exact path's 1 ulp
        assert all(g.worst[(d, "f")][0] <= (1.0 if name == "leaky_relu" else 0.0) for d in G.DTYPES)
    assert G.gaps("relu").summary() == "f′(NaN) = 1"  # type: ignore[union-attr]
    x = torch.tensor([math.nan], requires_grad=True)
    (d,) = torch.autograd.grad(torch.relu(x), x)
    assert d.item() == 1.0


def test_a_bad_kernel_is_caught(kernel: Any) -> None:
    # tanh as (e^2x - 1) / (e^2x + 1): inf/inf = NaN from x ≈ 44 in float32, and it cancels near 0
    def naive(x: Any, p: Any) -> Any:
        e = torch.exp(2 * x)
        return (e - 1) / (e + 1)

    kernel("tanh", naive)
    g = G.gaps("tanh", dtypes=("float32",))
    assert g is not None and g.dtypes == ("float32",)
    kinds = {(f.kind, f.what) for f in g.findings}
    assert ("nonfinite", "f") in kinds and ("error", "f") in kinds
    (over,) = [f for f in g.findings if f.kind == "nonfinite" and f.what == "f"]
    assert 40 < over.x < 50 and math.isnan(over.got) and over.exact == 1.0
    assert math.isnan(specials(g, "float32", "f")[math.inf])
    (err,) = [f for f in g.findings if f.kind == "error" and f.what == "f"]
    assert abs(err.x) < 1 and err.ulp > 100
    assert "NaN at +∞" in g.summary() and "f = NaN at x ≈ 45 (float32)" in g.summary()
    # e^2x rounds to 1 near 0: f = 0 there, on both sides
    inward = [f for f in g.findings if f.kind == "underflow" and f.what == "f" and f.extent == "inward"]
    assert len(inward) == 2 and all(0 < abs(f.x) < 1e-7 for f in inward)


def test_a_kernel_as_exact_as_the_reference_has_no_finding(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    kernel("relu", lambda x, p: functional.apply(x, "relu", exact=True))
    g = G.gaps("relu")
    assert g is not None and g.same and g.findings == () and g.summary() == "same as exact" and g.lines() == []
    assert main(["show", "relu"]) == 0
    assert "no difference from exact on the grid, ±inf, NaN (float16, float32, float64)" in capsys.readouterr().out


def test_vector_kinds_rows_with_infinities() -> None:
    g = G.gaps("softmax")
    assert g is not None
    rows = {(f.dtype, f.what, f.row) for f in g.findings if f.kind == "special"}
    assert ("float32", "f", "a row of all −∞") in rows and ("float64", "vjp", "a row with one +∞") in rows
    assert torch.isnan(torch.softmax(torch.full((4,), -math.inf), -1)).all()
    assert "NaN on a row of all −∞" in g.summary()


def test_no_native_kernel_no_gaps() -> None:
    assert G.gaps("swish_beta") is None and G.gaps("softplus") is None  # softplus: native only with a threshold
    with_threshold = G.gaps("softplus", threshold=20.0)
    assert with_threshold is not None and with_threshold.params == (("beta", 1.0), ("threshold", 20.0))
    assert G.gaps("hardsigmoid", slope=0.2) is None
    with pytest.raises(ValueError, match="bfloat16"):
        G.gaps("relu", dtypes=("bfloat16",))


def test_docstring_example() -> None:
    result = doctest.testmod(G, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_cached_and_fast() -> None:
    assert G.gaps("gelu") is G.gaps("gelu")
    assert {g.name for g in G.all_gaps()} == {n for n, r in NATIVE.items() if r.when(actlab.get(n).bound)}


def test_ulps_agree_with_the_accuracy_module() -> None:
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(50) * 10.0 ** rng.integers(-30, 30, 50)
    for dtype in ("float16", "float32", "float64"):
        with np.errstate(over="ignore"):  # float16 holds up to 65504
            got = np.nextafter(ref.astype(dtype), np.asarray(np.inf, dtype=dtype)).astype(np.float64)
            finite = np.isfinite(got) & np.isfinite(ref.astype(dtype))
        ours = G._ulp_errors(got, ref, dtype)
        theirs = [accuracy.ulp_error(g, r, dtype) for g, r in zip(got[finite], ref[finite])]
        assert ours[finite] == pytest.approx(theirs, rel=1e-9, abs=1e-12)
    special = G._ulp_errors(np.array([math.nan, math.inf, 1.0]), np.array([math.nan, math.inf, math.nan]), "float32")
    assert special.tolist() == [0.0, 0.0, math.inf]


# --- shown: actlab show, the table, the report ----------------------------------------------


def test_show_states_the_measured_gaps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "gelu"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch     default (native) kernel, measured against the exact NumPy reference:" in out
    assert "f(−∞) = NaN, not 0 (its limit) (float16, float32, float64)" in out
    assert main(["show", "sigmoid", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)["pytorch_default"]
    assert d["same"] is False and d["dtypes"] == list(G.DTYPES)
    assert any(f["kind"] == "underflow" and f["dtype"] == "float32" and f["what"] == "f′" for f in d["findings"])
    assert main(["show", "swish_beta"]) == 0
    assert "default (native) kernel" not in capsys.readouterr().out
    assert main(["show", "swish_beta", "--json"]) == 0
    assert "pytorch_default" not in json.loads(capsys.readouterr().out)


def test_table_and_report_state_the_measured_gaps() -> None:
    rows = {r["name"]: r for r in comparison.rows(None, ["gelu", "relu", "swish_beta"])}
    assert rows["gelu"]["torch_default"] == G.gaps("gelu").summary()  # type: ignore[union-attr]
    assert rows["relu"]["torch_default"] == "f′(NaN) = 1" and rows["swish_beta"]["torch_default"] == "-"
    assert comparison.to_markdown(list(rows.values())).splitlines()[0].endswith("| PyTorch default vs exact |")
    html = str(pages.render(pages.torch_default_section(actlab.spec("gelu"))))
    assert 'id="pytorch"' in html and "f′(+∞) = NaN, not 1 (its limit) (float16, float32, float64)" in html
    assert pages.torch_default_section(actlab.spec("swish_beta")) == []


def test_without_torch_nothing_is_said(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else find_spec(name, *a))
    assert comparison.native_gaps("gelu") is None and comparison.torch_default_text("gelu") == "-"
    assert pages.torch_default_section(actlab.spec("gelu")) == []
    assert main(["show", "gelu"]) == 0
    assert "default (native) kernel" not in capsys.readouterr().out
