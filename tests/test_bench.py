"""``actlab bench``: the schema of its results, their consistency, the results file and the command.

Speeds are never asserted: only that the numbers exist, are finite and agree with each other.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import statistics
from collections.abc import Callable

import pytest

from actlab import bench
from actlab.cli import main
from actlab.errors import ActlabError, UnknownActivationError

SMALL = 4096
NAMES = ["relu", "gelu", "softmax", "swiglu"]
ROW_KEYS = {"name", "backend", "impl", "pass", "median_s", "min_s", "max_s", "elements_per_s", "gbs"}
ROW_KEYS |= {"fraction_of_bandwidth", "times_s", "block"}
PAIRED_KEYS = {"relu_s", "vs_relu"}
"""Keys of the rows of actlab's own implementations (but ReLU's): ReLU's times in the same rounds, the ratio."""
ROUNDS = 7


@pytest.fixture(scope="module")
def result() -> dict:
    return bench.run(names=NAMES, size=SMALL, repeats=ROUNDS)


def _backends() -> list[str]:
    try:
        import torch  # noqa: F401
    except ImportError:
        return ["numpy"]
    return ["numpy", "torch"]


def test_schema(result: dict) -> None:
    assert result["schema"] == bench.SCHEMA
    assert set(result) >= {"schema", "created", "machine", "config", "bandwidth", "busy", "busy_reason", "rows"}
    assert set(result["machine"]) >= {"cpu", "cores", "python", "numpy", "torch"}
    cfg = result["config"]
    assert cfg == {
        "dtype": "float32",
        "size": SMALL,
        "threads": 1,
        "repeats": ROUNDS,
        "backends": _backends(),
        "names": NAMES,
        "impls": "all",
        "passes": list(bench.PASSES),
        "confidence": bench.CONFIDENCE,
        "max_repeats": ROUNDS,
        "precision": bench.PRECISION,
        "clock": "thread_time",
    }
    assert set(result["bandwidth"]) == {"gbs", "gbs_end", "median_s"}
    assert isinstance(result["busy"], bool)
    assert (result["busy_reason"] is None) == (not result["busy"])
    json.dumps(result, allow_nan=False)  # plain JSON


def test_every_pass_of_every_activation(result: dict) -> None:
    for backend in result["config"]["backends"]:
        own = bench.OWN_IMPL[backend]
        for name in NAMES:
            for pass_ in bench.PASSES:
                assert any(
                    r["name"] == name and r["backend"] == backend and r["impl"] == own and r["pass"] == pass_
                    for r in result["rows"]
                ), (name, backend, pass_)
    impls = {(r["backend"], r["impl"]) for r in result["rows"]}
    assert {("numpy", "actlab_out"), ("numpy", "textbook"), ("numpy", "scipy")} <= impls
    if "torch" in result["config"]["backends"]:
        assert {("torch", "torch_eager"), ("torch", "torch_out")} <= impls


def test_numbers_are_consistent(result: dict) -> None:
    bw = result["bandwidth"]
    assert bw["gbs"] > 0 and bw["gbs_end"] > 0 and bw["median_s"] > 0
    assert bw["gbs"] == pytest.approx(2 * SMALL * 4 / bw["median_s"] / 1e9)
    for r in result["rows"]:
        own = r["impl"] == bench.OWN_IMPL[r["backend"]] and r["name"] != "relu"
        assert set(r) == (ROW_KEYS | PAIRED_KEYS if own else ROW_KEYS)
        assert r["pass"] in bench.PASSES and r["backend"] in bench.BACKENDS
        for key in ROW_KEYS - {"name", "backend", "impl", "pass", "times_s", "block"}:
            assert math.isfinite(r[key]) and r[key] > 0, (r, key)
        assert len(r["times_s"]) == ROUNDS and all(t > 0 for t in r["times_s"])
        assert r["median_s"] == statistics.median(r["times_s"])
        assert r["min_s"] == min(r["times_s"]) <= r["median_s"] <= r["max_s"] == max(r["times_s"])
        if own:  # paired with ReLU round by round
            assert len(r["relu_s"]) == ROUNDS
            assert r["vs_relu"] == bench.paired_ratio(r["times_s"], r["relu_s"]).as_dict()
            assert r["vs_relu"]["lo"] <= r["vs_relu"]["ratio"] <= r["vs_relu"]["hi"]
        assert r["elements_per_s"] == pytest.approx(SMALL / r["median_s"])
        assert r["fraction_of_bandwidth"] == pytest.approx(r["gbs"] / bw["gbs"])


