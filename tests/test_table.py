"""``actlab table``'s speed columns: the measured ratio to ReLU, ``≈ 1`` where its interval holds 1, the
interval kept in the JSON, and an outdated benchmark file measured again."""

from __future__ import annotations

import csv
import io
import json

import pytest

from actlab import bench, table
from actlab.errors import ActlabError

NAMES = ["relu", "relu6", "gelu"]


def fake(ratios: dict[str, tuple[float, float, float]], backends: tuple[str, ...] = ("numpy", "torch")) -> dict:
    """A benchmark of the current schema whose rows carry the given (ratio, lo, hi) to ReLU."""
    rows = []
    for backend, impl in ((b, bench.OWN_IMPL[b]) for b in backends):
        for name in NAMES:
            row = {"name": name, "backend": backend, "impl": impl, "pass": "forward_backward", "median_s": 1e-3}
            if name != "relu":
                r, lo, hi = ratios[name]
                row["median_s"] = r * 1e-3
                row["vs_relu"] = {"ratio": r, "lo": lo, "hi": hi, "rounds": 15}
            rows.append(row)
    cfg = {"backends": list(backends), "names": NAMES, "passes": ["forward_backward"]}
    return {"schema": bench.SCHEMA, "config": cfg, "rows": rows, "machine": {}, "bandwidth": {}}


RESULT = fake({"relu6": (1.04, 0.97, 1.10), "gelu": (1.52, 1.48, 1.57)})


def test_rows_keep_ratio_and_interval() -> None:
    rows = {r["name"]: r for r in table.rows(RESULT, NAMES)}
    assert rows["relu"]["speed_numpy"] == 1.0 and rows["relu"]["speed_numpy_interval"] is None
    assert rows["relu6"]["speed_torch"] == 1.04 and rows["relu6"]["speed_torch_interval"] == [0.97, 1.10]
    assert rows["gelu"]["speed_numpy"] == 1.52 and rows["gelu"]["speed_numpy_interval"] == [1.48, 1.57]


def test_formats_show_approximately_one() -> None:
    t = table.rows(RESULT, NAMES)
    md = table.to_markdown(t)
    relu6 = next(line for line in md.splitlines() if line.startswith("| relu6 "))
    gelu = next(line for line in md.splitlines() if line.startswith("| gelu "))
    assert "| ≈ 1 | ≈ 1 |" in relu6 and "1.04" not in relu6
    assert "| 1.52× | 1.52× |" in gelu
    assert "| 1.00× | 1.00× |" in next(line for line in md.splitlines() if line.startswith("| relu "))
    parsed = {r["name"]: r for r in csv.DictReader(io.StringIO(table.to_csv(t)))}
    assert parsed["relu6"]["speed_numpy"] == "≈ 1" and float(parsed["gelu"]["speed_torch"]) == 1.52
    data = {r["name"]: r for r in json.loads(table.to_json(t))}  # the numbers, not the text
    assert data["relu6"]["speed_numpy"] == 1.04 and data["relu6"]["speed_numpy_interval"] == [0.97, 1.10]


def test_speed_text() -> None:
    assert table.speed_text(None) == "-" and table.speed_text(float("nan")) == "-"
    assert table.speed_text(1.04, [0.97, 1.10]) == "≈ 1" and table.speed_text(1.04) == "1.04×"
    assert table.speed_text(bench.Ratio(0.5, 0.45, 0.52), spread="interval") == "0.50× (0.45–0.52)"
    assert table.speed_text(bench.Ratio(0.98, 0.9, 1.05), spread="interval") == "≈ 1 (0.90–1.05)"


def test_outdated_default_file_is_measured_again(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / bench.DEFAULT_PATH).write_text(json.dumps({**RESULT, "schema": "actlab.bench/1"}))
    settings = {"names": ["relu", "relu6"], "backends": ["numpy"], "size": 4096, "repeats": 7, "impls": "own"}
    result = table.load_or_run_bench(run_settings=settings)
    assert result["schema"] == bench.SCHEMA and result["config"]["names"] == ["relu", "relu6"]
    assert bench.load(tmp_path / bench.DEFAULT_PATH) == result  # saved over the outdated file
    ratio = table.speed_ratios(result, "numpy")["relu6"]
    assert ratio.lo is not None and ratio.lo <= ratio <= ratio.hi


def test_outdated_file_given_is_refused(tmp_path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**RESULT, "schema": "actlab.bench/1"}))
    with pytest.raises(ActlabError, match="earlier actlab bench"):
        table.load_or_run_bench(old)


def test_jax_column_only_from_a_jax_benchmark() -> None:
    """A benchmark holding a JAX run adds the JAX speed column after PyTorch's; without one the table, its CSV and
    its JSON are those of NumPy and PyTorch alone."""
    plain = table.rows(RESULT, NAMES)
    assert all("speed_jax" not in r for r in plain)
    assert "JAX" not in table.to_markdown(plain) and "speed_jax" not in table.to_csv(plain) + table.to_json(plain)
    assert table.columns(plain) == list(table.COLUMNS)
    with_jax = fake({"relu6": (1.04, 0.97, 1.10), "gelu": (1.31, 1.2, 1.4)}, backends=("numpy", "torch", "jax"))
    rows = {r["name"]: r for r in table.rows(with_jax, NAMES)}
    assert rows["gelu"]["speed_jax"] == 1.31 and rows["gelu"]["speed_jax_interval"] == [1.2, 1.4]
    md = table.to_markdown(list(rows.values())).splitlines()
    assert "| time / ReLU (PyTorch) | time / ReLU (JAX) | typical use |" in md[0] and md[1].count("---:") == 3
    assert "| 1.31× | 1.31× | 1.31× |" in next(line for line in md if line.startswith("| gelu "))
    assert "speed_jax" in table.to_csv(list(rows.values())).splitlines()[0]
    jax_only = table.rows(fake({"relu6": (1.0, 0.9, 1.1), "gelu": (2.0, 1.9, 2.1)}, backends=("jax",)), NAMES)
    assert [r["speed_numpy"] for r in jax_only] == [None] * 3 and jax_only[2]["speed_jax"] == 2.0
