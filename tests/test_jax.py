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
    section = text.split("## JAX\n", 1)[1].split("\n## ", 1)[0]
    blocks = [part.split("```", 1)[0] for part in section.split("```python\n")[1:]]
    assert len(blocks) == 2
    scope: dict[str, object] = {}
    for block in blocks:  # in order, in one namespace, as a reader would run them
        exec(compile(block, "README.md", "exec"), scope)
    assert scope["y"].shape == (4, 32)  # type: ignore[attr-defined]


# --- softmax, gated and pooled entries: the catalog's VJP by custom_vjp --------------------------

VECTOR = [n for n in registry.names() if registry.spec(n).kind != "elementwise" and registry.is_builtin(n)]


@pytest.mark.parametrize("name", VECTOR)
def test_vector_entries_equal_the_reference_forward_and_vjp_under_jit_and_vmap(name: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(scale=4.0, size=(5, 12))
    g = rng.normal(size=actlab.get(name)(x).shape)
    ref = actlab.get(name)
    f = aj.get(name)
    np.testing.assert_allclose(np.asarray(jax.jit(f)(jnp.asarray(x))), ref(x), rtol=1e-12, atol=1e-300)
    _, pull = jax.vjp(f, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(pull(jnp.asarray(g))[0]), ref.vjp(x, g), rtol=1e-12, atol=1e-300)
    rows = jax.vmap(lambda r: jax.grad(lambda v: jnp.sum(f(v) * jnp.asarray(g[0])))(r))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(rows)[0], ref.vjp(x[:1], g[:1])[0], rtol=1e-12, atol=1e-300)


def test_vector_entries_keep_the_catalogs_limits_and_check_shapes() -> None:
    row = jnp.array([[-np.inf, -np.inf], [np.inf, 0.0], [np.nan, 1.0]])
    np.testing.assert_array_equal(np.asarray(aj.get("softmax")(row)), actlab.get("softmax")(np.asarray(row)))
    assert np.asarray(aj.get("softmax", temperature=2.0)(jnp.ones((2, 4)))).sum() == pytest.approx(2.0)
    from actlab.errors import ShapeError

    with pytest.raises(ShapeError, match="odd"):
        aj.get("swiglu")(jnp.ones((2, 5)))
    with pytest.raises(ShapeError, match="multiple of 3"):
        aj.get("maxout", pieces=3)(jnp.ones((2, 4)))
    y = aj.get("geglu")(jnp.ones((2, 4), dtype=jnp.bfloat16))
    assert y.dtype == jnp.bfloat16 and y.shape == (2, 2)


# --- jax.nn's names, signatures and defaults ------------------------------------------------------

import inspect  # noqa: E402

from actlab.jax import nn as ann_nn  # noqa: E402


def _public(module: object) -> set[str]:
    return {n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))}


def test_every_name_in_jax_nn_is_an_activation_actlab_serves_or_passed_through() -> None:
    names = _public(jax.nn)
    unplaced = names - set(ann_nn.JAX_NN) - set(ann_nn.NOT_ACTIVATIONS)
    assert not unplaced, f"jax.nn has names actlab.jax.nn does not place: {sorted(unplaced)}"
    assert set(ann_nn.JAX_NN) <= names
    for name in ann_nn.NOT_ACTIVATIONS:
        if name in names:
            assert getattr(ann_nn, name) is getattr(jax.nn, name)


@pytest.mark.parametrize("name", sorted(ann_nn.JAX_NN))
def test_each_jax_nn_activation_has_jax_nns_defaults_and_values(name: str) -> None:
    info = ann_nn.JAX_NN[name]
    signature = inspect.signature(getattr(jax.nn, name)).parameters
    for arg, _, default in info.arguments:
        assert signature[arg].default == default, f"jax.nn.{name}({arg}=...) defaults to {signature[arg].default}"
    assert ("where" in signature) == info.masked
    x = jnp.asarray(np.linspace(-7.0, 7.0, 64).reshape(4, 16))
    ours, theirs = getattr(ann_nn, name)(x), getattr(jax.nn, name)(x)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-6, atol=1e-12)
    assert aj.get(name)(x).shape == ours.shape  # the name resolves in get() too


