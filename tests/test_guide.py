"""The decision guide: every branch of the article's tree, computed reasons, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import actlab
from actlab.analysis import gains
from actlab.cli import main
from actlab.guide import recommend

BRANCHES = [
    ({"arch": "mlp"}, "relu"),
    ({"arch": "mlp", "deep": True}, "gelu"),
    ({"arch": "mlp", "self_normalizing": True}, "selu"),
    ({"arch": "cnn"}, "relu"),
    ({"arch": "cnn", "accuracy_first": True}, "mish"),
    ({"arch": "cnn", "mobile": True}, "hardswish"),
    ({"arch": "cnn", "deep": True}, "relu"),
    ({"arch": "transformer"}, "gelu"),
    ({"arch": "transformer", "role": "gate"}, "silu"),
    ({"arch": "rnn", "role": "gate"}, "sigmoid"),
    ({"arch": "rnn", "role": "state"}, "tanh"),
    ({"arch": "rnn"}, "tanh"),
    ({"role": "output", "task": "binary"}, "sigmoid"),
    ({"role": "output", "task": "multiclass"}, "softmax"),
    ({"role": "output", "task": "multilabel"}, "sigmoid"),
    ({"role": "output", "task": "regression"}, "identity"),
]


@pytest.mark.parametrize(("kwargs", "choice"), BRANCHES)
def test_every_branch(kwargs: dict, choice: str) -> None:
    r = recommend(**kwargs)
    assert r.choice == choice
    assert all(n in actlab.names() for n in [r.choice, *r.alternatives])
    assert len(r.reasons) >= 2


def test_reasons_quote_computed_numbers() -> None:
    r = recommend(arch="mlp", deep=True)
    assert f"{gains('gelu')['forward']:.4f}" in " ".join(r.reasons)
    s = recommend(arch="mlp", self_normalizing=True)
    assert "LeCun normal initialisation" in s.requirements and any("stable fixed point" in x for x in s.reasons)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"arch": "cnn", "self_normalizing": True},
        {"role": "output"},
        {"role": "output", "task": "binary", "deep": True},
        {"arch": "mlp", "task": "binary"},
        {"arch": "cnn", "role": "state"},
        {"role": "hidden"},
        {"arch": "lstm"},
        {"arch": "rnn", "role": "gate", "mobile": True},
    ],
)
def test_contradictions_are_refused(kwargs: dict) -> None:
    with pytest.raises(actlab.ActlabError):
        recommend(**kwargs)


def test_cli_recommend_cites_measured_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    db = str(tmp_path / "r.sqlite")
    assert (
        main(
            [
                "compare",
                "--activations",
                "gelu,relu",
                "--seeds",
                "1",
                "--epochs",
                "1",
                "--workers",
                "1",
                "--db",
                db,
                "--json",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["recommend", "--arch", "mlp", "--deep", "--db", db, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["choice"] == "gelu" and data["evidence"] and "measured on moons/mlp" in " ".join(data["reasons"])
    assert main(["recommend", "--role", "output"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--task" in err
