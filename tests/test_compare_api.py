"""``actlab.experiments.compare`` with real PyTorch training at tiny sizes: the paired design (same initial
draw and minibatch order per seed whatever the activation), models and data of one's own in every accepted
form, the tasks, runs that diverge or fail, bad input as one line, the results store and its exports."""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
from scipy import stats as scipy_stats  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from actlab.cli import main  # noqa: E402
from actlab.errors import ActlabError  # noqa: E402
from actlab.experiments import ResultsStore, compare, runner  # noqa: E402
from actlab.experiments.api import prepare  # noqa: E402
from actlab.experiments.datasets import load  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY: dict[str, Any] = {"epochs": 1, "db": None}


# --- models of one's own, at the top level of this module (their source is part of the runs' keys) ---


def small(act: nn.Module) -> nn.Module:
    """2 → 8 → 2: the smallest classifier of the moons."""
    return nn.Sequential(nn.Linear(2, 8), act, nn.Linear(8, 2))


class ResidualMLP(nn.Module):
    """x → Linear → (h + Linear(act(LayerNorm h))) × 2 → Linear: a copy of the activation per block."""

    def __init__(self, act: nn.Module, width: int = 16, inputs: int = 2, outputs: int = 2) -> None:
        super().__init__()
        self.inp = nn.Linear(inputs, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), copy.deepcopy(act), nn.Linear(width, width)) for _ in range(2)
        )
        self.out = nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


def residual(act: nn.Module) -> nn.Module:
    return ResidualMLP(act)


SEEN: dict[str, list[torch.Tensor]] = {}
"""The training inputs each activation's model was given, in order (filled by :class:`Recorder`)."""


class Recorder(nn.Module):
    """Identity that keeps every training batch it sees, under its activation's name."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            SEEN.setdefault(self.key, []).append(x.detach().clone())
        return x


def recording(act: nn.Module) -> nn.Module:
    return nn.Sequential(Recorder(act.name), nn.Linear(2, 8), act, nn.Linear(8, 2))


class InfiniteForTanh(nn.Module):
    """A classifier whose output is infinite under tanh: its loss is not finite from the first step."""

    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.net = small(act)
        self.blow_up = act.name == "tanh"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out * math.inf if self.blow_up else out


def infinite_for_tanh(act: nn.Module) -> nn.Module:
    return InfiniteForTanh(act)


REFUSED: set[str] = set()
"""The activations :func:`picky` refuses to build a model for."""


def picky(act: nn.Module) -> nn.Module:
    if act.name in REFUSED:
        raise RuntimeError(f"no model with {act.name} today")
    return small(act)


def refuses_all(act: nn.Module) -> nn.Module:
    raise RuntimeError("this factory is broken")


def three_inputs(act: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Linear(3, 8), act, nn.Linear(8, 2))


def one_score(act: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Linear(2, 8), act, nn.Linear(8, 1), nn.Flatten(0))


def scaled_line(act: nn.Module) -> nn.Module:
    """y ≈ a·act(x) + b: a regression whose fit depends on the activation only."""
    return nn.Sequential(act, nn.Linear(1, 1))


class TinyLM(nn.Module):
    """Tokens (N, T) → logits (N, T, V): an embedding, the activation, a linear read-out."""

    def __init__(self, act: nn.Module, vocab: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 16)
        self.act = act
        self.out = nn.Linear(16, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.embed(tokens)))


def tiny_lm(act: nn.Module) -> nn.Module:
    return TinyLM(act)


def error_rate(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out.argmax(-1) != y).float().mean()


LOSS_CALLS: list[int] = []


def counted_cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    LOSS_CALLS.append(len(y))
    return nn.functional.cross_entropy(out, y)


def _initial(plan_model: Any, activations: list[str], seeds: int, **kw: Any) -> dict[tuple[str, int], dict]:
    """The initial state of every run of a comparison: (activation, seed) -> state dict."""
    plan = prepare(plan_model, "moons", activations, seeds=seeds, epochs=1, **kw)
    out = {}
    for c in plan.todo:
        model = runner.build_model(c, runner.dataset(c.dataset, c.batch_size))
        out[(c.activation, c.seed)] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return out


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- 1. the paired design ---------------------------------------------------------------------


def test_a_factory_model_starts_from_the_same_draw_under_every_activation() -> None:
    states = _initial(residual, ["relu", "tanh", "gelu"], 2)
    for seed in (0, 1):
        assert _same(states[("relu", seed)], states[("tanh", seed)])
        assert _same(states[("relu", seed)], states[("gelu", seed)])
    weights = [k for k in states[("relu", 0)] if k.endswith("weight") and "blocks" in k and ".2." in k]
    assert weights  # the Linear of each block, drawn by reset_parameters from (seed, "init", path)
    for k in weights:
        assert not torch.equal(states[("relu", 0)][k], states[("relu", 1)][k])  # another seed, another draw


def test_a_module_given_as_is_is_redrawn_per_seed_and_paired() -> None:
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
    before = copy.deepcopy(model.state_dict())
    states = _initial(model, ["relu", "tanh"], 2)
    assert _same(states[("relu", 0)], states[("tanh", 0)]) and _same(states[("relu", 1)], states[("tanh", 1)])
    assert not torch.equal(states[("relu", 0)]["0.weight"], states[("relu", 1)]["0.weight"])
    assert _same(model.state_dict(), before) and isinstance(model[1], nn.ReLU)  # the given module is untouched


def test_the_built_in_mlp_draws_weights_proportional_across_activations() -> None:
    states = _initial("mlp", ["relu", "tanh", "selu"], 2, depth=2, width=16)
    weights = [k for k in states[("relu", 0)] if k.endswith("weight")]
    assert len(weights) == 3
    for k in weights:
        for seed in (0, 1):
            base = states[("relu", seed)][k].double()
            for other in ("tanh", "selu"):
                w = states[(other, seed)][k].double()
                scale = float((w * base).sum() / (base * base).sum())  # the ratio of the activations' gains
                assert scale > 0 and torch.allclose(w, scale * base, rtol=1e-5, atol=1e-7), (k, other)
        assert not torch.allclose(states[("relu", 0)][k], states[("relu", 1)][k])
    assert all(not states[("tanh", 0)][k].any() for k in states[("relu", 0)] if k.endswith("bias"))


def _blocks(seen: list[torch.Tensor], per_epoch: int, epochs: int, seeds: int) -> dict[tuple[int, int], list]:
    """Recorded batches as (seed, epoch) -> the epoch's batches (runs go seed by seed, epoch by epoch)."""
    assert len(seen) == per_epoch * epochs * seeds
    return {
        (s, e): seen[(s * epochs + e) * per_epoch : (s * epochs + e + 1) * per_epoch]
        for s in range(seeds)
        for e in range(epochs)
    }