def test_byte_model() -> None:
    n, m, b = 1024, 512, 4
    assert bench._nbytes("forward", n, m, b, False) == (n + m) * b
    assert bench._nbytes("derivative", n, n, b, False) == 2 * n * b
    assert bench._nbytes("derivative", n, m, b, True) == (2 * n + m) * b
    assert bench._nbytes("forward_backward", n, n, b, False) == 3 * n * b
    assert bench._nbytes("forward_backward", n, m, b, True) == 2 * (n + m) * b


def test_speed_vs_relu(result: dict) -> None:
    for backend in result["config"]["backends"]:
        ratios = bench.speed_vs_relu(result, backend=backend)
        assert ratios["relu"] == 1.0 and ratios["relu"].lo is None  # the reference itself: exactly 1
        assert set(ratios) == set(NAMES)
        assert all(math.isfinite(v) and v > 0 for v in ratios.values())
        own = (backend, bench.OWN_IMPL[backend], "forward_backward")
        rows = {r["name"]: r for r in result["rows"] if (r["backend"], r["impl"], r["pass"]) == own}
        for name in NAMES[1:]:  # the ratio measured in the same rounds, not the ratio of the medians
            paired = bench.paired_ratio(rows[name]["times_s"], rows[name]["relu_s"])
            assert ratios[name] == float(paired) and (ratios[name].lo, ratios[name].hi) == (paired.lo, paired.hi)
    assert bench.speed_vs_relu(result, pass_="forward", impl="actlab_out")["relu"] == 1.0
    unpaired = [{k: v for k, v in r.items() if k != "vs_relu"} for r in result["rows"] if r["name"] != "relu"]
    with pytest.raises(ActlabError, match="relu"):  # neither ReLU's row nor a ratio measured beside it
        bench.speed_vs_relu({"rows": unpaired})


def test_quick_run_without_relu_among_the_names_still_measures_against_it() -> None:
    """`actlab bench gelu --quick` (or a user's own activation): ReLU is timed in the same rounds as the
    reference, so the ratio the table prints is there, though ReLU's own row is not."""
    r = bench.run(
        names=["gelu", "sigmoid"],
        backends=("numpy",),
        size=4096,
        repeats=2,
        max_repeats=2,
        impls="own",
        passes=("forward_backward",),
    )
    assert {row["name"] for row in r["rows"]} == {"gelu", "sigmoid"}
    ratios = bench.speed_vs_relu(r, backend="numpy")
    assert all(len(row["relu_s"]) == len(row["times_s"]) for row in r["rows"])  # paired round by round
    assert set(ratios) == {"gelu", "sigmoid"} and all(v > 0 for v in ratios.values())
    assert "/relu" in bench.format_tables(r)


def test_tables(result: dict) -> None:
    text = bench.format_tables(result)
    assert "numpy — forward backward" in text and "geomean" in text and "/textbook" in text and "/relu" in text
    assert "%" in text.split("numpy — forward backward")[1]  # the spread of the ratios
    assert max(len(line) for line in text.splitlines()) <= 140


def test_save_load_round_trip(result: dict, tmp_path) -> None:
    path = tmp_path / "bench.json"
    bench.save(result, path)
    assert bench.load(path) == result
    bench.save(result, str(path))  # over an existing file
    assert os.listdir(tmp_path) == ["bench.json"]  # no temporary file left behind


def test_load_errors(tmp_path) -> None:
    with pytest.raises(ActlabError, match="no benchmark results"):
        bench.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "actlab.bench/1", "rows": [')
    with pytest.raises(ActlabError, match="cannot read"):
        bench.load(bad)
    bad.write_text('{"schema": "something/else"}')
    with pytest.raises(ActlabError, match="schema"):
        bench.load(bad)
    bad.write_text('{"schema": "actlab.bench/2"}')
    with pytest.raises(ActlabError, match="incomplete"):
        bench.load(bad)


def test_load_an_earlier_schema(result: dict, tmp_path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**result, "schema": "actlab.bench/1"}))
    with pytest.raises(ActlabError, match="earlier actlab bench") as info:
        bench.load(old)
    assert "\n" not in str(info.value) and f"actlab bench --quick --json {old}" in str(info.value)


