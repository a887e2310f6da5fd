"""Formula activations: text in, a catalog entry out — parsed safely, differentiated by SymPy, evaluated in
stable forms and measured against the oracle, in every tool that takes an activation name."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actlab
from actlab import accuracy
from actlab.catalog import registry
from actlab.catalog.spec import DISCONTINUOUS, SMOOTH, Elementwise
from actlab.errors import FormulaError
from actlab.formula import core, define
from actlab.formula.parse import MAX_CHARS, parse
from actlab.formula.source import looks_like_formula, split_names
from actlab.namespaces import numpy_ns

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from the built-in catalog and an empty user catalog of its own."""
    monkeypatch.setenv("ACTLAB_FORMULAS", str(tmp_path / "formulas.json"))
    before = set(registry.names())
    yield
    for name in set(registry.names()) - before:
        registry.unregister(name)
    core._by_source.clear()


def values(spec: Elementwise, xs: np.ndarray, what: str = "f") -> np.ndarray:
    with np.errstate(all="ignore"):
        fn = spec.forward if what == "f" else spec.derivative
        return np.asarray(fn(np.asarray(xs, dtype=np.float64), spec.defaults(), numpy_ns), dtype=np.float64)


# --- reading ---


def test_a_formula_is_read_into_sympy_with_its_parameters_and_one_canonical_text() -> None:
    a, b = parse("x*sigmoid(beta*x)"), parse("x * sigmoid( beta * x )")
    assert a.text == b.text == "x * sigmoid(beta * x)"
    assert list(a.params) == ["beta"] and a.expr == b.expr
    assert parse("x^2").expr == parse("x**2").expr  # ^ is a power, as in mathematics
    assert parse("arctan(x)").expr == parse("atan(x)").expr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 + 2", "does not depend on x"),
        ("x - x", "does not depend on x"),
        ("sqrt(x)", "not a real number at x = -1e-300"),
        ("log(x)", "at x = "),
        ("1/x", "not finite at x = 0"),
        ("sigmod(x)", "did you mean 'sigmoid'"),
        ("x.real", "attribute access"),
        ("__import__('os').system('true')", "cannot be called"),
        ("__import__('os')", "__import__ is an unknown function"),
        ("(lambda: 1)()", "cannot be called"),
        ("'x' * 3", "is not a real number"),
        ("x if x > 0 else 0", "conditional expression"),
        ("x > 0", "only a condition of where"),
        ("x[0]", "indexing"),
        ("9**9**9", "numeric exponent is at most"),
        ("10**400", "numeric exponent is at most"),
        ("1e400 * x", "numbers are at most 1e+300"),
        ("x +", "is not an expression"),
        ("", "empty"),
        ("x**x**x**x**x" * 300, f"at most {MAX_CHARS} characters"),
        ("tanh(" * 60 + "x" + ")" * 60, "nests deeper than"),
        ("(" * 300 + "x" + ")" * 300, "too many nested parentheses"),
        ("x; import os", "is not an expression"),
        ("max(x)", "max takes 2 to 8 arguments"),
        ("where(x > 0, x)", "where takes (condition"),
        ("tanh", "is a function: call it"),
        ("x*_secret", "not a parameter name"),
        ("softmax(x)", "not elementwise"),
        ("elu(x, alpha=-1)", "alpha"),
        ("3j*x", "complex"),
        # SymPy's own KeyError deep in Piecewise (found by benchmarks/formula_fuzz.py): still one line
        (
            "max(where(atan(1) > 0, abs(x), softplus(x) - beta), where(relu(1e-300) > 0, 1e300*x, exp(-1))*1e300)",
            "cannot be used",
        ),
    ],
)
def test_what_is_not_an_activation_or_not_in_the_vocabulary_is_one_line_naming_the_reason(
    text: str, message: str
) -> None:
    with pytest.raises(FormulaError) as caught:
        define(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_text_is_a_formula_when_it_has_a_character_no_name_has() -> None:
    assert looks_like_formula("x*sigmoid(x)") and looks_like_formula("x") and looks_like_formula("tanh(x)")
    assert (
        not looks_like_formula("leaky_relu") and not looks_like_formula("LeakyReLU") and not looks_like_formula("rleu")
    )
    assert split_names('relu, where(x > 0, x, 0.1*x) ,gelu,max(x, 0)') == [
        "relu", "where(x > 0, x, 0.1*x)", "gelu", "max(x, 0)"
    ]  # fmt: skip


# --- what it is: equal entries, derivative, kinks, limits ---


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("x*sigmoid(x)", "silu"),
        ("sigmoid(x)*x", "silu"),
        ("x*silu(x)/x", "silu"),
        ("x/(1+exp(-x))", "silu"),
        ("log(1+exp(x))", "softplus"),
        ("x*tanh(log(1+exp(x)))", "mish"),
        ("x*tanh(softplus(x))", "mish"),
        ("max(x, 0)", "relu"),
        ("x*Phi(x)", "gelu"),
        ("x*(1+erf(x/sqrt(2)))/2", "gelu"),
        ("where(x > 0, x, exp(x) - 1)", "elu"),
        ("log(sigmoid(x))", "log_sigmoid"),
        ("x/(1+abs(x))", "softsign"),
    ],
)
def test_a_formula_equal_to_a_catalog_entry_is_recognised(text: str, entry: str) -> None:
    spec = define(text)
    assert spec.equals == registry.spec(entry).name
    xs = np.linspace(-20, 20, 801)
    np.testing.assert_allclose(values(spec, xs), values(registry.spec(entry), xs), rtol=1e-12, atol=1e-300)


