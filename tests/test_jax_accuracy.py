"""`actlab accuracy --backend jax`: actlab.jax against the mpmath oracle, on the coarse grid.

float16, bfloat16 and float64 are held to the bounds; float32 (computed in float32) is measured
only; the points where x or the exact value is subnormal are measured apart, since XLA on CPU
flushes them; ±inf and NaN give the exact limits and NaN.
"""

from __future__ import annotations

import json
import sys

import pytest

jax = pytest.importorskip("jax")

import jax.numpy as jnp  # noqa: E402
import mpmath  # noqa: E402

import actlab  # noqa: E402
import actlab.jax as aj  # noqa: E402
from actlab import accuracy  # noqa: E402
from actlab.cli import main  # noqa: E402

SUBSET = ["sigmoid", "silu", "gelu", "elu", "softmax"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["accuracy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_on_a_subset_is_within_the_stated_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *SUBSET, "--backend", "jax", "--quick", "--dtype", "float16", "float64", "--json")
    records = json.loads(out)
    assert code == 0
    assert {r["name"] for r in records} == set(SUBSET)
    for r in records:
        assert r["special"] == [] and r["enforced"] == (r["zone"] == "normal")  # the subnormal zone is not held
        if r["zone"] == "normal":
            assert r["points"] > 0
            held = r["max_ulp_per_condition"] if r["dtype"] == "float64" else r["max_ulp"]
            assert r["passed"] and held <= r["bound"], r


def test_the_table_states_float32_as_measured_only_and_the_flush(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "gelu", "relu", "--backend", "jax", "--quick", "--dtype", "float32", "bfloat16")
    assert code == 0
    rows = {tuple(line.split()[:2]): line.split() for line in out.splitlines()[2:6]}
    assert rows[("gelu", "float32")][-1] == "-" and rows[("gelu", "float32")][6] == "-"  # no bound, no verdict
    assert float(rows[("gelu", "float32")][3]) > 1  # computed in float32: tens of ulp, stated as measured
    assert rows[("relu", "bfloat16")][-1] == "ok"
    assert "XLA here (measured): float32: subnormal inputs" in out


@pytest.mark.parametrize(
    "argv, says",
    [
        (["gelo", "--backend", "jax"], "unknown activation 'gelo'"),
        (["gelu", "--backend", "jax", "--dtype", "float8"], "invalid choice: 'float8'"),
        (["gelu", "--backend", "jax", "--fast"], "--fast is for another backend"),
        (["gelu", "--backend", "jax", "--exact"], "--exact is for another backend"),
        (["gelu", "--backend", "jax", "--quick", "--dense"], "exclude each other"),
    ],
)
def test_bad_input_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and says in err


def test_without_jax_the_command_says_what_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` raises ImportError
    code, _, err = _run(capsys, "gelu", "--backend", "jax")
    assert code == 2 and err.strip() == "actlab: error: --backend jax needs JAX: pip install 'actlab[jax]'"


def test_sigmoid_derivative_is_the_catalogs_not_autodiffs() -> None:
    """σ′(20) in float32 is 2.06e-9; s(1 − s), what autodiff of σ gives, is 0 from x ≈ 17.3."""
    x = 20.0
    exact = mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2
    ours = float(jax.jit(jax.grad(aj.get("sigmoid")))(jnp.float32(x)))
    assert accuracy.ulp_error(ours, exact, "float32") <= 1.0
    worst, _ = accuracy.measure_jax("sigmoid", "float32", "f'", quick=True)
    autodiff, _ = accuracy.measure_jax("sigmoid", "float32", "f'", quick=True, fn=jax.nn.sigmoid)
    assert worst.ulp <= 4.0 < 1e6 < autodiff.ulp  # 2.5 ulp measured, against 1.7e7 for s(1 − s)


def test_special_values_are_the_limits_and_a_nan_at_infinity_is_reported() -> None:
    for name in ("silu", "gelu", "softplus", "elu"):
        assert accuracy.jax_special_values(name, "float32") == ()
    assert accuracy.jax_special_values("silu", "float32", fn=jax.nn.silu) == (
        "f(−∞) = nan, not 0",
        "f′(−∞) = nan, not 0",
        "f′(+∞) = nan, not 1",
    )


def test_subnormals_are_measured_apart_as_xla_treats_them() -> None:
    """relu′ at the smallest float32 subnormal is 1; XLA reading it as 0 gives 0 (2²³ ulp), which the
    flush zone holds apart from the measurement held to the bounds."""
    reads_zero, _ = accuracy.xla_flushes_subnormals("float32")
    normal, zone = accuracy.measure_jax("relu", "float32", "f'", quick=True)
    assert normal.ulp == 0 and zone is not None and zone.points > 0
    assert (zone.ulp > 1e6) == reads_zero
    assert accuracy.flush_limit("float16") == 0.0
    assert accuracy.measure_jax("relu", "float16", "f'", quick=True)[1] is None


def test_bfloat16_has_a_grid_and_rows_within_one_ulp() -> None:
    rows = list(accuracy.jax_report(["silu"], ["bfloat16"], quick=True))
    assert [r.dtype for r in rows] == ["bfloat16"] and rows[0].passed
    assert all(w.ulp <= 1.0 for w in rows[0].measured)
    assert actlab.get("silu").name == rows[0].name
