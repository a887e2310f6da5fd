"""A user's own activation: registration checks, and what `show`, `list` and `accuracy` say of it."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest

import actlab
from actlab import accuracy
from actlab.catalog import registry
from actlab.cli import main
from actlab.namespaces import mpmath_ns


def sigmoid(t: Any, xp: Any) -> Any:
    """σ(t) from e^{-|t|}, as the README writes it: no overflow, accurate in both tails."""
    e = xp.exp(-xp.abs(t))
    return xp.where(t >= 0, 1 / (1 + e), e / (1 + e))


def cube_gate(**changes: Any) -> actlab.Elementwise:
    """The README's x σ(x³), with a derivative that is right in both tails."""

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


def test_an_infinite_or_nan_derivative_is_refused() -> None:
    for bad in (lambda x, p, xp: xp.where(x > 5, np.inf, 1.0), lambda x, p, xp: xp.where(x < -5, np.nan, 1.0)):
        with pytest.raises(actlab.RegistrationError, match=r"derivative gives (inf|nan), a difference quotient"):
            actlab.register(cube_gate(forward=lambda x, p, xp: x + 0.0, derivative=bad))


def test_an_undeclared_kink_is_not_a_wrong_derivative() -> None:
    # a user's ReLU-like entry that declares no kink: first on a check point itself, then between them
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
    actlab.register(dataclasses.replace(base, param_derivatives={"k": lambda x, p, xp: x}))  # right: ∂(kx)/∂k = x
    actlab.unregister("cube_gate")


def test_a_formula_that_fails_on_arrays_is_refused() -> None:
    scalar_only = cube_gate(forward=lambda x, p, xp: math.tanh(x))
    with pytest.raises(actlab.RegistrationError, match="cube_gate: evaluating forward on an array failed"):
        actlab.register(scalar_only)


def test_is_builtin() -> None:
    assert registry.is_builtin("gelu") and registry.is_builtin("SiLU")
    actlab.register(cube_gate())
    try:
        assert not registry.is_builtin("cube_gate")
    finally:
        actlab.unregister("cube_gate")