def _check_orders(data: Any, per_epoch: int, rows: int) -> None:
    SEEN.clear()
    c = compare(recording, data, ["relu", "tanh", "gelu"], seeds=2, epochs=2, db=None, batch_size=256)
    assert c.ran == 6 and all(r["status"] == "ok" for r in c.runs)
    blocks = {a: _blocks(SEEN[a], per_epoch, 2, 2) for a in ("relu", "tanh", "gelu")}
    for key, batches in blocks["relu"].items():
        for other in ("tanh", "gelu"):  # the same batches in the same order, whatever the activation
            assert all(torch.equal(a, b) for a, b in zip(batches, blocks[other][key], strict=True))
        assert sum(len(b) for b in batches) == rows  # each epoch goes once through the training set
    firsts = [blocks["relu"][k][0] for k in ((0, 0), (0, 1), (1, 0), (1, 1))]
    assert all(not torch.equal(a, b) for i, a in enumerate(firsts) for b in firsts[i + 1 :])  # per seed and epoch


def test_every_activation_sees_the_same_minibatches_in_the_same_order() -> None:
    _check_orders("moons", per_epoch=6, rows=1500)  # 1500 examples in batches of 256


def test_a_shuffling_dataloader_gives_the_same_order_per_seed_and_epoch() -> None:
    xtr, ytr, xte, yte = load("moons")
    train = DataLoader(TensorDataset(xtr, ytr), batch_size=300, shuffle=True)
    test = DataLoader(TensorDataset(xte, yte), batch_size=500)
    _check_orders((train, test), per_epoch=5, rows=1500)


