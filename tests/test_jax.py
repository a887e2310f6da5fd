"""The JAX backend: the catalog's formulas on a JAX namespace, the catalog's derivatives through
custom_jvp — equal to the NumPy reference, and working under grad, vmap and jit."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)  # float64 as the reference computes it (this file's process only)

import jax.numpy as jnp  # noqa: E402

import actlab  # noqa: E402
import actlab.jax as aj  # noqa: E402
from actlab.catalog import registry  # noqa: E402
from actlab.errors import InvalidParameterError  # noqa: E402

ELEMENTWISE = [n for n in registry.names(kind="elementwise") if registry.is_builtin(n)]
XS = np.concatenate([np.linspace(-30.0, 30.0, 481), [-1e10, -1e5, 1e5, 1e10, 0.0, -0.0]])


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_every_entry_equals_the_numpy_reference_in_float64_with_the_catalogs_derivative(name: str) -> None:
    ref = actlab.get(name)
    f = aj.get(name)
    got = np.asarray(jax.jit(f)(jnp.asarray(XS)))
    with np.errstate(all="ignore"):
        want, dwant = ref(XS), ref.derivative(XS)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-290)
    dgot = np.asarray(jax.jit(jax.vmap(jax.grad(f)))(jnp.asarray(XS)))
    np.testing.assert_allclose(dgot, dwant, rtol=1e-12, atol=1e-290)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_infinities_and_nan_as_the_reference_gives_them(name: str) -> None:
    special = np.array([-np.inf, np.inf, np.nan])
    with np.errstate(all="ignore"):
        want = actlab.get(name)(special)
    np.testing.assert_array_equal(np.asarray(aj.get(name)(jnp.asarray(special))), want)


@pytest.mark.parametrize("name", ["silu", "gelu", "mish", "elu", "softplus", "tanh"])
def test_float32_is_close_to_the_reference_and_half_types_are_float32_rounded_once(name: str) -> None:
    xs = np.linspace(-12, 12, 97).astype(np.float32)
    got = np.asarray(aj.get(name)(jnp.asarray(xs)))
    assert got.dtype == np.float32
    # float32 arithmetic, not float64 rounded once: within tens of ulp (GELU's far tail through Φ) of the reference
    np.testing.assert_allclose(got, actlab.get(name)(xs), rtol=1e-5, atol=1e-30)
    for half in (jnp.bfloat16, jnp.float16):
        y = aj.get(name)(jnp.asarray(xs, dtype=half))
        assert y.dtype == half
        exact32 = aj.get(name)(jnp.asarray(xs, dtype=half).astype(jnp.float32))
        np.testing.assert_array_equal(
            np.asarray(y.astype(jnp.float32)), np.asarray(exact32.astype(half).astype(jnp.float32))
        )


def test_the_derivative_is_the_catalogs_not_autodiff_of_the_forward() -> None:
    """σ′ at x = 20 in float32: σ(1 − σ) is 0 there, the catalog's σ(x)σ(−x) is 2.06e-9."""
    d = jax.grad(aj.get("sigmoid"))(jnp.float32(20.0))
    assert float(d) == pytest.approx(2.0611536e-09, rel=1e-6)
    second = jax.grad(jax.grad(aj.get("silu")))(1.0)
    s = 1 / (1 + np.exp(-1.0))
    assert float(second) == pytest.approx(s * (1 - s) * (2 + 1.0 * (1 - 2 * s)), rel=1e-9)


def test_learnable_parameters_are_traced_with_the_catalogs_parameter_derivative() -> None:
    x = jnp.linspace(-3.0, 3.0, 13)
    loss = lambda b: aj.functional.swish_beta(x, beta=b).sum()  # noqa: E731
    g = float(jax.grad(loss)(jnp.float64(1.5)))
    spec = registry.spec("swish_beta")
    want = float(np.sum(spec.param_derivatives["beta"](np.asarray(x), spec.bind(beta=1.5), actlab.namespaces.numpy_ns)))
    assert g == pytest.approx(want, rel=1e-12)
    assert float(aj.functional.elu(jnp.float64(-1.0), alpha=0.5)) == pytest.approx(0.5 * (np.exp(-1) - 1), rel=1e-15)
    with pytest.raises(InvalidParameterError, match="is not learnable"):
        aj.functional.leaky_relu(x, negative_slope=jnp.float64(0.1))


def test_names_aliases_formulas_and_unknown_names() -> None:
    assert float(aj.get("SiLU")(1.0)) == float(aj.get("swish")(1.0))
    assert float(aj.get("x*sigmoid(x)")(1.0)) == pytest.approx(float(aj.get("silu")(1.0)), rel=1e-15)
    with pytest.raises(Exception, match="did you mean 'gelu'"):
        aj.get("gelo")


def test_without_jax_the_import_says_what_to_install() -> None:
    code = "import sys; sys.modules['jax'] = None\ntry:\n import actlab.jax\nexcept ImportError as e:\n print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert out.stdout.strip() == "actlab.jax needs JAX: pip install 'actlab[jax]'"


def test_the_readme_example_runs() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("## JAX", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "README.md", "exec"), {})