def test_a_new_formula_equals_nothing_and_its_parameters_are_set_like_any_entrys() -> None:
    spec = define("x*sigmoid(beta*x)", params={"beta": 1.5})
    assert spec.equals is None and spec.param("beta").default == 1.5 and spec.param("beta").learnable
    act = actlab.get("x*sigmoid(beta*x)", beta=2.0)
    assert float(act(np.array([1.0]))[0]) == pytest.approx(1 / (1 + math.exp(-2.0)), rel=1e-15)
    with pytest.raises(FormulaError, match="has no parameter 'gamma'"):
        define("x*sigmoid(beta*x)", params={"gamma": 1.0})


FORMULAS = [
    "x*tanh(softplus(x))",
    "x*erf(x)",
    "atan(x)**2 - x",
    "sinc(x) + x",
    "cos(x) - x",
    "x*asinh(x)**2",
    "(sqrt(x**2 + 1) - 1)/2 + x",
    "x*sigmoid(beta*x)",
    "exp(-x**2)",
    "x**3 + x",
    "beta + tanh(x) + x",  # a term without x first: every partial sum is still a tensor in PyTorch
]


@pytest.mark.parametrize("text", FORMULAS)
def test_the_symbolic_derivative_matches_the_oracles_derivative_of_the_definition(text: str) -> None:
    spec = define(text, params={"beta": 1.3} if "beta" in text else None)
    f = accuracy._textbook(spec, spec.defaults())
    xs = [-7.5, -2.0, -0.3, 0.7, 1.9, 6.25]
    for x in xs:
        exact, _ = accuracy.derivative_at(f, x)
        assert float(values(spec, np.array([x]), "f'")[0]) == pytest.approx(float(exact), rel=1e-12, abs=1e-300), x


def test_parameter_derivatives_are_symbolic_and_match_a_difference_quotient() -> None:
    spec = define("x*sigmoid(beta*x) + alpha*tanh(x)", params={"beta": 1.3, "alpha": 0.2})
    assert set(spec.param_derivatives) == {"alpha", "beta"}
    xs = np.array([-3.0, -0.5, 0.25, 2.0])
    p = spec.defaults()
    for name in ("alpha", "beta"):
        got = spec.param_derivatives[name](xs, p, numpy_ns)
        h = 1e-6
        up = spec.bind({**vars(p), name: getattr(p, name) + h})
        down = spec.bind({**vars(p), name: getattr(p, name) - h})
        quotient = (spec.forward(xs, up, numpy_ns) - spec.forward(xs, down, numpy_ns)) / (2 * h)
        np.testing.assert_allclose(got, quotient, rtol=1e-7, atol=1e-9)


def test_piecewise_formulas_have_their_kinks_found_and_the_convention_of_relu_at_a_tie() -> None:
    leaky = define("where(x > 0, x, 0.1*x)")
    assert [(k.x, k.derivative) for k in leaky.kink_points()] == [(0.0, 0.1)]
    assert leaky.smoothness == 0
    relu_like = define("max(x, 0)")
    assert [(k.x, k.derivative) for k in relu_like.kink_points()] == [(0.0, 0.0)]
    step = define("where(x > 1, x + 1, x)")
    assert [k.x for k in step.kink_points()] == [1.0] and step.smoothness == DISCONTINUOUS
    assert define("x*sigmoid(x)").kink_points() == () and define("x*sigmoid(x)").smoothness == SMOOTH