# --- accuracy of a user entry -------------------------------------------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    """The README's "Your own activation" example, as a plugin module's source."""
    text = README.read_text()
    return text.split("### Your own activation", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


NAIVE = """
import actlab
actlab.register(actlab.Elementwise(
    name="cube_gate", title="Cube gate", summary="x σ(x³)", year=2026, uses=("an experiment",),
    formula=r"x\\,\\sigma(x^3)", derivative_formula=r"\\sigma(x^3) + 3x^3\\sigma'(x^3)",
    forward=lambda x, p, xp: x / (1 + xp.exp(-x * x * x)),
    derivative=lambda x, p, xp: (s := 1 / (1 + xp.exp(-x * x * x))) + 3 * x**3 * s * (1 - s),
    monotonic=False,
))
"""


@pytest.fixture
def plugin(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Write a plugin module (``plugin(source)`` returns its name); what it registers is removed after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str, module: str = "user_plugin") -> str:
        (tmp_path / f"{module}.py").write_text(source)
        written.append(module)
        return module

    before = set(actlab.names())
    yield write
    for name in set(actlab.names()) - before:
        actlab.unregister(name)
    for module in written:
        sys.modules.pop(module, None)


def test_accuracy_quick_judges_a_user_entry_against_the_default_bound_and_says_so(
    plugin: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    module = plugin(readme_example())
    code = main(["--plugin", module, "accuracy", "cube_gate", "--quick", "--dtype", "float32", "float64"])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = [line.split() for line in out.splitlines() if line.startswith("cube_gate ")]
    assert [(r[1], r[2]) for r in rows] == [("float32", "f"), ("float32", "f'"), ("float64", "f"), ("float64", "f'")]
    assert all(r[-2:] == ["(default)", "ok"] for r in rows)
    assert "the catalog's default bound, which this entry does not state" in out
    assert "--quick: a coarse grid" in out and "±inf or NaN" not in out
    # the README shows this very table
    readme = README.read_text().split("$ actlab --plugin mymodule accuracy cube_gate --quick\n", 1)[1]
    stated = [line for line in readme.split("\n...\n", 1)[0].splitlines() if line.startswith("cube_gate ")]
    assert len(stated) == 4 and all(line in out.splitlines() for line in stated)


def test_accuracy_reports_a_derivative_that_overflows(plugin: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # the README's first form, s(1 - s) with s from e^{-x³}: 3x³ s(1 - s) is inf · 0 once x³ overflows
    module = plugin(NAIVE)
    code = main(["--plugin", module, "accuracy", "cube_gate", "--quick", "--dtype", "float64", "--json"])
    records = {r["what"]: r for r in json.loads(capsys.readouterr().out)}
    assert code == 1
    df = records["f'"]
    assert df["max_ulp"] == "inf" and not df["passed"] and df["bound_is_default"] is True
    assert df["nonfinite_points"] > 0 and abs(df["nonfinite_nearest_zero"]) > 1e100  # where x³ overflows
    assert records["f"]["nonfinite_points"] == 0
    code = main(["--plugin", module, "accuracy", "cube_gate", "--quick", "--dtype", "float64"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    (line,) = [t for t in captured.out.splitlines() if "±inf or NaN" in t]
    assert re.match(r"cube_gate float64: f′ is ±inf or NaN at \d+ of \d+ points where its exact value is finite", line)


def test_quick_grid_is_a_fifth_and_spans_the_same_range() -> None:
    for dtype in ("float16", "float32", "float64"):
        full, quick = accuracy.grid(dtype), accuracy.grid(dtype, quick=True)
        assert len(quick) < len(full) / 4
        assert quick.min() == full.min() and quick.max() == full.max()
        tiny = np.finfo(dtype).smallest_subnormal
        assert tiny in quick and np.finfo(dtype).max in quick


def test_quick_and_dense_together_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accuracy", "relu", "--quick", "--dense"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exclude each other" in err


def test_the_oracle_exp_is_exact_for_huge_arguments() -> None:
    # e^{-x³} at x = -1e308 and its neighbours: the reduction must equal mpmath's own exp to the digit
    ns = mpmath_ns(mpmath.mp)
    with mpmath.workdps(80):
        for v in (mpmath.mpf(-1e308) ** 3, mpmath.mpf("1e8") + 0.5, -mpmath.mpf(2.5e30), mpmath.mpf(1e300)):
            assert mpmath.almosteq(ns.exp(v), mpmath.exp(v), rel_eps=mpmath.mpf(10) ** -75)
        assert ns.exp(mpmath.inf) == mpmath.inf and ns.exp(-mpmath.inf) == 0 and mpmath.isnan(ns.exp(mpmath.nan))


# --- show and list of a user entry --------------------------------------------------------------


def _show(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["show", *argv]) == 0
    return capsys.readouterr().out


def test_show_states_what_is_computed_and_claims_no_accuracy(
    registered: actlab.Elementwise, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _show(capsys, "cube_gate")
    lines = {line[:12].strip(): line[12:] for line in out.splitlines() if line[:12].strip()}
    # x σ(x³) has its minimum where σ(t) (1 + 3t (1 - σ(t))) = 0, t = x³: about -0.2998 at x ≈ -0.8091
    m = re.fullmatch(r"≈\[(-0\.\d+), inf\) \(computed; minimum at x = (-0\.\d+)\)", lines["range"])
    assert m, lines["range"]
    lo, at = float(m[1]), float(m[2])
    assert lo == pytest.approx(-0.29985, abs=1e-5) and at == pytest.approx(-0.80907, abs=1e-5)
    assert actlab.get("cube_gate")(at) == pytest.approx(lo, abs=1e-6)
    assert lines["properties"] == (
        "monotonic: no (computed, as declared); C∞ (smooth) (computed); "
        "bounded below: yes, above: no (computed); zero-centred: no (computed)"
    )
    assert lines["accuracy"] == "not measured: `actlab accuracy cube_gate --quick` measures it in seconds"
    assert "self-gated" not in out and "ulp" not in out and "(-inf, inf)" not in out


def test_show_marks_declarations_and_flags_the_contradicted_ones(capsys: pytest.CaptureFixture[str]) -> None:
    spec = cube_gate(
        range=actlab.Interval(0.0, math.inf),
        zero_centred=True,
        self_gated=True,
        kinks=(actlab.Kink(1.0, 1.3208943784, "my rule"),),
        float64_ulps={"f": 8.0},
    )
    actlab.register(spec)
    try:
        out = _show(capsys, "cube_gate")
        assert main(["show", "cube_gate", "--json"]) == 0
        d = json.loads(capsys.readouterr().out)
    finally:
        actlab.unregister("cube_gate")
    assert "CONTRADICTED: declared (0, inf), but f reaches -0.299847 at x = -0.809069" in out
    assert "zero-centred: no (computed; CONTRADICTS the declared yes)" in out
    assert "self-gated: yes (declared; not computed)" in out
    assert "x = 1: f' = 1.32089 (my rule) (declared; CONTRADICTED: no jump found there)" in out
    assert "declared float64 bound f ≤ 8 ulp × max(1, κ); not measured" in out
    assert d["builtin"] is False and d["computed"] is True and d["accuracy"] is None
    assert d["declared"]["range"]["text"] == "(0, inf)" and d["declared"]["zero_centred"] is True
    assert "monotonic" in d["declared"] and "smoothness" not in d["declared"]  # False differs from the default
    assert {c["property"] for c in d["contradicted"]} == {"range", "zero_centred", "kinks"}
    assert d["range"]["lo"] == pytest.approx(-0.29985, abs=1e-5) and d["range"]["hi"] == "inf"
    assert d["properties"]["monotonic"] is False and d["properties"]["self_gated"] is True


def test_show_computes_zero_centred_and_kinks_of_a_user_entry(capsys: pytest.CaptureFixture[str]) -> None:
    odd = cube_gate(
        name="soft_clip",
        forward=lambda x, p, xp: xp.clip(x, -1.0, 1.0),
        derivative=lambda x, p, xp: xp.where(xp.abs(x) < 1, 1.0, 0.0),
        monotonic=True,
    )
    actlab.register(odd)
    try:
        assert main(["show", "soft_clip", "--json"]) == 0
        d = json.loads(capsys.readouterr().out)
    finally:
        actlab.unregister("soft_clip")
    assert d["properties"] == {
        "monotonic": True,
        "smoothness": "C0",
        "bounded_below": True,
        "bounded_above": True,
        "zero_centred": True,
    }
    assert [k["x"] for k in d["kinks"]] == [-1.0, 1.0]
    assert d["range"]["text"] == "[-1, 1]" and d["contradicted"] == []


def test_list_prints_no_undeclared_range_for_a_user_entry(
    registered: actlab.Elementwise, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("cube_gate ")]
    assert "not declared" in row and "inf" not in row
    (relu,) = [line for line in out.splitlines() if line.startswith("relu ")]
    assert "[0, inf)" in relu
    assert main(["list", "--json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    user = entries["cube_gate"]
    assert user["range"] is None and user["accuracy"] is None and user["computed"] is False
    assert user["properties"] == {"monotonic": False}  # declared only; nothing computed in a list
    assert entries["relu"]["builtin"] is True and "float64_accuracy_ulps" in entries["relu"]


def test_list_shows_a_declared_range_as_declared(capsys: pytest.CaptureFixture[str]) -> None:
    actlab.register(cube_gate(range=actlab.Interval(-0.3, math.inf, approx=True)))
    try:
        assert main(["list", "--kind", "elementwise"]) == 0
    finally:
        actlab.unregister("cube_gate")
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("cube_gate ")]
    assert "≈(-0.3, inf) (declared)" in row


def test_builtin_show_keeps_its_declared_facts(capsys: pytest.CaptureFixture[str]) -> None:
    out = _show(capsys, "relu")
    assert "range       [0, inf)\n" in out
    assert "accuracy    float16/32: ≤ 1 ulp; float64: f ≤ 4, f' ≤ 4 ulp × max(1, κ)" in out


def test_show_formula_follows_the_bound_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    tanh = actlab.spec("gelu_tanh")
    out = _show(capsys, "gelu", "-p", "approximate=tanh")
    assert f"formula     {tanh.formula_text()}\n" in out and f"derivative  {tanh.derivative_text()}\n" in out
    assert r"\mathrm{erf}" not in out.split("parameters")[0]
    assert r"\mathrm{erf}" in _show(capsys, "gelu").split("derivative")[0]
    assert main(["show", "gelu", "-p", "approximate=tanh", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["formula"] == tanh.formula_text() and d["derivative"] == tanh.derivative_text()


# --- the README's account of the namespace --------------------------------------------------------


def readme_xp_names() -> list[str]:
    block = README.read_text().split("<!-- xp names -->", 1)[1].split("<!-- end of xp names -->", 1)[0]
    return re.findall(r"`(\w+)`", block)


def test_readme_lists_exactly_the_names_every_elementwise_namespace_has() -> None:
    from actlab.namespaces import numpy_ns

    mp = mpmath_ns(mpmath.mp)
    common = {k for k, v in vars(numpy_ns).items() if callable(v) and callable(getattr(mp, k, None))}
    listed = readme_xp_names()
    assert len(listed) == len(set(listed)) and set(listed) == common
    import actlab.namespaces

    doc = actlab.namespaces.__doc__ or ""
    assert set(doc.split("has — ``", 1)[1].split("`` —", 1)[0].split()) == common


def test_readme_xp_names_exist_in_the_torch_namespace() -> None:
    torch = pytest.importorskip("torch")
    from actlab.namespaces import torch_ns

    ns = torch_ns(torch.float64)
    assert [k for k in readme_xp_names() if not callable(getattr(ns, k, None))] == []


def test_readme_compositions_are_right() -> None:
    from scipy.special import erf

    from actlab.namespaces import numpy_ns as xp

    x = np.linspace(-6, 6, 101)
    assert np.allclose(2 * xp.ndtr(x * 2**0.5) - 1, erf(x), rtol=0, atol=1e-15)
    assert np.allclose(xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x))), np.log1p(np.exp(x)), rtol=1e-15)


def test_readme_example_shows_and_measures_as_the_readme_says(plugin: Any, capsys: pytest.CaptureFixture[str]) -> None:
    module = plugin(readme_example())
    assert main(["--plugin", module, "show", "cube_gate"]) == 0
    shown = capsys.readouterr().out.splitlines()
    readme = README.read_text().split("$ actlab --plugin mymodule show cube_gate\n", 1)[1].split("\n$ ", 1)[0]
    stated = [line for line in readme.splitlines() if line != "..."]
    assert stated and all(line in shown for line in stated), stated


def test_a_user_vector_entry_shows_no_default_range(
    registered: actlab.Elementwise, capsys: pytest.CaptureFixture[str]
) -> None:
    from actlab.catalog.gated import DIM

    glu = actlab.Gated(
        name="cube_glu",
        title="cube GLU",
        summary="a ⊙ cube_gate(b)",
        formula="",
        derivative_formula="",
        year=None,
        uses=(),
        params=DIM,
        gate="cube_gate",
    )
    actlab.register(glu)
    try:
        out = _show(capsys, "cube_glu")
        assert main(["list", "--kind", "gated"]) == 0
        listed = capsys.readouterr().out
        assert main(["show", "cube_glu", "--json"]) == 0
        d = json.loads(capsys.readouterr().out)
    finally:
        actlab.unregister("cube_glu")
    assert "range" not in out and "inf" not in out.split("\n\n")[1]
    (row,) = [line for line in listed.splitlines() if line.startswith("cube_glu ")]
    assert "not declared" in row
    assert d["range"] is None and d["builtin"] is False