def test_gelu_defaults_differ_as_documented_and_bad_arguments_are_one_line() -> None:
    x = jnp.float64(1.0)
    assert float(ann_nn.gelu(x)) == float(aj.get("gelu", approximate="tanh")(x)) == float(aj.get("gelu_tanh")(x))
    assert float(ann_nn.gelu(x, approximate=False)) == float(aj.get("gelu")(x))
    assert float(aj.get("gelu")(x)) != float(jax.nn.gelu(x))  # actlab's gelu is exact, jax.nn's tanh
    mask = jnp.array([True, False, True])
    np.testing.assert_allclose(
        np.asarray(ann_nn.softmax(jnp.array([1.0, 2.0, 3.0]), where=mask)),
        np.asarray(jax.nn.softmax(jnp.array([1.0, 2.0, 3.0]), where=mask)),
        rtol=1e-12,
    )
    with pytest.raises(InvalidParameterError, match="takes no argument 'alpha'; it takes: none"):
        ann_nn.relu(x, alpha=1.0)
    with pytest.raises(AttributeError, match="did you mean 'soft_sign'"):
        ann_nn.soft_sing  # noqa: B018
    with pytest.raises(Exception, match="did you mean"):
        aj.get("sparse_sigmod")


# --- Flax NNX modules and initialisers ------------------------------------------------------------

nnx = pytest.importorskip("flax.nnx")
from actlab.jax import nnx as ann  # noqa: E402


def test_learnable_parameters_are_nnx_params_kept_in_their_domain() -> None:
    act = ann.Activation("swish_beta", learnable=True, beta=1.5, num_parameters=3)
    state = nnx.state(act, nnx.Param)
    assert list(state.keys()) == ["beta_raw"] and state["beta_raw"][...].shape == (3,)
    np.testing.assert_allclose(np.asarray(act.values()["beta"]), 1.5, rtol=1e-6)
    x = jnp.linspace(-3.0, 3.0, 12, dtype=jnp.float32).reshape(4, 3)
    np.testing.assert_allclose(np.asarray(act(x)), actlab.get("swish_beta", beta=1.5)(np.asarray(x)), rtol=1e-6)
    snake = ann.Activation("snake", learnable=True, num_parameters=3)  # α > 0: 1/α must stay finite
    snake.alpha_raw[...] = jnp.array([-200.0, 0.0, 5.0], dtype=jnp.float32)  # softplus(-200) underflows to 0
    assert float(snake.values()["alpha"][0]) > 0 and np.all(np.isfinite(np.asarray(snake(x))))
    with pytest.raises(ValueError, match="last axis"):
        act(jnp.ones((3, 4)))
    with pytest.raises(InvalidParameterError, match="not learnable"):
        ann.Activation("leaky_relu", learnable=["negative_slope"])
    with pytest.raises(InvalidParameterError, match="starts above 0"):
        ann.Activation("elu", learnable=True, alpha=0.0)
    assert ann.Activation("prelu", learnable=True).weight[...].shape == (1,)  # unconstrained: its own name


def test_a_formula_is_a_flax_module_with_its_parameter_learnable() -> None:
    """A researcher's formula: the module holds its parameter as an nnx.Param, and its gradient is the
    formula's symbolic ∂f/∂a, equal to the NumPy reference's."""
    act = ann.Activation("x * sigmoid(a*x)", learnable=True, a=1.5, num_parameters=3)
    assert list(nnx.state(act, nnx.Param).keys()) == ["a"]
    x = jnp.linspace(-3.0, 3.0, 12, dtype=jnp.float32).reshape(4, 3)
    ref = actlab.get("x * sigmoid(a*x)", a=1.5)
    np.testing.assert_allclose(np.asarray(act(x)), ref(np.asarray(x)), rtol=1e-6)
    grad = nnx.grad(lambda m: m(x).sum())(act)["a"][...]
    xs = np.asarray(x, dtype=np.float64)
    s = 1.0 / (1.0 + np.exp(-1.5 * xs))
    want = (xs * xs * s * (1.0 - s)).sum(axis=0)  # ∂/∂a of x·σ(ax) = x²σ(ax)σ(−ax)
    np.testing.assert_allclose(np.asarray(grad), want, rtol=1e-5)
    with pytest.raises(InvalidParameterError, match="'b' is not learnable; learnable: a"):
        ann.Activation("x * sigmoid(a*x)", learnable=["b"])


def test_prelu_replaces_flaxs_prelu() -> None:
    x = jnp.linspace(-2.0, 2.0, 9)
    ours, theirs = ann.PReLU(negative_slope_init=0.2), nnx.PReLU(negative_slope_init=0.2)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), rtol=1e-7)
    g_ours = nnx.grad(lambda m: m(x).sum())(ours)
    g_theirs = nnx.grad(lambda m: m(x).sum())(theirs)
    assert float(g_ours["negative_slope"][...]) == pytest.approx(float(g_theirs["negative_slope"][...]))