def test_a_dataloader_epoch_leaves_dropout_its_own_stream() -> None:
    """A DataLoader's shuffle draws from the ("order", epoch) stream; once it has, the global generator is
    the ("epoch", epoch) stream, as it is for tensors: dropout draws the same whatever the data's form."""
    from actlab.experiments.data import as_data
    from actlab.experiments.seeds import derive

    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    loaders = as_data((DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True), DataLoader(TensorDataset(x, y))))
    batches = loaders.train_batches(3, 2)
    next(batches)
    drawn = torch.rand(4)
    torch.manual_seed(derive(3, "epoch", 2))
    assert torch.equal(drawn, torch.rand(4))


def test_a_run_is_deterministic() -> None:
    plan = prepare(residual, "moons", ["gelu"], seeds=1, epochs=2)
    first, second = runner.run(plan.todo[0]), runner.run(plan.todo[0])
    strip = lambda r: [{k: v for k, v in e.items() if k != "seconds"} for e in r["history"]]  # noqa: E731
    assert first["status"] == "ok" and len(first["history"]) == 2
    assert strip(first) == strip(second) and first["final"]["test_metric"] == second["final"]["test_metric"]


# --- 2. models and data of one's own ----------------------------------------------------------


def test_a_residual_factory_and_a_module_swap_train() -> None:
    c = compare(residual, "moons", ["relu", "gelu"], seeds=2, **TINY)
    assert c.ran == 4 and all(r["status"] == "ok" for r in c.runs)
    assert c.runs[0]["config"]["model"].startswith("python:model:residual:")
    assert all(0.5 < r["mean"] <= 1 for r in c.rows()) and "residual" in c.title()
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    swapped = compare(model, "moons", ["relu", "tanh"], seeds=2, **TINY)
    values = swapped.per_seed()
    assert all(math.isfinite(v) for a in values.values() for v in a.values())
    assert values["relu"] != values["tanh"]  # tanh did replace the ReLU
    plan = prepare(model, "moons", ["tanh"], seeds=1, epochs=1)
    built = runner.build_model(plan.todo[0], runner.dataset(plan.todo[0].dataset, 128))
    assert not any(isinstance(m, nn.ReLU) for m in built.modules())
    assert [m.name for m in built.modules() if hasattr(m, "name") and m.name == "tanh"] == ["tanh"]


def test_every_form_of_data_trains_and_the_same_data_gives_the_same_result() -> None:
    xtr, ytr, xte, yte = load("moons")
    forms = {
        "tensors": (xtr, ytr, xte, yte),
        "numpy": (xtr.numpy(), ytr.numpy(), xte.numpy(), yte.numpy()),
        "pairs": ((xtr, ytr), (xte, yte)),
        "datasets": (TensorDataset(xtr, ytr), TensorDataset(xte, yte)),
        "loaders": (
            DataLoader(TensorDataset(xtr, ytr), batch_size=128, shuffle=True),
            DataLoader(TensorDataset(xte, yte)),
        ),
    }
    results = {name: compare(small, data, ["relu", "tanh"], seeds=2, **TINY).per_seed() for name, data in forms.items()}
    for name, values in results.items():
        assert all(0 <= v <= 1 for a in values.values() for v in a.values()), name
    assert results["tensors"] == results["pairs"] == results["numpy"]  # the same data in the same order
    assert compare(small, "moons", ["relu", "tanh"], seeds=2, **TINY).per_seed() == results["tensors"]


def _module(folder: Path, name: str) -> None:
    (folder / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            from actlab.experiments.datasets import load


            def loader():
                return load("moons")


            def factory(act):
                return nn.Sequential(nn.Linear(2, 8), act, nn.Linear(8, 2))
            """
        )
    )


def test_import_paths_for_model_and_data_through_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _module(tmp_path, "cmp_own_cli")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["compare", "--model", "cmp_own_cli:factory", "--dataset", "cmp_own_cli:loader", "--activations"]
    argv += ["relu,tanh", "--seeds", "2", "--epochs", "1", "--workers", "1", "--db", "r.sqlite", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ran"] == 4 and out["config"]["model"] == "cmp_own_cli:factory"
    assert out["config"]["dataset"] == "cmp_own_cli:loader"
    import cmp_own_cli  # type: ignore[import-not-found]

    # the import paths name the same model and data as the objects themselves
    by_object = compare(cmp_own_cli.factory, cmp_own_cli.loader(), ["relu", "tanh"], seeds=2, **TINY)
    means = {r["activation"]: r["mean"] for r in out["rows"]}
    assert means == {r["activation"]: r["mean"] for r in by_object.rows()}


def test_worker_processes_import_a_factory_given_as_an_object(tmp_path: Path) -> None:
    _module(tmp_path, "cmp_own_workers")
    script = textwrap.dedent(
        """
        import json
        import cmp_own_workers as m
        from actlab.experiments import compare

        runs = {w: compare(m.factory, m.loader(), ["relu", "tanh"], seeds=2, epochs=1, db=None, workers=w)
                for w in (1, 2)}
        print(json.dumps({w: [c.per_seed(), c.ran] for w, c in runs.items()}))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(tmp_path)])}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["1"] == result["2"] and result["2"][1] == 4  # two workers: the same numbers as one