def test_limits_at_infinity_are_sympys_and_nan_propagates() -> None:
    spec = define("x*erf(x)")
    xs = np.array([-np.inf, np.inf, np.nan])
    np.testing.assert_array_equal(values(spec, xs), [np.inf, np.inf, np.nan])
    np.testing.assert_array_equal(values(spec, xs, "f'"), [-1.0, 1.0, np.nan])
    act = actlab.get("x*tanh(softplus(x))")
    np.testing.assert_array_equal(act(np.array([-np.inf, np.inf, np.nan])), [0.0, np.inf, np.nan])


# --- numerics: the rewrites, measured ---


@pytest.mark.parametrize("text", ["log(1+exp(x))", "x*tanh(log(1+exp(x)))"])
def test_the_stabilising_rewrites_turn_a_formula_that_overflows_into_one_within_the_catalogs_bounds(text: str) -> None:
    raw = define(text, stabilise=False)
    stable = define(text)
    assert stable.rewrites and not raw.rewrites
    worst_raw = [accuracy.measure(raw.name, dt, w, quick=True) for dt in ("float32", "float64") for w in ("f", "f'")]
    worst = [accuracy.measure(stable.name, dt, w, quick=True) for dt in ("float32", "float64") for w in ("f", "f'")]
    assert any(w.nonfinite or w.ulp > 1e6 for w in worst_raw)
    assert all(w.nonfinite == 0 for w in worst)
    assert all(w.ulp <= 1 for w in worst if w.dtype == "float32")
    assert all(w.scaled <= 8 for w in worst if w.dtype == "float64")


def test_the_derivative_is_the_form_that_measures_closest_to_the_exact_one() -> None:
    """x/(1+|x|): the product rule's 1/(1+|x|) − |x|/(1+|x|)² loses every digit at large |x|; 1/(1+|x|)² does not."""
    spec = define("x/(1+abs(x))")
    big = np.array([1e10, -1e100, 1e200])
    np.testing.assert_allclose(values(spec, big, "f'"), 1 / (1 + np.abs(big)) / (1 + np.abs(big)), rtol=1e-14)


def test_show_measures_a_formulas_accuracy_and_names_where_digits_are_lost() -> None:
    from actlab.formula import facts

    raw = define("x*tanh(log(1+exp(x)))", stabilise=False)
    lines = facts.accuracy_lines(facts.accuracy(raw, quick=True))
    assert any("LOSES DIGITS" in line or "±inf or NaN" in line for line in lines)


# --- safety: hostile text never runs, never hangs ---


