"""Every subcommand takes --json, as the README says; compare and results print the same comparison."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from actlab.cli import build_parser, main


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_command_takes_json(name: str) -> None:
    options = {opt for a in _subcommands()[name]._actions for opt in a.option_strings}
    assert "--json" in options and "--help" in options


def test_compare_and_results_print_the_same_comparison(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    db = str(tmp_path / "r.sqlite")
    args = ["compare", "--activations", "relu,tanh", "--seeds", "2", "--epochs", "1", "--width", "8", "--depth", "1"]
    assert main([*args, "--workers", "1", "--db", db, "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    assert compared["ran"] == 4 and compared["skipped"] == 0 and compared["baseline"] == "relu"
    assert compared["metric"] == "accuracy" and compared["higher_is_better"] is True and compared["seeds"] == [0, 1]
    assert main(["results", "--db", db, "--json"]) == 0
    [stored] = json.loads(capsys.readouterr().out)
    assert stored["setting"] == compared["setting"] and stored["rows"] == compared["rows"]  # the same statistics
    assert main(["results", "--db", db, "--runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 4 and all(set(r) == {"key", "config", "result", "finished", "status"} for r in runs)
    assert {(r["config"]["activation"], r["config"]["seed"]) for r in runs} == {
        (a, s) for a in ("relu", "tanh") for s in (0, 1)
    }
