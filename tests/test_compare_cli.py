"""``actlab compare``: every argument checked before PyTorch is imported or a file is written, repeated
names trained once, and a command that says what it starts, what it resumes and what it cannot say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from actlab.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY = ["--seeds", "1", "--epochs", "1", "--width", "8", "--depth", "1", "--workers", "1"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "0"], "--workers must be a positive integer; got 0"),
        (["--dataset", "cifar10"], "unknown dataset 'cifar10'; choose from moons, spirals, digits, mnist1d"),
        (["--dataset", "moon"], "(did you mean 'moons'?)"),
        (["--lr", "-1"], "--lr must be a positive learning rate"),
        (["--lr", "nan"], "--lr must be a positive learning rate"),
        (["--activations", "softmax"], "softmax is an axis activation"),
        (["--activations", "relu,swiglu"], "swiglu is a gated activation"),
        (["--seeds", "0"], "--seeds must be a positive integer"),
        (["--epochs", "0"], "--epochs must be a positive integer"),
        (["--activations", "rleu"], "unknown activation 'rleu' (did you mean 'relu'"),
        (["--activations", " , "], "--activations needs at least one name"),
        (["--activations", "relu,ReLU", "--seeds", "0"], "--seeds must be a positive integer"),  # no note first
        (["--batch-size", "0"], "--batch-size must be a positive integer; got 0"),
        (
            ["--model", "mpl"],
            "unknown model 'mpl' (did you mean 'mlp'?); choose from mlp, cnn, resnet, transformer or give package",
        ),
        (["--model", "resnet-18"], "unknown model 'resnet-18' (did you mean 'resnet'?); choose from mlp, cnn, resnet"),
        (["--dataset", "my data:load"], "unknown dataset 'my data:load'"),
        (["--optimizer", "adan"], "unknown optimizer 'adan' (did you mean 'adam'"),
        (["--baseline", "gelo"], "unknown activation 'gelo' (did you mean 'gelu'"),
        (["--activations", "relu,tanh", "--baseline", "gelu"], "the baseline gelu is not among the activations"),
    ],
)
def test_bad_arguments_fail_at_once_in_one_line_and_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    db = tmp_path / "results.sqlite"
    assert main(["compare", *argv, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("actlab") and message in err, err
    assert not db.exists()  # no empty results file left behind


def test_bad_arguments_are_refused_before_pytorch_is_imported(tmp_path: Path) -> None:
    bad = [
        ["--workers", "0"],
        ["--dataset", "cifar10"],
        ["--lr", "-1"],
        ["--activations", "softmax"],
        ["--epochs", "0"],
        ["--model", "mpl"],
        ["--optimizer", "adan"],
        ["--activations", "relu,tanh", "--baseline", "gelu"],
    ]
    script = (
        "import json, sys\n"
        "from actlab.cli import main\n"
        "codes = [main(['compare', *a, '--db', 'r.sqlite']) for a in json.loads(sys.argv[1])]\n"
        "print(json.dumps({'codes': codes, 'torch': 'torch' in sys.modules}))\n"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(bad)], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"codes": [2] * len(bad), "torch": False}
    assert len(done.stderr.splitlines()) == len(bad) and "Traceback" not in done.stderr
    assert not (tmp_path / "r.sqlite").exists()
    assert seconds < 5  # importing PyTorch and forking workers took 6-14 s before the error


def test_repeated_names_train_once_and_one_seed_has_no_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "r.sqlite")
    assert main(["compare", "--activations", "relu,ReLU,relu", *TINY, "--db", db]) == 0
    out, err = capsys.readouterr()
    assert "actlab: note: relu is given 3 times (relu, ReLU, relu); training it once" in err
    assert "training 1 run (1 activation × 1 seed) on moons in this process..." in err
    assert "1 run trained, 0 already in" in out
    assert "one seed: no interval and no test; run more seeds (--seeds 5)" in out and "nan" not in out
    assert main(["results", "--db", db, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_a_resumed_sweep_says_what_it_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "r.sqlite")
    assert main(["compare", "--activations", "relu", *TINY, "--db", db]) == 0
    capsys.readouterr()
    assert main(["compare", "--activations", "relu,tanh,elu", *TINY, "--db", db]) == 0
    out, err = capsys.readouterr()
    assert f"1 of 3 runs already in {db}; training the other 2 on moons in this process..." in err
    assert "2 runs trained, 1 already in" in out
    assert main(["compare", "--activations", "tanh,relu", *TINY, "--db", db]) == 0
    assert f"all 2 runs (2 activations × 1 seed) already in {db}; nothing to train" in capsys.readouterr().err


def test_two_seeds_give_an_interval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "r.sqlite")
    args = ["compare", "--activations", "relu", "--seeds", "2", "--epochs", "1", "--width", "8", "--depth", "1"]
    assert main([*args, "--workers", "1", "--db", db]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("relu "))
    assert " ± " in row and "no interval" not in out and "nan" not in out


def test_worker_processes_redirected_print_the_plan_and_no_bar(tmp_path: Path) -> None:
    # squareplus has no native kernel: evaluating 1500 × 64 activations compiles its fused kernel in each
    # worker, part of the run's time, with no log line (the bar, on a terminal, shows the run at work)
    args = ["compare", "--activations", "relu,squareplus", "--seeds", "2", "--epochs", "1", "--depth", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "actlab.cli", *args, "--workers", "2", "--db", str(tmp_path / "r.sqlite")],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "training 4 runs (2 activations × 2 seeds) on moons with 2 worker processes...\n"
    assert "\r" not in done.stdout and "4 runs trained, 0 already in" in done.stdout


def test_json_output_is_unchanged_by_the_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "r.sqlite")
    assert main(["compare", "--activations", "relu,relu", *TINY, "--db", db, "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["ran"] == 1 and [r["activation"] for r in data["rows"]] == ["relu"]
    assert "training it once" in err and "training 1 run" not in err  # --json: a note, no narration


def test_the_tag_optimizer_and_batch_size_are_part_of_a_runs_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "r.sqlite")
    args = ["compare", "--activations", "relu", *TINY, "--db", db, "--json"]

    def ran(*extra: str) -> int:
        assert main([*args, *extra]) == 0
        return json.loads(capsys.readouterr().out)["ran"]

    assert ran("--tag", "v1") == 1
    assert ran("--tag", "v1") == 0  # the same tag: already in the store
    assert ran("--tag", "v2") == 1  # another version of the code: trained again
    assert ran("--tag", "v2", "--optimizer", "sgd") == 1
    assert ran("--tag", "v2", "--batch-size", "64") == 1
    assert main(["results", "--db", db, "--runs", "--json"]) == 0
    configs = [r["config"] for r in json.loads(capsys.readouterr().out)]
    assert [(c["tag"], c["optimizer"], c["batch_size"]) for c in configs] == [
        ("v1", "adam", 128),
        ("v2", "adam", 128),
        ("v2", "sgd", 128),
        ("v2", "adam", 64),
    ]
    assert main(["results", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "4 runs in 4 comparisons" in out and ", lr 0.001, tag v1 [" in out and ", lr 0.001, sgd, tag v2 [" in out