def test_gated_ffn_and_maxout_layers() -> None:
    ffn = ann.GatedFFN(6, 8, "silu", rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (3, 6))
    h = ffn.up_gate(x)
    a, b = np.split(np.asarray(h, dtype=np.float64), 2, axis=-1)
    want = np.asarray(ffn.down(jnp.asarray((a * actlab.get("silu")(b)).astype(np.float32))))
    np.testing.assert_allclose(np.asarray(ffn(x)), want, rtol=1e-5, atol=1e-6)
    assert ffn.gated == "swiglu" and ann.GatedFFN(6, 8, "snake", rngs=nnx.Rngs(0))(x).shape == (3, 6)
    with pytest.raises(InvalidParameterError, match="elementwise or gated"):
        ann.GatedFFN(6, 8, "softmax", rngs=nnx.Rngs(0))
    assert ann.Maxout(6, 4, pieces=3, rngs=nnx.Rngs(0))(x).shape == (3, 4)


def test_variance_scaling_uses_the_activations_gain() -> None:
    from actlab.analysis.gains import gains

    for name in ("relu", "gelu", "tanh"):
        w = aj.init.variance_scaling(name, distribution="normal")(jax.random.key(0), (2048, 512), jnp.float32)
        assert float(jnp.var(w)) * 2048 == pytest.approx(gains(name)["forward"] ** 2, rel=0.02)
    w = aj.init.variance_scaling("gelu", mode="fan_out", distribution="uniform")(jax.random.key(0), (512, 2048))
    assert float(jnp.var(w)) * 2048 == pytest.approx(gains("gelu")["backward"] ** 2, rel=0.02)
    assert aj.init.calculate_gain("selu") == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError, match="fan_in"):
        aj.init.variance_scaling("relu", mode="fan_avg")
    with pytest.raises(ValueError, match="truncated_normal"):
        aj.init.variance_scaling("relu", distribution="cauchy")


def test_a_small_flax_model_trains_on_digits_with_a_learnable_activation() -> None:
    """A real dataset (scikit-learn's digits), a Flax NNX model with a learnable Swish-β, a GatedFFN
    and the activation's own initialiser, trained with optax: the loss falls, the test accuracy is far
    above chance, and β moved."""
    optax = pytest.importorskip("optax")
    from sklearn.datasets import load_digits

    digits = load_digits()
    xs = jnp.asarray(digits.data / 16.0, dtype=jnp.float32)
    ys = jnp.asarray(digits.target)
    train, test = slice(0, 1400), slice(1400, None)

    class Net(nnx.Module):
        def __init__(self, rngs: nnx.Rngs) -> None:
            init = aj.init.variance_scaling("swish_beta", beta=1.0)
            self.inp = nnx.Linear(64, 32, kernel_init=init, rngs=rngs)
            self.act = ann.Activation("swish_beta", learnable=True, beta=1.0, num_parameters=32)
            self.ffn = ann.GatedFFN(32, 32, "silu", rngs=rngs)
            self.out = nnx.Linear(32, 10, rngs=rngs)

        def __call__(self, x: jax.Array) -> jax.Array:
            h = self.act(self.inp(x))
            return self.out(h + self.ffn(h))

    model = Net(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

    def loss_fn(m: Net, x: jax.Array, y: jax.Array) -> jax.Array:
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    @nnx.jit
    def step(m: Net, o: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
        loss, grads = nnx.value_and_grad(loss_fn)(m, x, y)
        o.update(m, grads)
        return loss

    first = float(loss_fn(model, xs[train], ys[train]))
    for _ in range(150):
        step(model, opt, xs[train], ys[train])
    last = float(loss_fn(model, xs[train], ys[train]))
    accuracy = float(jnp.mean(jnp.argmax(model(xs[test]), -1) == ys[test]))
    assert last < first / 5 and accuracy > 0.85, (first, last, accuracy)
    assert float(jnp.max(jnp.abs(model.act.values()["beta"] - 1.0))) > 1e-3


def test_without_flax_the_nnx_import_says_what_to_install() -> None:
    code = "import sys; sys.modules['flax'] = None\ntry:\n import actlab.jax.nnx\nexcept ImportError as e:\n print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert out.stdout.strip() == "actlab.jax.nnx needs Flax: pip install 'actlab[jax]'"


@pytest.mark.parametrize("module", ["actlab.jax", "actlab.jax.nn", "actlab.jax.nnx", "actlab.jax.init"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
