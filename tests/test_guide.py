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


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"arch": "cnn", "mobile": True, "deep": True}, "different branches"),
        ({"arch": "mlp", "deep": True, "self_normalizing": True}, "different branches"),
        ({"arch": "transformer", "deep": True}, "does not change the choice for --arch transformer"),
        ({"arch": "mlp", "accuracy_first": True}, "--accuracy-first does not change"),
        ({"arch": "rnn", "mobile": True}, "does not change the choice for --arch rnn"),
    ],
)
def test_flags_that_would_be_ignored_are_refused(kwargs: dict, words: str, capsys) -> None:
    with pytest.raises(actlab.ActlabError, match=words):
        recommend(**kwargs)
    argv = ["recommend"] + [f"--{k.replace('_', '-')}" + ("" if v is True else f"={v}") for k, v in kwargs.items()]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words.split(" --")[0] in err


def _store_with(path: Path, accs: dict[str, list[float]]) -> str:
    """A results store holding one comparison: the given final test accuracy per activation and seed."""
    from actlab.experiments import ResultsStore
    from actlab.experiments.runner import RunConfig

    with ResultsStore(path) as s:
        for name, per_seed in accs.items():
            for seed, acc in enumerate(per_seed):
                c = RunConfig("moons", "mlp", name, seed, epochs=5)
                s.add(c.key(), {**c.__dict__, "params": []}, {"final": {"test_acc": acc}})
    return str(path)


def test_evidence_against_the_choice_is_tested_and_commented(tmp_path: Path) -> None:
    # relu is the tree's choice for an MLP; gelu scores above it on every seed, by about the same margin
    db = _store_with(tmp_path / "a.sqlite", {"relu": [0.90, 0.91, 0.89, 0.92], "gelu": [0.95, 0.955, 0.94, 0.97]})
    r = recommend(arch="mlp", results=db)
    text = " ".join(r.reasons)
    assert r.choice == "relu" and "gelu scored above relu" in text and "paired t-test over 4 seeds" in text
    assert "a difference at the 5% level" in text and r.evidence[0]["comment"] in r.reasons
    # the same means with the order of the seeds scrambled: no consistent difference
    db = _store_with(tmp_path / "b.sqlite", {"relu": [0.90, 0.97, 0.89, 0.95], "gelu": [0.95, 0.91, 0.94, 0.92]})
    text = " ".join(recommend(arch="mlp", results=db).reasons)
    assert "not a significant difference" in text and "relu stands" in text
    # one seed each: no test, and no claim
    db = _store_with(tmp_path / "c.sqlite", {"relu": [0.90], "gelu": [0.95]})
    text = " ".join(recommend(arch="mlp", results=db).reasons)
    assert "too few for a test" in text and "p =" not in text
    # the choice ranked first: nothing to comment
    db = _store_with(tmp_path / "d.sqlite", {"relu": [0.99, 0.98], "gelu": [0.95, 0.94]})
    assert not any("scored above" in x for x in recommend(arch="mlp", results=db).reasons)


def test_bench_may_be_a_file(tmp_path: Path) -> None:
    from actlab import bench

    result = bench.run(
        names=["hardswish", "silu"], backends=("numpy",), size=4096, repeats=3, impls="own", passes=["forward_backward"]
    )
    bench.save(result, tmp_path / "b.json")
    from_file = recommend(arch="cnn", mobile=True, bench=tmp_path / "b.json")
    assert from_file.reasons == recommend(arch="cnn", mobile=True, bench=result).reasons
    assert any("measured forward + backward time on this machine (numpy)" in r for r in from_file.reasons)
    with pytest.raises(actlab.ActlabError, match="no benchmark results"):
        recommend(arch="cnn", mobile=True, bench=tmp_path / "missing.json")
