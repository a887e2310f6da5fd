"""``actlab bench``: the schema of its results, their consistency, the results file and the command.

Speeds are never asserted: only that the numbers exist, are finite and agree with each other.
"""

from __future__ import annotations

import json
import math
import os

import pytest

from actlab import bench
from actlab.cli import main
from actlab.errors import ActlabError, UnknownActivationError

SMALL = 4096
NAMES = ["relu", "gelu", "softmax", "swiglu"]
ROW_KEYS = {"name", "backend", "impl", "pass", "median_s", "min_s", "max_s", "elements_per_s", "gbs"}
ROW_KEYS |= {"fraction_of_bandwidth"}


@pytest.fixture(scope="module")
def result() -> dict:
    return bench.run(names=NAMES, size=SMALL, repeats=2)


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
        "repeats": 2,
        "backends": _backends(),
        "names": NAMES,
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
        assert set(r) == ROW_KEYS
        assert r["pass"] in bench.PASSES and r["backend"] in bench.BACKENDS
        for key in ROW_KEYS - {"name", "backend", "impl", "pass"}:
            assert math.isfinite(r[key]) and r[key] > 0, (r, key)
        assert r["min_s"] <= r["median_s"] <= r["max_s"]
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
        assert ratios["relu"] == 1.0
        assert set(ratios) == set(NAMES)
        assert all(math.isfinite(v) and v > 0 for v in ratios.values())
    assert bench.speed_vs_relu(result, pass_="forward", impl="actlab_out")["relu"] == 1.0
    with pytest.raises(ActlabError, match="relu"):
        bench.speed_vs_relu({"rows": [r for r in result["rows"] if r["name"] != "relu"]})


def test_tables(result: dict) -> None:
    text = bench.format_tables(result)
    assert "numpy — forward backward" in text and "geomean" in text and "/textbook" in text
    assert max(len(line) for line in text.splitlines()) <= 120


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
    bad.write_text('{"schema": "actlab.bench/1"}')
    with pytest.raises(ActlabError, match="incomplete"):
        bench.load(bad)


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
