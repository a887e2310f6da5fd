"""Experiments: datasets, models, the resumable parallel runner, its SQLite results store, its comparisons."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import actlab  # noqa: E402
from actlab.cli import main  # noqa: E402
from actlab.experiments import ResultsStore, StoreError, comparisons, configs, run, sweep  # noqa: E402
from actlab.experiments.datasets import load  # noqa: E402
from actlab.experiments.models import build  # noqa: E402

TINY = {"epochs": 2, "width": 16, "depth": 2}


def test_datasets_and_models() -> None:
    for name, features in (("moons", 2), ("spirals", 2)):
        xtr, ytr, xte, _ = load(name)
        assert xtr.shape[1] == features and len(xtr) == 1500 and len(xte) == 500 and set(ytr.tolist()) == {0, 1}
        assert torch.equal(load(name)[0], xtr)  # deterministic
    pytest.importorskip("sklearn")
    xtr, ytr, _, _ = load("digits")
    assert xtr.shape[1] == 64 and int(ytr.max()) == 9
    assert build("cnn", (64,), 10, "gelu", 2, 8)(xtr[:4]).shape == (4, 10)
    assert build("cnn", (40,), 10, "relu", 2, 8)(torch.randn(3, 40)).shape == (3, 10)
    with pytest.raises(actlab.ActlabError, match="cnn"):
        build("cnn", (2,), 2, "relu", 2, 8)
    with pytest.raises(actlab.ActlabError, match="elementwise"):
        build("mlp", (2,), 2, "softmax", 2, 8)
    with pytest.raises(actlab.ActlabError, match="did you mean"):
        load("moon")


def test_mnist1d_is_generated_offline() -> None:
    pytest.importorskip("mnist1d")
    xtr, ytr, xte, _ = load("mnist1d")
    assert xtr.shape == (4000, 40) and xte.shape == (1000, 40) and int(ytr.max()) == 9


def test_runs_are_deterministic_and_recorded(tmp_path: Path) -> None:
    todo = configs("moons", "mlp", ["relu", "selu"], 2, **TINY)
    assert _same_but_time(run(todo[0]), run(todo[0]))
    with ResultsStore(tmp_path / "r.sqlite") as store:
        assert sweep(todo, store, workers=1) == 4
        assert sweep(todo, store, workers=1) == 0  # finished runs are skipped
        [comparison] = comparisons(store)
        history = next(store.runs())["result"]["history"]
    assert comparison.activations == ["relu", "selu"] and comparison.baseline == "relu"
    assert comparison.metric == "accuracy" and comparison.seeds == [0, 1]
    assert [r["finished"] for r in comparison.rows()] == [2, 2] and comparison.rows()[1]["pairs"] == 2
    assert len(history) == 2 and {"train_loss", "test_loss", "test_metric", "dead", "grad_first_over_last"} <= set(
        history[0]
    )


def _same_but_time(a: dict, b: dict) -> bool:
    strip = lambda r: [{k: v for k, v in e.items() if k != "seconds"} for e in r["history"]]  # noqa: E731
    return strip(a) == strip(b)


def test_parallel_sweep_matches_serial(tmp_path: Path) -> None:
    todo = configs("spirals", "mlp", ["gelu", "tanh"], 2, **TINY)
    with ResultsStore(tmp_path / "a.sqlite") as a, ResultsStore(tmp_path / "b.sqlite") as b:
        sweep(todo, a, workers=1)
        sweep(todo, b, workers=2)
        [serial], [parallel] = comparisons(a), comparisons(b)
    assert serial.per_seed() == parallel.per_seed() and serial.paired == parallel.paired


def test_foreign_and_corrupt_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a usable"):
        ResultsStore(bad)
    assert bad.read_bytes().startswith(b"this is not")  # nothing overwritten
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE accounts (id INTEGER)")
    with pytest.raises(StoreError, match="something else"):
        ResultsStore(foreign)
    newer = tmp_path / "newer.sqlite"
    ResultsStore(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer"):
        ResultsStore(newer)


def test_a_sweep_killed_with_sigkill_resumes_to_the_same_table(tmp_path: Path) -> None:
    args = ["compare", "--dataset", "moons", "--activations", "relu,gelu,tanh", "--seeds", "2", "--epochs", "4"]
    args += ["--width", "16", "--depth", "2", "--workers", "1", "--json"]
    killed = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "actlab.cli", *args, "--db", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if killed.exists():
            try:
                with sqlite3.connect(killed) as db:
                    if db.execute("SELECT count(*) FROM runs").fetchone()[0] >= 2:
                        break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(killed) as db:
        kept = db.execute("SELECT count(*) FROM runs").fetchone()[0]
    assert 2 <= kept < 6
    assert main([*args, "--db", str(killed)]) == 0
    resumed = json.loads(_captured())
    assert resumed["ran"] == 6 - kept
    whole = tmp_path / "whole.sqlite"
    assert main([*args, "--db", str(whole)]) == 0
    assert _but_time(json.loads(_captured())["rows"]) == _but_time(resumed["rows"])


def _but_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


_out: list[str] = []


def _captured() -> str:
    return _out.pop()


@pytest.fixture(autouse=True)
def _capture(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import actlab.cli as cli

    original = cli._emit_json

    def emit(obj: object) -> None:
        original(obj)
        _out.append(capsys.readouterr().out)

    monkeypatch.setattr(cli, "_emit_json", emit)


def test_results_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "r.sqlite")
    assert (
        main(["compare", "--activations", "relu", "--seeds", "2", "--epochs", "1", "--workers", "1", "--db", db]) == 0
    )
    capsys.readouterr()
    assert main(["results", "--db", db, "--csv"]) == 0  # the statistics: one row per activation
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "ci95" in lines[0] and ",relu,True,2,2,accuracy," in lines[1]
    assert main(["results", "--db", db, "--runs", "--csv"]) == 0  # the runs: one row each
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "final_metric" in lines[0]
    assert main(["results", "--db", db, "--json"]) == 0
    assert [g["rows"][0]["runs"] for g in json.loads(_captured())] == [2]
    assert main(["results", "--db", db, "--runs", "--json"]) == 0
    assert len(json.loads(_captured())) == 2
    for argv in (
        ["results", "--db", str(tmp_path / "missing.sqlite")],
        ["compare", "--dataset", "mnist2d"],
        ["compare", "--activations", "gelo"],
        ["compare", "--seeds", "0"],
        ["compare", "--activations", "softmax", "--db", db],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    from actlab.experiments.figures import dying_relu_figure, monitor_figure
    from actlab.torch.monitor import ActivationMonitor
    from actlab.torch.recipes import dying_relu

    db = str(tmp_path / "r.sqlite")
    out = tmp_path / "figs"
    args = ["compare", "--activations", "relu,gelu", "--seeds", "2", "--epochs", "2", "--workers", "1"]
    assert main([*args, "--db", db, "--figures", str(out)]) == 0
    for name in ("learning_curves.png", "differences.png", "metric_vs_seconds.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = dying_relu(steps=20)
    assert dying_relu_figure(runs, tmp_path / "dying.png").stat().st_size > 1000
    net = build("mlp", (2,), 2, "relu", 2, 8)
    with ActivationMonitor(net) as mon:
        for _ in range(3):
            net(torch.randn(16, 2)).sum().backward()
            mon.step()
    assert monitor_figure(mon, tmp_path / "monitor.png").stat().st_size > 1000
    assert not list(tmp_path.glob("*.tmp*"))
