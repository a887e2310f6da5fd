"""``--executor ray``: the same sweep as Ray tasks on a local Ray instance, resumable, and its refusals in one line.

The sweeps start a real local Ray instance (2 CPUs), a few seconds each: the tests that need Ray are few.
The refusals need no instance, and the one for Ray absent runs with Ray hidden from the import system."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from actlab.cli import main
from actlab.errors import ActlabError
from actlab.experiments import ResultsStore, comparisons, configs, sweep
from actlab.experiments.executors import gpus_for

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY = {"epochs": 2, "width": 8, "depth": 1}
CLI = ["compare", "--activations", "relu,tanh", "--seeds", "1", "--epochs", "1", "--depth", "1", "--width", "8"]

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")


@pytest.mark.slow
@needs_ray
def test_a_ray_sweep_interrupted_resumes_and_matches_the_local_one(tmp_path: Path) -> None:
    todo = configs("moons", "mlp", ["relu", "tanh"], 2, **TINY)
    at_work: list[list[str]] = []

    def stop_after_the_first(i: int, total: int, config: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C in the driver, once the first run is committed

    import ray

    with ResultsStore(tmp_path / "ray.sqlite") as store:
        with pytest.raises(KeyboardInterrupt):
            sweep(todo, store, workers=2, executor="ray", progress=stop_after_the_first)
        assert len(store.finished()) == 1  # the finished run is kept; the one at work was cancelled
        assert not ray.is_initialized()  # the local instance is shut down
        arrived: list[tuple[int, int]] = []
        running = lambda cs: at_work.append([f"{c.activation}{c.seed}" for c in cs])  # noqa: E731
        ran = sweep(
            todo, store, workers=2, executor="ray", progress=lambda i, n, c: arrived.append((i, n)), running=running
        )
        assert ran == 3 and arrived == [(1, 3), (2, 3), (3, 3)]  # only the rest ran, each committed as it came
        assert all(1 <= len(w) <= 2 for w in at_work)  # at most the 2 CPUs' runs at work at once
        [on_ray] = comparisons(store)
    with ResultsStore(tmp_path / "local.sqlite") as store:
        sweep(todo, store, workers=1)
        [local] = comparisons(store)
    assert on_ray.per_seed() == local.per_seed() and on_ray.paired == local.paired
    but_time = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert but_time(on_ray.rows()) == but_time(local.rows())


@pytest.mark.slow
@needs_ray
def test_the_cli_on_ray_says_where_it_trains(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "r.sqlite")
    assert main([*CLI, "--executor", "ray", "--workers", "2", "--db", db]) == 0
    out, err = capsys.readouterr()
    # one line on stderr, nothing of Ray's (its logs stay in its session folder)
    assert err == "training 2 runs (2 activations × 1 seed) on moons on a local Ray instance of 2 CPUs...\n"
    assert "2 runs trained, 0 already in" in out
    assert main([*CLI, "--executor", "ray", "--db", db]) == 0
    assert "all 2 runs (2 activations × 1 seed) already in" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_ray
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--address", f"127.0.0.1:{_free_port()}"], "no Ray cluster answers at 127.0.0.1:"),
        (["--address", "head-node"], "the Ray address 'head-node' is not HOST:PORT"),
        (["--address", "head:99999"], "is not HOST:PORT"),
    ],
)
def test_a_bad_address_fails_at_once_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    db = tmp_path / "r.sqlite"
    assert main([*CLI, "--executor", "ray", *argv, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("actlab: error: ") and message in err, err
    assert not db.exists()


def test_an_address_without_ray_executor_and_an_unknown_executor_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*CLI, "--address", "10.0.0.5:6379", "--db", str(tmp_path / "r.sqlite")]) == 2
    assert "--address is a Ray cluster's: give it with --executor ray" in capsys.readouterr().err
    with (
        ResultsStore.memory() as store,
        pytest.raises(ActlabError, match="executor must be one of local, ray; got 'dask'"),
    ):
        sweep(configs("moons", "mlp", ["relu"], 1, **TINY), store, executor="dask")


def test_executor_ray_without_ray_says_what_to_install(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "sys.modules['ray'] = None  # Ray absent: importing it fails as when it is not installed\n"
        "from actlab.cli import main\n"
        "code = main(['compare', '--executor', 'ray', '--db', 'r.sqlite'])\n"
        "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules}))\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert json.loads(done.stdout) == {"code": 2, "torch": False}, done.stderr
    assert done.stderr == "actlab: error: --executor ray needs Ray: pip install 'actlab[cluster]'\n"
    assert not (tmp_path / "r.sqlite").exists()


def test_a_run_asks_for_a_gpu_only_when_its_device_is_one() -> None:
    [config] = configs("moons", "mlp", ["relu"], 1, **TINY)
    assert gpus_for(config) == 0  # runs train on the CPU until the configuration names a device


@needs_ray
def test_sweep_refuses_an_address_where_no_cluster_answers() -> None:
    address = f"127.0.0.1:{_free_port()}"
    with ResultsStore.memory() as store, pytest.raises(ActlabError, match=f"no Ray cluster answers at {address}"):
        sweep(configs("moons", "mlp", ["relu"], 1, **TINY), store, executor="ray", address=address)


PLUGIN = """
import actlab