# --- 3. tasks ---------------------------------------------------------------------------------


def _line_data(n: int = 512) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, generator=g) * 6 - 3
    xt = torch.linspace(-3, 3, 256).reshape(-1, 1)
    return x, torch.relu(x), xt, torch.relu(xt)  # y = relu(x): fitted exactly by a·relu(x) + b only


def test_regression_is_mse_and_lower_is_better_in_the_verdict() -> None:
    data = _line_data()
    c = compare(scaled_line, data, ["tanh", "relu"], seeds=4, epochs=3, lr=0.05, batch_size=32, db=None)
    assert c.metric == "MSE" and c.higher_is_better is False and c.runs[0]["config"]["task"] == "regression"
    rows = {r["activation"]: r for r in c.rows()}
    assert rows["relu"]["mean"] < rows["tanh"]["mean"] / 2
    assert rows["relu"]["difference"] < 0 and rows["relu"]["verdict"] == "better"  # a smaller MSE is better
    assert "MSE: lower is better" in c.text()
    again = compare(scaled_line, data, ["relu", "tanh"], seeds=4, epochs=3, lr=0.05, batch_size=32, db=None)
    tanh = next(r for r in again.rows() if r["activation"] == "tanh")
    assert tanh["difference"] > 0 and tanh["verdict"] == "worse"


def test_a_language_model_is_scored_in_bits_per_token() -> None:
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 8, (640, 6), generator=g)
    targets = (tokens + 1) % 8  # the next token is the token plus one: learnable exactly
    data = (tokens[:512], targets[:512], tokens[512:], targets[512:])
    c = compare(tiny_lm, data, ["relu", "gelu"], seeds=2, epochs=3, lr=0.02, batch_size=64, db=None)
    assert c.metric == "bits per token" and not c.higher_is_better
    assert c.runs[0]["config"]["task"] == "language_model"
    for a in c.arms:
        assert 0 < a.mean < 1.5  # far below the 3 bits of guessing among 8 tokens


def test_a_metric_and_a_loss_of_ones_own() -> None:
    plain = compare(small, "moons", ["relu", "tanh"], seeds=2, **TINY)
    mine = compare(small, "moons", ["relu", "tanh"], seeds=2, metric=error_rate, higher_is_better=False, **TINY)
    assert mine.metric == "error_rate" and mine.higher_is_better is False
    for a, values in mine.per_seed().items():  # the same training, scored by its error rate
        for seed, v in values.items():
            assert v == pytest.approx(1 - plain.per_seed()[a][seed], abs=1e-6)  # a float32 mean
    LOSS_CALLS.clear()
    own_loss = compare(small, "moons", ["relu"], seeds=1, loss=counted_cross_entropy, **TINY)
    assert sum(LOSS_CALLS) >= 1500 and own_loss.runs[0]["status"] == "ok"  # trained with it
    assert own_loss.per_seed()["relu"][0] == plain.per_seed()["relu"][0]  # the same loss as the built-in one
    with pytest.raises(ActlabError, match="higher_is_better") as info:
        compare(small, "moons", ["relu"], seeds=1, metric=error_rate, **TINY)
    assert "\n" not in str(info.value)


# --- 4. runs that diverge or fail --------------------------------------------------------------