def test_no_formula_text_reaches_python_evaluation(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hostile = [
        f"__import__('pathlib').Path({str(marker)!r}).touch()",
        f"open({str(marker)!r}, 'w')",
        "().__class__.__bases__[0].__subclasses__()",
        "exec('x')",
        "eval('x')",
        "globals()",
        "x.__class__",
        "[x for x in ()]",
        "{'a': x}",
        "f'{x}'",
        "lambda x: x",
        "(x := 1)",
        "await x",
        "yield x",
    ]
    for text in hostile:
        with pytest.raises(FormulaError):
            define(text)
    assert not marker.exists()


def test_the_sympy_steps_are_time_limited() -> None:
    import time

    started = time.perf_counter()
    with pytest.raises(core._TimeUp):
        with core.time_limit(0.2):
            while True:
                pass
    assert time.perf_counter() - started < 2


# --- everywhere a name is taken ---


def test_a_formula_is_an_activation_in_numpy_pytorch_and_the_analysis() -> None:
    from actlab.analysis.gains import gains

    act = actlab.get("x*sigmoid(x)")
    np.testing.assert_allclose(act(np.linspace(-5, 5, 11)), actlab.get("silu")(np.linspace(-5, 5, 11)), rtol=1e-15)
    import actlab.torch as at

    module = at.get("x*sigmoid(beta*x)", learnable=True, beta=1.2)
    x = torch.linspace(-4, 4, 33, dtype=torch.float64, requires_grad=True)
    module(x).sum().backward()
    beta = torch.tensor(1.2, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    (x2 * torch.sigmoid(beta * x2)).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(next(module.parameters()).grad.reshape(()).double(), beta.grad, rtol=1e-6, atol=1e-6)
    mine, silu = gains("x*sigmoid(x)"), gains("silu")
    assert mine.keys() == silu.keys() and all(mine[k] == pytest.approx(silu[k], rel=1e-9) for k in mine)


def test_a_pytorch_module_of_a_formula_pickles_into_a_fresh_process(tmp_path: Path) -> None:
    import actlab.torch as at

    module = at.get("x*erf(x)")
    file = tmp_path / "m.pt"
    file.write_bytes(pickle.dumps(module))
    code = (
        "import pickle, sys, torch; import actlab.torch\n"
        f"m = pickle.loads(open({str(file)!r}, 'rb').read())\n"
        "print(float(m(torch.tensor([1.5], dtype=torch.float64))[0]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ})
    assert float(out.stdout) == pytest.approx(1.5 * math.erf(1.5), rel=1e-15)


def test_every_elementwise_catalog_entry_can_be_called_in_a_formula() -> None:
    xs = np.linspace(-6, 6, 97)
    for name in registry.names(kind="elementwise"):
        if not registry.is_builtin(name):
            continue
        spec = define(f"{name}(x) + 0*x" if name != "identity" else "identity(x)")
        np.testing.assert_allclose(values(spec, xs), values(registry.spec(name), xs), rtol=1e-13, atol=1e-300)


# --- persistence and the command line ---


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("actlab")), *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_a_named_formula_is_kept_in_the_user_catalog_and_seen_by_later_processes(tmp_path: Path) -> None:
    env = {"ACTLAB_FORMULAS": str(tmp_path / "cat" / "formulas.json")}
    made = run("define", "swish_b", "x*sigmoid(beta*x)", "--param", "beta=1.5", env=env)
    assert made.returncode == 0, made.stderr
    assert "saved as swish_b" in made.stdout and "accuracy" in made.stdout
    data = json.loads((tmp_path / "cat" / "formulas.json").read_text())
    assert data["formulas"]["swish_b"] == {"formula": "x * sigmoid(beta * x)", "params": {"beta": 1.5},
                                           "learnable": ["beta"], "stabilise": True}  # fmt: skip
    ev = run("eval", "swish_b", "2", env=env)
    assert ev.returncode == 0 and float(ev.stdout.split()[-1]) == pytest.approx(2 / (1 + math.exp(-3.0)), rel=1e-15)
    listed = run("define", "--list", env=env)
    assert "swish_b" in listed.stdout
    assert run("define", "--remove", "swish_b", env=env).returncode == 0
    gone = run("eval", "swish_b", "2", env=env)
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1 and "unknown activation" in gone.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("define", "relu", "x"), "one of the catalog's own activations"),
        (("define", "mine", "sqrt(x)"), "not a real number"),
        (("show", "x*foo(x)"), "foo is an unknown function"),
        (("eval", "x**(1/2)", "1"), "not a real number"),
        (("compare", "--activations", "relu,x*sigmod(x)", "--dataset", "moons"), "did you mean 'sigmoid'"),
    ],
)
def test_a_bad_formula_on_the_command_line_is_one_line_and_exit_2(
    args: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    out = run(*args, env={"ACTLAB_FORMULAS": str(tmp_path / "f.json")})
    assert out.returncode == 2 and message in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_compare_trains_a_formula_against_gelu_in_worker_processes_and_stores_the_formula(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    out = run(
        "compare", "--dataset", "moons", "--model", "mlp", "--activations", "gelu,x*erf(x)", "--seeds", "2",
        "--epochs", "1", "--depth", "1", "--width", "8", "--workers", "2", "--db", str(db),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "x * erf(x)" in out.stdout
    runs = json.loads(run("results", "--runs", "--json", "--db", str(db)).stdout)
    mine = [r for r in runs if r["config"]["activation"] == "x * erf(x)"]
    assert len(mine) == 2 and all(r["result"]["status"] == "ok" for r in mine)
    assert json.loads(mine[0]["config"]["formula"])["formula"] == "x * erf(x)"
    gelu = [r for r in runs if r["config"]["activation"] == "gelu"]
    assert (gelu and "formula" not in gelu[0]["config"]) or gelu[0]["config"].get("formula", "") == ""
    # read back from the store, the formula and gelu are one comparison, paired per seed as compare printed them
    shown = json.loads(run("results", "--json", "--db", str(db)).stdout)
    assert len(shown) == 1 and {r["activation"] for r in shown[0]["rows"]} == {"gelu", "x * erf(x)"}


def test_the_oracle_and_numpy_agree_on_a_formula_at_high_precision() -> None:
    spec = define("x*tanh(softplus(x))")
    f = accuracy._textbook(spec, spec.defaults())
    with mpmath.workdps(50):
        exact = f(mpmath.mpf(-3))
    assert float(values(spec, np.array([-3.0]))[0]) == pytest.approx(float(exact), rel=2e-16)


# --- fuzzing: hostile and malformed text ---


def _fuzz_vocabulary() -> ModuleType:
    """The vocabulary of ``benchmarks/formula_fuzz.py`` (the measured fuzz run): the tests draw from the same."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "formula_fuzz.py"
    spec = importlib.util.spec_from_file_location("formula_fuzz", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_FUZZ = _fuzz_vocabulary()
TOKENS: list[str] = _FUZZ.TOKENS
LEAVES = st.sampled_from(_FUZZ.LEAVES)
UNARY = st.sampled_from(_FUZZ.UNARY)
EXPRESSIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.tuples(UNARY, inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
        st.tuples(st.sampled_from(["max", "min"]), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"where({t[0]} > 0, {t[1]}, {t[2]})"),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(st.sampled_from(TOKENS), max_size=30).map("".join), st.text(max_size=80), EXPRESSIONS))
def test_any_text_either_defines_an_activation_or_is_one_formula_error_line_quickly(text: str) -> None:
    import time

    started = time.perf_counter()
    try:
        spec = define(text, register=False)
    except FormulaError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
    else:
        assert isinstance(spec, Elementwise)
    assert time.perf_counter() - started < 4 * core.SYMPY_SECONDS


def test_the_readme_formula_example_runs() -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split("### An activation from a formula", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), scope)
    module = scope["module"]
    assert isinstance(module, torch.nn.Module) and [n for n, _ in module.named_parameters()]


@pytest.mark.parametrize("text", FORMULAS)
def test_pytorch_evaluates_a_formula_and_its_derivative_as_numpy_does(text: str) -> None:
    import actlab.torch as at

    spec = define(text, params={"beta": 1.3} if "beta" in text else None)
    xs = np.concatenate([np.linspace(-12, 12, 97), [-1e30, 1e30, 0.0]])
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    y = at.get(text, **({"beta": 1.3} if "beta" in text else {}))(x)
    y.backward(torch.ones_like(y))
    np.testing.assert_allclose(y.detach().numpy(), values(spec, xs), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(x.grad.numpy(), values(spec, xs, "f'"), rtol=1e-13, atol=1e-300)


def test_the_time_limit_is_not_raised_inside_a_callback_that_would_swallow_it() -> None:
    """A garbage-collection hook running when the limit expires must not receive the exception."""
    import gc
    import time

    seen: list[str] = []

    def hook(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            end = time.perf_counter() + 0.05
            while time.perf_counter() < end:  # a slow hook, so that the alarm falls inside it
                pass
            seen.append(phase)

    gc.callbacks.append(hook)
    try:
        with pytest.raises(core._TimeUp):
            with core.time_limit(0.02):
                gc.collect()
                while True:
                    pass
    finally:
        gc.callbacks.remove(hook)
    assert seen


def test_the_time_limit_is_not_raised_inside_a_weakref_callback() -> None:
    """A finalizer (weakref machinery the interpreter calls when an object dies, as JAX's caches make it
    do) running when the limit expires must not receive the exception either."""
    import time
    import weakref

    seen: list[int] = []

    def slow() -> None:
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:  # the alarm falls inside the callback
            pass
        seen.append(1)

    class Thing:
        pass

    thing = Thing()
    weakref.finalize(thing, slow)
    with pytest.raises(core._TimeUp):
        with core.time_limit(0.02):
            del thing  # the finalizer runs here
            end = time.perf_counter() + 2.0
            while time.perf_counter() < end:  # swallowed in the callback, the limit would never come
                pass
    assert seen


def test_the_readme_lists_exactly_the_functions_a_formula_may_call() -> None:
    from actlab.formula.parse import FUNCTIONS

    text = " ".join((ROOT / "README.md").read_text().split())
    listed = text.split("the functions `", 1)[1].split("`", 1)[0].split()
    assert len(listed) == len(set(listed)) and set(listed) == set(FUNCTIONS)