actlab.register(actlab.Elementwise(
    name="ray_half_leaky", title="ray_half_leaky", summary="a plugin for the Ray workers", formula="f",
    derivative_formula="f'", year=None, uses=("a test",),
    forward=lambda x, p, xp: 0.5 * x + 0.5 * xp.maximum(x, 0.0),
    derivative=lambda x, p, xp: xp.where(x > 0, 1.0, 0.5),
    smoothness=0, kinks=(actlab.Kink(0.0, 0.5, "left derivative"),),
))
"""


@pytest.mark.slow
@needs_ray
def test_ray_workers_load_the_drivers_plugin_on_a_connection_it_keeps(tmp_path: Path) -> None:
    import ray

    import actlab
    from actlab.catalog import registry

    (tmp_path / "ray_plugin_probe.py").write_text(PLUGIN)
    loaded, modules = dict(registry._loaded), set(sys.modules)
    actlab.load_plugin(str(tmp_path / "ray_plugin_probe.py"))
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)  # the user's own connection
    try:
        with ResultsStore.memory() as store:
            todo = configs("moons", "mlp", ["relu", "ray_half_leaky"], 1, epochs=1, width=8, depth=1)
            assert sweep(todo, store, workers=2, executor="ray") == 2
            assert [r["result"]["status"] for r in store.runs()] == ["ok", "ok"]  # the workers knew the plugin
        assert ray.is_initialized()  # a connection the sweep did not make is left open
    finally:
        ray.shutdown()
        actlab.unregister("ray_half_leaky")
        registry._loaded.clear()
        registry._loaded.update(loaded)
        for name in set(sys.modules) - modules:
            if (getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
                del sys.modules[name]


@pytest.mark.slow
@needs_ray
def test_a_search_on_ray_tries_and_scores_the_same_candidates_as_a_local_one(tmp_path: Path) -> None:
    from actlab.search import Proxy, Settings, run_search

    s = Settings(space="small", strategy="random", seed=2, batch=2, proxy=Proxy("moons", "mlp", 1, depth=1, width=8))
    with ResultsStore(tmp_path / "ray.sqlite") as store:
        on_ray = run_search(s, 2, store, workers=2, executor="ray")
    with ResultsStore(tmp_path / "local.sqlite") as store:
        local = run_search(s, 2, store, workers=1)
    assert [(t.formula, t.status, t.metric) for t in on_ray.tried] == [
        (t.formula, t.status, t.metric) for t in local.tried
    ]