def test_bad_arguments() -> None:
    with pytest.raises(UnknownActivationError):
        bench.run(names=["gelo"], size=SMALL, repeats=1)
    for kwargs in ({"size": 1000}, {"size": 0}, {"threads": 0}, {"repeats": 0}, {"backends": ("cuda",)}):
        with pytest.raises(ActlabError):
            bench.run(names=["relu"], **{"size": SMALL, "repeats": 1, **kwargs})
    with pytest.raises(ActlabError):
        bench.run(names=["relu"], dtype="float16", size=SMALL, repeats=1)


def test_cli_writes_json(tmp_path, capsys) -> None:
    path = tmp_path / "out.json"
    assert main(["bench", "relu", "--size", str(SMALL), "--repeats", "2", "--json", str(path)]) == 0
    data = bench.load(path)
    assert data["config"]["names"] == ["relu"] and data["rows"]
    out = capsys.readouterr().out
    assert "numpy — forward" in out and str(path) in out


def test_cli_json_to_stdout(capsys) -> None:
    assert main(["bench", "ReLU", "--backend", "numpy", "--size", str(SMALL), "--repeats", "1", "--json", "-"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["config"]["names"] == ["relu"] and data["config"]["backends"] == ["numpy"]
    assert "[" not in captured.err  # no progress bar when JSON goes to stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "gelo", "--size", "4096"],
        ["bench", "relu", "--size", "1000"],
        ["bench", "relu", "--threads", "0"],
        ["bench", "relu", "--repeats", "0"],
        ["bench", "relu", "--backend", "cuda"],
        ["bench", "relu", "--size", "many"],
    ],
)
def test_cli_bad_arguments(argv: list[str], capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("actlab") and err.count("\n") == 1


def test_docstring_example() -> None:
    import doctest

    assert doctest.testmod(bench).failed == 0


# --- the statistics, on synthetic timings (deterministic: fixed seeds, no clock) ---------------


def _rounds(ratio: float, n: int, seed: int, drift: float = 1.0, noise: float = 0.05, outliers: int = 0):
    """Times of two implementations over ``n`` rounds: the first ``ratio`` times the second, both slowed by
    the same factor in a round (up to ``drift``), each with its own lognormal ``noise``, and ``outliers`` calls
    of the first interrupted (five times as long)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    shared = rng.uniform(1.0, drift, n)
    den = 1e-3 * shared * rng.lognormal(0.0, noise, n)
    num = ratio * 1e-3 * shared * rng.lognormal(0.0, noise, n)
    num[rng.choice(n, outliers, replace=False)] *= 5
    return list(num), list(den)


def test_paired_ratio_covers_a_known_ratio() -> None:
    covered = 0
    for seed in range(10):
        num, den = _rounds(1.7, 15, seed, drift=4.0, outliers=2)
        r = bench.paired_ratio(num, den)
        assert r.rounds == 15 and r.lo <= r <= r.hi
        assert abs(r / 1.7 - 1) < 0.08 and r.hi / r.lo < 1.2  # shared slow spells, interrupted calls cancel out
        assert r.text() == f"{float(r):.2f}×" and not r.includes_one
        covered += r.lo <= 1.7 <= r.hi
    assert covered >= 8  # a 95% interval: one miss in ten is chance, more is not


def test_paired_ratio_interval_coverage() -> None:
    """Over many synthetic measurements the 95% interval holds the true ratio about 95% of the time."""
    covered = 0
    for seed in range(200):
        num, den = _rounds(1.3, 15, 1000 + seed, drift=2.0, noise=0.1)
        r = bench.paired_ratio(num, den)
        covered += r.lo <= 1.3 <= r.hi
    assert 0.9 <= covered / 200 <= 1.0


def test_pairing_cancels_what_a_round_shares() -> None:
    """Rounds slowed up to 4× (both implementations alike) leave the paired ratio where it is; the same times
    paired with the wrong rounds (as two separate measurements would be) do not."""
    worst_paired = worst_unpaired = 0.0
    for seed in range(10):
        num, den = _rounds(1.0, 15, seed, drift=4.0, noise=0.01)
        paired = bench.paired_ratio(num, den)
        assert paired.includes_one and paired.hi / paired.lo < 1.05
        unpaired = bench.paired_ratio(num, den[1:] + den[:1])
        worst_paired = max(worst_paired, abs(paired - 1))
        worst_unpaired = max(worst_unpaired, abs(unpaired - 1))
    assert worst_paired < 0.02 < 0.1 < worst_unpaired


def test_ratio_text() -> None:
    near = bench.Ratio(1.04, 0.97, 1.10, 15)
    assert near.includes_one and near.text() == "≈ 1"
    assert near.text(spread="interval") == "≈ 1 (0.97–1.10)" and near.text(spread="percent") == "≈ 1 ±7%"
    far = bench.Ratio(0.5, 0.45, 0.52, 15)
    assert not far.includes_one and far.text() == "0.50×" and far.text(spread="interval") == "0.50× (0.45–0.52)"
    assert bench.Ratio(1.0).text() == "1.00×"  # the reference itself, no interval
    assert bench.Ratio.from_dict(far.as_dict()) == far and bench.Ratio.from_dict(far.as_dict()).hi == 0.52
    few = bench.paired_ratio([1.0, 1.1], [1.0, 1.0])  # too few rounds for a 95% interval
    assert few.lo is None and few.text(spread="interval") == f"{float(few):.2f}×"


def test_paired_ratio_errors() -> None:
    with pytest.raises(ActlabError, match="paired"):
        bench.paired_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ActlabError, match="paired"):
        bench.paired_ratio([], [])


def test_schedule_runs_each_once_per_round_in_varying_order() -> None:
    import numpy as np

    k, rounds = 6, 30
    order = bench._schedule(k, rounds, np.random.default_rng(0))
    assert len(order) == rounds and all(sorted(r) == list(range(k)) for r in order)
    assert len({tuple(r) for r in order}) > rounds // 2  # not one fixed order
    for i in range(k):  # each implementation is sometimes first and sometimes last
        positions = {r.index(i) for r in order}
        assert 0 in positions or k - 1 in positions
    assert order == bench._schedule(k, rounds, np.random.default_rng(0))  # reproducible


def test_ratio_of_pairs_only_the_same_rounds(result: dict) -> None:
    rows = [r for r in result["rows"] if r["backend"] == "numpy" and r["pass"] == "forward"]
    mine = {(r["name"], r["impl"]): r for r in rows}
    a, b = mine[("gelu", "actlab")], mine[("gelu", "textbook")]
    assert bench.ratio_of(a, b) == float(bench.paired_ratio(a["times_s"], b["times_s"]))
    other = bench.ratio_of(a, mine[("relu", "actlab")])  # another activation's block: other rounds, no interval
    assert other == a["median_s"] / mine[("relu", "actlab")]["median_s"] and other.lo is None


def test_quick_settings() -> None:
    """What `actlab table` and the report measure when there is no benchmark file."""
    q = bench.QUICK
    assert set(q) <= set(inspect.signature(bench.run).parameters)
    assert q["impls"] == "own" and "forward_backward" in q["passes"]  # what the table's speed column says
    assert q["size"] % bench.ROW == 0 and q["size"] >= 2**20  # a layer's tensor, not the per-call overhead
    try:
        from actlab.torch._ops import FUSE_MIN_NUMEL
    except ImportError:
        FUSE_MIN_NUMEL = 0
    assert q["size"] >= FUSE_MIN_NUMEL  # PyTorch runs the fused kernels a real tensor gets
    r = bench.paired_ratio([1.0 + 0.01 * i for i in range(q["repeats"])], [1.0] * q["repeats"])
    assert r.lo is not None  # enough rounds for an interval
    pytest.importorskip("torch")
    assert bench._check(None, bench.BACKENDS, "float32", q["size"], 1, q["repeats"])


def test_own_only_run() -> None:
    r = bench.run(names=["relu", "relu6"], size=SMALL, repeats=ROUNDS, impls="own", passes=["forward_backward"])
    assert {(row["impl"], row["pass"]) for row in r["rows"]} == {
        (bench.OWN_IMPL[b], "forward_backward") for b in r["config"]["backends"]
    }
    assert r["config"]["impls"] == "own" and r["config"]["passes"] == ["forward_backward"]
    for backend in r["config"]["backends"]:  # one block per backend: relu6 paired with relu's own rows
        rows = {row["name"]: row for row in r["rows"] if row["backend"] == backend}
        assert rows["relu6"]["block"] == rows["relu"]["block"] and "vs_relu" not in rows["relu"]
        assert rows["relu6"]["relu_s"] == rows["relu"]["times_s"]
        assert bench.speed_vs_relu(r, backend)["relu6"] == float(bench.ratio_of(rows["relu6"], rows["relu"]))
    with pytest.raises(ActlabError, match="impls"):
        bench.run(names=["relu"], size=SMALL, repeats=1, impls="mine")
    with pytest.raises(ActlabError, match="pass"):
        bench.run(names=["relu"], size=SMALL, repeats=1, passes=["sideways"])


class _FakeClock:
    """A clock that advances only when a fake implementation runs: rounds measured without timing anything."""

    def __init__(self) -> None:
        self.t = 0.0
        self.calls: list[str] = []

    def __call__(self) -> float:
        return self.t

    def case(self, label: str, impl: str, cost: Callable[[], float]) -> bench.Case:
        def fn() -> None:
            self.calls.append(label)
            self.t += cost()

        return bench.Case("numpy", impl, "forward", fn, 1)


def _measure(noise: float, repeats: int = 7, max_repeats: int = 25):
    import numpy as np

    rng = np.random.default_rng(3)
    clock = _FakeClock()
    mine = clock.case("mine", "actlab", lambda: 2e-3 * rng.lognormal(0, noise))
    peer = clock.case("peer", "textbook", lambda: 3e-3 * rng.lognormal(0, noise))
    relu = clock.case("relu", "actlab", lambda: 1e-3 * rng.lognormal(0, noise))
    times = bench._rounds([mine, peer, relu], [relu], repeats, max_repeats, clock, np.random.default_rng(0))
    return clock.calls, times


def test_rounds_stop_when_the_ratio_is_known() -> None:
    calls, times = _measure(noise=0.0)  # steady: the interval is a point after the minimum of rounds
    assert [len(t) for t in times] == [7, 7, 7]
    # one calibrating call each, then samples of at least MIN_SAMPLE_S: 2 calls of 2 ms, 2 of 3 ms, 4 of 1 ms
    assert len(calls) == 3 + (7 + bench.WARMUP_ROUNDS) * (2 + 2 + 4)
    assert bench.paired_ratio(times[0], times[2]).text(spread="interval") == "2.00× (2.00–2.00)"
    calls, times = _measure(noise=0.3)  # noisy: more rounds, up to the maximum
    assert 7 < len(times[0]) <= 25 and len({len(t) for t in times}) == 1
    r = bench.paired_ratio(times[0], times[2])
    assert len(times[0]) == 25 or (r.hi <= r * 1.05 and r.lo >= r * 0.95)


def test_rounds_run_each_implementation_once_per_round() -> None:
    calls, times = _measure(noise=0.0)
    assert calls[:3] == ["mine", "peer", "relu"]  # one calibrating call each
    rounds = [calls[i : i + 8] for i in range(3, len(calls), 8)]
    assert len(rounds) == 7 + bench.WARMUP_ROUNDS
    for r in rounds:  # 2 calls of mine and peer, 4 of relu, interleaved: a permutation, again, then relu alone
        assert sorted(r[:3]) == ["mine", "peer", "relu"] and r[3:6] == r[:3] and r[6:] == ["relu", "relu"]
    assert len({tuple(r[:3]) for r in rounds}) > 1  # the order changes from round to round
    assert times[2] == pytest.approx([1e-3] * 7)  # time per call, not per sample


# --- the JAX backend (where JAX is installed) --------------------------------------------------

JAX_NAMES = ["relu", "gelu", "sigmoid", "maxout"]


@pytest.fixture(scope="module")
def jax_result() -> dict:
    pytest.importorskip("jax")
    return bench.run(names=JAX_NAMES, backends=("jax",), size=SMALL, repeats=ROUNDS)


def test_jax_backend_measures_actlab_beside_jax_nn(jax_result: dict) -> None:
    cfg = jax_result["config"]
    assert cfg["backends"] == ["jax"] and cfg["clock_jax"] == "perf_counter"  # XLA computes on threads of its own
    served = {r["name"] for r in jax_result["rows"]}
    assert {"relu", "gelu", "sigmoid"} <= served
    for name in set(JAX_NAMES) - served:  # a kind the JAX backend does not serve is noted, not dropped silently
        assert any(note.startswith(f"{name} was not measured in JAX") for note in jax_result["notes"])
    for name in ("relu", "gelu", "sigmoid"):
        for pass_ in bench.PASSES:
            impls = {r["impl"] for r in jax_result["rows"] if r["name"] == name and r["pass"] == pass_}
            assert impls == {"actlab_jax", "jax_nn"}, (name, pass_)
    for r in jax_result["rows"]:
        assert r["backend"] == "jax" and len(r["times_s"]) == ROUNDS and all(t > 0 for t in r["times_s"])
        assert math.isfinite(r["fraction_of_bandwidth"]) and r["fraction_of_bandwidth"] > 0
        if r["impl"] == "actlab_jax" and r["name"] != "relu":
            assert r["vs_relu"] == bench.paired_ratio(r["times_s"], r["relu_s"]).as_dict()
    ratios = bench.speed_vs_relu(jax_result, "jax")
    assert ratios["relu"] == 1.0 and all(math.isfinite(v) and v > 0 for v in ratios.values())


def test_jax_tables(jax_result: dict) -> None:
    text = bench.format_tables(jax_result)
    for pass_ in bench.PASSES:
        assert f"jax — {pass_.replace('_', ' ')}" in text
    assert "/jax_nn" in text and "/relu" in text and "actlab_jax ms" in text and "numpy —" not in text
    assert "perf_counter" in text and "approximate=False" in text  # the clock and the gelu compared, said
    assert max(len(line) for line in text.splitlines()) <= 140
    gelu = next(line for line in text.split("jax — forward backward")[1].splitlines() if line.startswith("gelu "))
    assert "%" in gelu or "≈ 1" in gelu  # a measured ratio with its spread


def test_jax_nn_peers_compute_the_catalog_function() -> None:
    """Each jax.nn peer computes the catalog entry at its default parameters (gelu: the exact erf form, not
    jax.nn's default tanh form), so the column compares like with like."""
    pytest.importorskip("jax")
    import jax
    import jax.numpy as jnp
    import numpy as np

    import actlab.jax as aj
    from actlab.catalog import registry

    x = jnp.linspace(-6.0, 6.0, 241, dtype=jnp.float32) + 0.013  # off the kinks (0, ±1, ±3, 6)
    compared = []
    for spec in registry.specs(kind="elementwise"):
        peer = bench._jax_nn_for(spec.name, spec.defaults())
        if peer is None:
            continue
        mine = aj.get(spec.name)
        np.testing.assert_allclose(peer(x), mine(x), rtol=2e-5, atol=2e-6, err_msg=spec.name)
        grad = jax.vmap(jax.grad(lambda v, f=peer: f(v)))
        np.testing.assert_allclose(grad(x), jax.vmap(jax.grad(mine))(x), rtol=1e-4, atol=1e-5, err_msg=spec.name)
        compared.append(spec.name)
    assert {"relu", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus", "elu"} <= set(compared)
    assert bench._jax_nn_for("gelu", registry.spec("gelu").defaults()).keywords == {"approximate": False}
    assert bench._jax_nn_for("swish_beta", registry.spec("swish_beta").defaults()) is None  # jax.nn has no β


def test_cli_jax_backend(capsys) -> None:
    pytest.importorskip("jax")
    assert main(["bench", "relu", "gelu", "--backend", "jax", "--size", str(SMALL), "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "jax — forward backward" in out and "/jax_nn" in out and "numpy —" not in out


def test_jax_missing(monkeypatch, capsys) -> None:
    """Without JAX: `--backend jax` is one line and status 2 saying what to install; beside another backend
    the JAX backend is skipped with that note."""
    import sys

    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` fails as where it is not installed
    monkeypatch.delitem(sys.modules, "actlab.jax", raising=False)
    assert main(["bench", "relu", "--backend", "jax", "--size", str(SMALL), "--repeats", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("actlab") and err.count("\n") == 1 and "pip install 'actlab[jax]'" in err
    r = bench.run(names=["relu"], backends=("numpy", "jax"), size=SMALL, repeats=1)
    assert r["config"]["backends"] == ["numpy"] and "clock_jax" not in r["config"]
    assert any("pip install 'actlab[jax]'" in note for note in r["notes"])


def test_numpy_tables_hold_numpy_peers_only(result: dict) -> None:
    """The NumPy table is the same whether or not JAX is installed: JAX has a backend (and a table) of its own,
    measured only when asked for."""
    assert "jax" not in result["config"]["backends"] and "clock_jax" not in result["config"]
    assert not {r["impl"] for r in result["rows"]} & {"jax", "jax_nn", "actlab_jax"}
    assert "jax" not in bench.format_tables(result)
