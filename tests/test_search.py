"""Activation search: the space, the filters, random search and regularized evolution through the
experiment runner, resuming from the store, the re-evaluation and the command (tiny budgets)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from actlab.catalog import registry
from actlab.errors import ActlabError, FormulaError
from actlab.experiments import ResultsStore
from actlab.formula import core, define
from actlab.search import SPACES, Candidate, Proxy, Settings, reevaluate, run_search
from actlab.search.command import published_ranks
from actlab.search.engine import recorded
from actlab.search.filters import screen
from actlab.search.space import BINARY, UNARY

TINY = Proxy(dataset="moons", model="mlp", epochs=1, depth=1, width=8)


@pytest.fixture(autouse=True)
def _clean_catalog() -> Iterator[None]:
    before = set(registry.names())
    yield
    for name in set(registry.names()) - before:
        registry.unregister(name)
    core._by_source.clear()


# --- the space ---


@pytest.mark.parametrize("unary", list(UNARY))
def test_every_unary_function_of_the_space_is_a_formula(unary: str) -> None:
    text = BINARY["add"].format(a=UNARY[unary].format(u="x"), b="x")
    try:
        define(text, register=False, analyse=False)
    except FormulaError as exc:  # refused as an activation (sqrt of negatives ...), never unreadable
        assert "not" in str(exc) or "constant" in str(exc)


@pytest.mark.parametrize("binary", list(BINARY))
def test_every_binary_function_of_the_space_is_a_formula(binary: str) -> None:
    define(BINARY[binary].format(a="tanh(x)", b="x"), register=False, analyse=False)


def test_candidates_are_drawn_and_mutated_reproducibly_one_function_at_a_time() -> None:
    space = SPACES["core2"]
    a = [space.random(random.Random(3)) for _ in range(1)]
    b = [space.random(random.Random(3)) for _ in range(1)]
    assert a == b and len(a[0].genes) == 6
    rng = random.Random(0)
    for _ in range(50):
        c = space.random(rng)
        m = space.mutate(c, rng)
        changed = [i for i, (x, y) in enumerate(zip(c.genes, m.genes)) if x != y]
        assert len(changed) == 1
        i = changed[0]
        assert (m.genes[i] in space.binary) if i % 3 == 0 else (m.genes[i] in space.unary)
    assert Candidate(("mul", "x", "sigmoid")).formula() == "(x) * (sigmoid(x))"
    assert SPACES["core"].size() == 10 * 24 * 24


# --- the filters ---


def test_screening_rejects_what_cannot_be_an_activation_and_says_why() -> None:
    seen: dict[str, str] = {}
    assert screen("x*sigmoid(x)", seen).ok
    dup = screen("sigmoid(x)*x", seen)
    assert not dup.ok and dup.reason == "duplicate of x * sigmoid(x)"
    assert screen("(x) + (x)").reason.startswith("linear")
    assert screen("(x) - (x)").reason.startswith("refused") and "constant" in screen("(x) - (x)").reason
    assert "not a real number" in screen("sqrt(x)").reason
    assert screen("1e-4*tanh(x)").reason.startswith("degenerate gain: E[f(z)²]")
    assert screen("exp(x)*x").ok  # grows fast, but E[f²] and E[f′²] under N(0, 1) are moderate


# --- the search ---


def settings(**changes: object) -> Settings:
    base = {"space": "small", "strategy": "evolution", "seed": 1, "population": 3, "sample": 2, "batch": 2}
    return Settings(**{**base, **changes}, proxy=TINY)  # type: ignore[arg-type]


def test_a_search_trains_its_budget_records_every_candidate_and_resumes_without_retraining(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    with ResultsStore(db) as store:
        first = run_search(settings(), 3, store)
        runs_after_first = len(list(store.runs()))
        assert len(first.trained) == 3 and runs_after_first == 3
        again = run_search(settings(), 3, store)  # a killed search, started again: replayed from the store
        assert [t.formula for t in again.tried] == [t.formula for t in first.tried]
        assert [t.metric for t in again.trained] == [t.metric for t in first.trained]
        assert len(list(store.runs())) == runs_after_first  # nothing trained twice
        more = run_search(settings(), 5, store)  # a larger budget goes on with the same search
        assert [t.formula for t in more.tried[: len(first.tried)]] == [t.formula for t in first.tried]
        assert len(more.trained) == 5 and len(list(store.runs())) == 5
        rows = recorded(store)[settings().key()]
        assert [r.index for r in rows] == list(range(len(more.tried)))
        assert all(r.reason for r in rows if r.status == "rejected")


def test_the_sequence_does_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "a.sqlite") as a, ResultsStore(tmp_path / "b.sqlite") as b:
        one = run_search(settings(strategy="random", seed=4), 3, a, workers=1)
        two = run_search(settings(strategy="random", seed=4), 3, b, workers=2)
    assert [t.formula for t in one.tried] == [t.formula for t in two.tried]
    assert [t.metric for t in one.trained] == [t.metric for t in two.trained]


def test_evolution_mutates_the_tournaments_winner_once_the_population_is_full(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "e.sqlite") as store:
        out = run_search(settings(population=2, sample=2, batch=1), 4, store)
    trained = out.trained
    later = [t for t in out.tried if t.index > trained[1].index]
    # the first child is one function away from the better of the first two (the tournament is the population)
    best = max(trained[:2], key=lambda t: t.metric)
    first_child = later[0]
    assert sum(x != y for x, y in zip(first_child.genes, best.genes)) == 1


def test_the_finalists_are_tested_against_relu_and_silu_with_more_seeds(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "f.sqlite") as store:
        out = run_search(settings(strategy="random"), 2, store)
        finals = reevaluate(out, store, finalists=1, seeds=2)
    relu, silu = finals["relu"], finals["silu"]
    assert relu.baseline == "relu" and silu.baseline == "silu"
    best = out.leaderboard(1)[0].canonical
    assert best in relu.activations and best in silu.activations
    assert all(len(v) == 2 for v in relu.per_seed().values())
    ranks = published_ranks(out)
    assert set(ranks) >= {"max(x, sigmoid(x))", "cos(x) - x"}


def test_a_stored_search_reads_back_as_it_ran_with_its_re_evaluation(tmp_path: Path) -> None:
    from actlab.search.engine import stored_searches

    with ResultsStore(tmp_path / "f.sqlite") as store:
        out = run_search(settings(strategy="random"), 3, store)
        finals = reevaluate(out, store, finalists=2, seeds=2)
        other = run_search(settings(strategy="random", seed=9), 2, store)  # a second search, not re-evaluated
        back = {o.settings: o for o in stored_searches(store)}
    assert set(back) == {out.settings, other.settings}
    again = back[out.settings]
    assert [(t.formula, t.status, t.metric) for t in again.tried] == [
        (t.formula, t.status, t.metric) for t in out.tried
    ]
    assert again.budget == 3 and again.finals["finalists"] == finals["finalists"]
    for baseline in ("relu", "silu"):  # the same statistics as the re-evaluation printed, read back from the runs
        assert again.finals[baseline].text() == finals[baseline].text()
    assert back[other.settings].finals == {}

    with ResultsStore(tmp_path / "plain.sqlite") as plain:  # a results store no search wrote to: read, not changed
        assert stored_searches(plain) == []
        tables = {r[0] for r in plain._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "search_candidates" not in tables


def test_bad_settings_are_one_error_each() -> None:
    with pytest.raises(ActlabError, match="unknown search space 'cor'"):
        Settings(space="cor").check()
    with pytest.raises(ActlabError, match="cannot exceed the population"):
        Settings(population=2, sample=3).check()


# --- the command ---


def actlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("actlab"))
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, env={**os.environ})


def test_the_search_command_prints_progress_and_a_leaderboard_and_writes_figures(tmp_path: Path) -> None:
    out = actlab(
        "search", "--space", "small", "--budget", "2", "--batch", "2", "--proxy", "moons:mlp:1", "--finalists", "1",
        "--final-seeds", "2", "--workers", "1", "--figures", "figs", "--page", "page", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "candidates tried" in out.stderr and "2/2 trained" in out.stderr
    assert "proxy leaderboard" in out.stdout and "against silu" in out.stdout and "published finds" in out.stdout
    assert (tmp_path / "figs" / "search_progress.png").is_file() and (
        tmp_path / "figs" / "search_finalists.png"
    ).is_file()
    page = (tmp_path / "page" / "index.html").read_text()
    assert "Leaderboard (proxy)" in page and "Re-evaluated against ReLU" in page and "<nav>" not in page
    assert (tmp_path / "page" / "search_progress.png").is_file() and (tmp_path / "page" / "style.css").is_file()
    again = actlab("search", "--space", "small", "--budget", "2", "--batch", "2", "--proxy", "moons:mlp:1",
                   "--finalists", "0", "--workers", "1", "--json", cwd=tmp_path)  # fmt: skip
    data = json.loads(again.stdout)
    assert len([t for t in data["tried"] if t["status"] == "trained"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--proxy", "mnist1d"), "--proxy takes DATASET:MODEL[:EPOCHS]"),
        (("--proxy", "mnist1d:cnn:x"), "EPOCHS must be a positive integer"),
        (("--population", "2", "--sample", "3"), "cannot exceed the population"),
        (("--budget", "0"), "--budget must be at least 1"),
        (("--final-seeds", "0"), "--final-seeds must be at least 1"),
    ],
)
def test_bad_search_arguments_are_one_line_and_exit_2(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    out = actlab("search", *args, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1


def test_a_learnable_search_trains_beta_with_the_weights(tmp_path: Path) -> None:
    from actlab.experiments.api import prepare
    from actlab.experiments.runner import build_model, dataset

    [config] = prepare("mlp", "moons", ["x*sigmoid(beta*x)"], seeds=1, epochs=1, depth=2, width=8, learnable=True).todo
    assert (
        config.learnable
        and config.key()
        != prepare("mlp", "moons", ["x*sigmoid(beta*x)"], seeds=1, epochs=1, depth=2, width=8).todo[0].key()
    )
    model = build_model(config, dataset("moons", config.batch_size))
    from actlab.torch import Activation

    acts = [m for m in model.modules() if isinstance(m, Activation)]
    assert len(acts) == 2 and all(m.learned == ("beta",) for m in acts)
    assert sum(p.numel() for p in model.parameters()) == 2 + sum(
        p.numel() for n, p in model.named_parameters() if "beta" not in n
    )
    with ResultsStore(tmp_path / "l.sqlite") as store:
        out = run_search(settings(learnable=True, strategy="random"), 2, store)
    assert len(out.trained) == 2 and all(r["config"]["learnable"] for r in ResultsStore(tmp_path / "l.sqlite").runs())


def test_the_sets_and_the_depth_are_configurable(tmp_path: Path) -> None:
    s = settings(unary=("x", "tanh", "sigmoid"), binary=("mul", "add"), depth=2, strategy="random")
    space = s.check()
    assert space.unary == ("x", "tanh", "sigmoid") and space.binary == ("mul", "add") and space.depth == 2
    assert s.key() != settings(strategy="random").key()
    assert settings().key() == Settings(**{**settings().__dict__}).key()  # unset options leave the key alone
    with ResultsStore(tmp_path / "c.sqlite") as store:
        out = run_search(s, 2, store)
    for t in out.tried:
        assert len(t.genes) == 6 and {t.genes[0], t.genes[3]} <= {"mul", "add"}
        assert set(t.genes[1:3] + t.genes[4:6]) <= {"x", "tanh", "sigmoid"}
    with pytest.raises(ActlabError, match="unknown unary function 'tahn' \\(did you mean 'tanh'"):
        settings(unary=("tahn",)).check()