def test_a_run_that_diverges_is_recorded_and_shown() -> None:
    c = compare(infinite_for_tanh, "moons", ["relu", "tanh", "gelu"], seeds=2, **TINY)
    assert c.ran == 6
    assert c.failures("tanh") == [
        {"seed": s, "status": "diverged", "detail": "loss not finite in epoch 1"} for s in (0, 1)
    ]
    assert c.failures("relu") == [] and c.failures("gelu") == []
    rows = {r["activation"]: r for r in c.rows()}
    assert rows["tanh"]["failed_seeds"] == [0, 1] and rows["tanh"]["verdict"] == "not tested"
    assert math.isfinite(rows["gelu"]["p_t"])
    text = c.text()
    assert "tanh seed 0 diverged: loss not finite in epoch 1" in text and "0/2" in text
    sgd = compare("mlp", "moons", ["relu"], seeds=1, optimizer="sgd", lr=1e6, depth=1, width=8, **TINY)
    assert sgd.runs[0]["result"]["status"] == "diverged"  # a learning rate far too large


def test_a_factory_that_fails_for_one_activation_is_recorded_and_retried(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    REFUSED.clear()
    REFUSED.add("tanh")
    try:
        c = compare(picky, "moons", ["relu", "tanh", "gelu"], seeds=2, epochs=1, db=db)
    finally:
        REFUSED.clear()
    assert c.ran == 6  # the sweep went on past the failures
    failures = c.failures("tanh")
    assert [(f["seed"], f["status"]) for f in failures] == [(0, "failed"), (1, "failed")]
    assert "RuntimeError: no model with tanh today" in failures[0]["detail"]
    assert "tanh seed 0 failed: " in c.text()
    with ResultsStore(db) as store:
        assert len(store.finished()) == 4 and sorted(r["status"] for r in store.runs()).count("failed") == 2
    again = compare(picky, "moons", ["relu", "tanh", "gelu"], seeds=2, epochs=1, db=db)
    assert again.ran == 2 and again.failures("tanh") == []  # the failed runs only, now done
    assert [r["finished"] for r in again.rows()] == [2, 2, 2]


# --- 5. bad input: one line naming the problem ------------------------------------------------


def _one_line_error(match: str, **kwargs: Any) -> ActlabError:
    args = {"model": small, "data": "moons", "activations": ["relu", "tanh"], "seeds": 2, **TINY, **kwargs}
    with pytest.raises(ActlabError, match=match) as info:
        compare(**args)
    assert "\n" not in str(info.value)
    return info.value


def test_bad_input_to_compare_is_one_line(tmp_path: Path) -> None:
    _one_line_error(r"unknown activation 'rleu' \(did you mean 'relu'", baseline="rleu")
    _one_line_error(r"the baseline gelu is not among the activations compared \(relu, tanh\)", baseline="gelu")
    _one_line_error(r"unknown optimizer 'adan' \(did you mean 'adam'", optimizer="adan")
    _one_line_error(r"unknown model 'mpl' \(did you mean 'mlp'", model="mpl")
    _one_line_error(r"the model factory .*refuses_all raised RuntimeError: this factory is broken", model=refuses_all)
    _one_line_error(r"has no elementwise activation module to swap", model=nn.Sequential(nn.Linear(2, 2)))
    _one_line_error(r"the model cannot take the data: on a batch of inputs of shape \(128, 2\)", model=three_inputs)
    _one_line_error(r"model's output has shape \(8,\) for targets of shape \(8,\)", model=one_score)
    x = torch.randn(64, 2)
    regression = (x, x[:, :1] * 2, x, x[:, :1] * 2)
    _one_line_error(r"output has shape \(8, 2\) and the targets \(8, 1\)", data=regression)
    _one_line_error(
        r"model .*<lambda> cannot be sent to worker processes .*: define it at the top level of a module",
        model=lambda act: small(act),
        workers=2,
    )
    db = tmp_path / "r.sqlite"
    _one_line_error("this factory is broken", model=refuses_all, db=db)
    with ResultsStore(db) as store:
        assert store.finished() == set()  # refused before any run


def test_one_seed_says_there_is_no_interval_and_no_test() -> None:
    c = compare(small, "moons", ["relu", "tanh"], seeds=1, **TINY)
    assert "one seed: no interval and no test" in c.text()
    assert c.rows()[1]["verdict"] == "not tested" and "nan" not in c.text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--baseline", "gelo"], "unknown activation 'gelo' (did you mean 'gelu'"),
        (["--baseline", "silu"], "the baseline silu is not among the activations compared (relu, gelu)"),
        (["--model", "mpl"], "unknown model 'mpl' (did you mean 'mlp'?)"),
        (["--optimizer", "adan"], "unknown optimizer 'adan' (did you mean 'adam'"),
        (["--model", "cmp_bad_cli:nothing"], "cmp_bad_cli has no attribute 'nothing'"),
        (["--model", "cmp_bad_cli:broken"], "raised RuntimeError: this factory is broken"),
        (["--model", "cmp_bad_cli:three"], "the model cannot take the data"),
        (
            ["--model", "cmp_bad_cli:two_scores", "--dataset", "cmp_bad_cli:class_four"],
            "the model scores 2 classes but the targets go up to 4",
        ),
        (["--model", "no_such_module_q:f"], "cannot import no_such_module_q"),
    ],
)
def test_bad_input_to_the_command_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "cmp_bad_cli.py").write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn


            def broken(act):
                raise RuntimeError("this factory is broken")


            def three(act):
                return nn.Sequential(nn.Linear(3, 8), act, nn.Linear(8, 2))


            def two_scores(act):
                return nn.Sequential(nn.Linear(2, 8), act, nn.Linear(8, 2))


            def class_four():
                x = torch.randn(64, 2)
                y = torch.full((64,), 4)
                return x, y, x, y
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    base = ["compare", "--activations", "relu,gelu", "--seeds", "2", "--epochs", "1", "--workers", "1"]
    assert main([*base, *argv, "--db", "r.sqlite"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("actlab: error: ") and "Traceback" not in err
    assert message in err, err
    assert not Path("r.sqlite").exists()  # refused before the results file is made


# --- 6. the results store ---------------------------------------------------------------------


def test_the_tag_and_the_import_path_are_part_of_the_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("cmp_key_a", "cmp_key_b"):
        _module(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    db = tmp_path / "r.sqlite"
    args: dict[str, Any] = {"data": "moons", "activations": ["relu"], "seeds": 2, "epochs": 1, "db": db}
    assert compare("cmp_key_a:factory", tag="v1", **args).ran == 2
    assert compare("cmp_key_a:factory", tag="v1", **args).ran == 0  # the same tag: nothing to train
    assert compare("cmp_key_a:factory", tag="v2", **args).ran == 2  # another tag: the code changed
    assert compare("cmp_key_b:factory", tag="v2", **args).ran == 2  # the same code under another name
    with ResultsStore(db) as store:
        configs = [r["config"] for r in store.runs()]
    assert {(c["model"], c["tag"]) for c in configs} == {
        ("cmp_key_a:factory", "v1"),
        ("cmp_key_a:factory", "v2"),
        ("cmp_key_b:factory", "v2"),
    }


def test_a_store_of_schema_1_is_upgraded_and_its_runs_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as c:
        c.execute(f"PRAGMA application_id = {0x61637462}")  # "actb"
        c.execute("PRAGMA user_version = 1")
        columns = "key TEXT PRIMARY KEY, config TEXT NOT NULL, result TEXT NOT NULL, finished REAL NOT NULL"
        c.execute(f"CREATE TABLE runs ({columns})")
        accuracy = {("relu", 0): 0.8, ("relu", 1): 0.82, ("relu", 2): 0.81, ("tanh", 0): 0.85, ("tanh", 1): 0.86}
        accuracy[("tanh", 2)] = 0.88
        for i, ((act, seed), acc) in enumerate(accuracy.items()):
            config = {"dataset": "moons", "model": "mlp", "activation": act, "seed": seed, "epochs": 2, "depth": 2}
            config |= {"width": 16, "lr": 0.001, "batch_size": 128, "params": []}
            history = [{"epoch": 1, "train_loss": 0.5, "test_loss": 0.4, "test_acc": acc, "seconds": 1.0}]
            result = {"history": history, "final": {"test_acc": acc, "seconds": 1.0}}
            c.execute("INSERT INTO runs VALUES (?, ?, ?, ?)", (f"k{i}", json.dumps(config), json.dumps(result), i))
    assert main(["results", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "moons, mlp (depth 2, width 16), 2 epochs" in out and "6 runs in 1 comparison" in out
    relu = next(line for line in out.splitlines() if line.startswith("relu "))
    tanh = next(line for line in out.splitlines() if line.startswith("tanh "))
    assert "0.81 ± " in relu and "baseline" in relu and "0.8633 ± " in tanh and "+0.0533" in tanh
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 2
        assert "status" in {r[1] for r in c.execute("PRAGMA table_info(runs)")}
        assert c.execute("SELECT count(*) FROM runs WHERE status = 'ok'").fetchone()[0] == 6
    assert main(["results", "--db", str(db), "--runs", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(float(r["final_metric"]) for r in rows) == sorted(accuracy.values())
    assert {r["metric"] for r in rows} == {"accuracy"} and {r["status"] for r in rows} == {"ok"}


def test_an_in_memory_store_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    c = compare(small, "moons", ["relu"], seeds=2, epochs=1, db=None)
    assert c.ran == 2 and list(tmp_path.iterdir()) == []
    assert compare(small, "moons", ["relu"], seeds=2, epochs=1, db=None).ran == 2  # nothing kept between calls


# --- 7. exports -------------------------------------------------------------------------------


def test_the_exports_agree_and_the_paired_t_test_is_recomputed_from_the_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "r.sqlite")
    c = compare("mlp", "moons", ["relu", "tanh", "gelu"], seeds=3, epochs=1, depth=1, width=8, db=db)
    assert main(["results", "--db", db, "--csv"]) == 0
    stats_rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert main(["results", "--db", db, "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert main(["results", "--db", db, "--runs", "--csv"]) == 0
    run_rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert main(["results", "--db", db, "--runs", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 9
    assert len(groups) == 1 and groups[0]["setting"] == c.setting and groups[0]["seeds"] == [0, 1, 2]
    assert (
        [r["activation"] for r in stats_rows]
        == ["relu", "tanh", "gelu"]
        == [r["activation"] for r in groups[0]["rows"]]
    )
    assert len(run_rows) == 9 and {r["status"] for r in run_rows} == {"ok"}
    metric = {(r["activation"], int(r["seed"])): float(r["final_metric"]) for r in run_rows}
    base = [metric[("relu", s)] for s in range(3)]
    for row, js in zip(stats_rows[1:], groups[0]["rows"][1:], strict=True):
        cand = [metric[(row["activation"], s)] for s in range(3)]
        test = scipy_stats.ttest_rel(cand, base)
        lo, hi = test.confidence_interval(0.95)
        assert float(row["p_t"]) == pytest.approx(test.pvalue, rel=1e-9)
        assert json.loads(row["ci_t"]) == pytest.approx([lo, hi], rel=1e-9)
        assert float(row["difference"]) == pytest.approx(np.mean(np.subtract(cand, base)), rel=1e-9)
        assert js["p_t"] == pytest.approx(test.pvalue, rel=1e-9) and js["verdict"] == row["verdict"]


def test_the_task_is_inferred_from_the_targets_or_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cmp_task_cli.py").write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn


            def line():
                x = torch.linspace(-3, 3, 200).reshape(-1, 1)
                return x, torch.relu(x), x, torch.relu(x)


            def factory(act):
                return nn.Sequential(act, nn.Linear(1, 1))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["compare", "--activations", "relu,tanh", "--seeds", "2", "--epochs", "1", "--workers", "1"]
    own = ["--model", "cmp_task_cli:factory", "--dataset", "cmp_task_cli:line"]
    assert main([*args, *own, "--db", "r.sqlite"]) == 0  # float targets: a regression
    out = capsys.readouterr().out
    assert "MSE (mean ± 95% CI)" in out and "MSE: lower is better" in out
    assert main([*args, "--task", "regression", "--db", "moons.sqlite"]) == 2  # named: the targets are not floats
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert "regression: the model's output has shape (8, 2) and the targets (8,); they must match" in err
    assert not Path("moons.sqlite").exists()


def test_each_built_in_model_has_its_own_default_epochs() -> None:
    """Without epochs=, a built-in model trains for its own budget (the MLP's 10 keep the runs' keys); a
    model of one's own for 10; an explicit value wins."""
    assert prepare("mlp", "moons", ["relu"], seeds=1).todo[0].epochs == 10
    assert prepare("resnet", "mnist1d", ["relu"], seeds=1).todo[0].epochs == 20
    assert prepare("transformer", "pystdlib", ["swiglu"], seeds=1).todo[0].epochs == 3
    assert prepare(residual, "moons", ["relu"], seeds=1).todo[0].epochs == 10
    assert prepare("transformer", "pystdlib", ["relu"], seeds=1, epochs=1).todo[0].epochs == 1
