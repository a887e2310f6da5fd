"""Devices, precisions and checkpoints of the experiments' runs: what a run records it ran on, which
settings are part of its key, and that a run interrupted (an exception, a SIGKILL) resumes from its last
finished epoch to the final metrics of a run never interrupted."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from actlab.errors import ActlabError
from actlab.experiments import ResultsStore, checkpoints
from actlab.experiments.api import compare, model_ref
from actlab.experiments.runner import (
    RunConfig,
    Runtime,
    check_device,
    check_precision,
    resolve_device,
    run,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = {"depth": 1, "width": 8}


# --- a model that fails (or yields NaN) at a chosen training step, to interrupt a run in this process ---

TRIP: dict[str, Any] = {"at": None, "calls": 0, "nan": False}


class Tripwire(nn.Module):
    """Passes its input through; at the ``TRIP["at"]``-th training forward it raises, or returns NaN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and TRIP["at"] is not None:
            TRIP["calls"] += 1
            if TRIP["calls"] == TRIP["at"]:
                if TRIP["nan"]:
                    return x * math.nan
                raise RuntimeError("the machine went away")
        return x


def tripwire_mlp(act: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Linear(2, 16), act, Tripwire(), nn.Linear(16, 2))


@pytest.fixture
def trip() -> Any:
    TRIP.update(at=None, calls=0, nan=False)
    yield TRIP
    TRIP.update(at=None, calls=0, nan=False)


STEPS = math.ceil(1500 / 128)  # moons: 1500 training examples, batches of 128


def tripwire_config(epochs: int = 5, precision: str = "32") -> RunConfig:
    return RunConfig("moons", model_ref(tripwire_mlp), "relu", 0, epochs=epochs, depth=0, width=0, precision=precision)


# --- keys ---


def test_the_default_precision_leaves_stored_keys_unchanged_and_others_are_new_keys() -> None:
    base = RunConfig("moons", "mlp", "relu", 0, epochs=4, depth=2, width=16)
    assert base.key() == "b06e7bd43d4829b9e804fe10"  # the key of this run before precision was a setting
    assert base.setting() == "1b2410a5998bbaf4"
    half = RunConfig("moons", "mlp", "relu", 0, epochs=4, depth=2, width=16, precision="bf16")
    assert half.key() != base.key() and half.setting() != base.setting()


def test_a_machine_dependent_dataset_puts_its_fingerprint_in_the_key_and_others_keep_theirs() -> None:
    from dataclasses import replace

    from actlab.experiments.api import prepare
    from actlab.experiments.runner import dataset

    [text] = prepare("transformer", "pystdlib", ["relu"], seeds=1, epochs=1, batch_size=64).todo
    assert text.data_version == dataset("pystdlib", 64).fingerprint()[:16]
    assert replace(text, data_version="0" * 16).key() != text.key()
    [moons] = prepare("mlp", "moons", ["relu"], seeds=1, epochs=4, depth=2, width=16).todo
    assert moons.data_version == "" and moons.key() == "b06e7bd43d4829b9e804fe10"  # unchanged


def test_a_process_whose_machine_dependent_data_differs_refuses_the_run_in_one_line() -> None:
    config = RunConfig("pystdlib", "transformer", "relu", 0, epochs=1, depth=1, width=16, batch_size=64,
                       data_version="0123456789abcdef")  # fmt: skip
    result = run(config, Runtime("cpu"))
    assert result["status"] == "failed"
    assert "is not the data the run was planned on (0123456789abcdef)" in result["error"]
    assert "\n" not in result["error"]


# --- devices and precisions ---


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "CPU", "", 0])
def test_a_device_not_written_as_one_is_one_error_naming_the_valid_ones(bad: Any) -> None:
    with pytest.raises(ActlabError, match=r"device must be auto, cpu, cuda, cuda:N or mps; got"):
        check_device(bad)


def test_devices_resolve_to_what_this_machine_has_and_a_missing_one_is_named() -> None:
    assert resolve_device("cpu") == "cpu"
    auto = resolve_device("auto")
    assert auto == ("cuda:0" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu")
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU: never there
    with pytest.raises(ActlabError, match=rf"device {missing} is not available; this machine has cpu"):
        resolve_device(missing)


def test_precisions_are_checked() -> None:
    assert [check_precision(p) for p in ("32", "bf16", "16", 32, 16)] == ["32", "bf16", "16", "32", "16"]
    for bad in ("8", "fp16", 64, True, None):
        with pytest.raises(ActlabError, match=r"precision must be 32, bf16, 16"):
            check_precision(bad)


def test_a_run_records_its_device_versions_and_wall_time() -> None:
    r = run(RunConfig("moons", "mlp", "relu", 0, epochs=1, **TINY), Runtime("cpu"))
    assert r["status"] == "ok" and r["device"] == "cpu"
    assert set(r["versions"]) == {"python", "torch", "actlab", "numpy"} and r["versions"]["torch"] == torch.__version__
    assert r["wall_seconds"] >= r["seconds"] > 0


def test_a_missing_device_fails_the_run_in_one_line() -> None:
    missing = f"cuda:{torch.cuda.device_count()}"
    r = run(RunConfig("moons", "mlp", "relu", 0, epochs=1, **TINY), Runtime(missing))
    assert r["status"] == "failed" and r["error"].startswith(f"ActlabError: device {missing} is not available")


def test_bfloat16_trains_on_the_cpu_to_other_numbers() -> None:
    full = run(RunConfig("moons", "mlp", "relu", 0, epochs=2, **TINY))
    half = run(RunConfig("moons", "mlp", "relu", 0, epochs=2, precision="bf16", **TINY))
    assert half["status"] == "ok" and 0.3 < half["final"]["test_metric"] <= 1
    assert half["history"][-1]["train_loss"] != full["history"][-1]["train_loss"]


# --- checkpoints in one process ---


@pytest.mark.parametrize("precision", ["32", "bf16"])
def test_a_run_that_raised_keeps_its_checkpoint_and_resumes_to_the_uninterrupted_result(
    tmp_path: Path, trip: Any, precision: str
) -> None:
    config = tripwire_config(epochs=5, precision=precision)
    whole = run(config)  # no checkpoint folder: trains through
    assert whole["status"] == "ok"
    trip["at"] = 2 * STEPS + 3  # raises in epoch 3
    broken = run(config, Runtime("cpu", str(tmp_path)))
    assert broken["status"] == "failed" and "the machine went away" in broken["error"]
    saved = checkpoints.load(checkpoints.path(tmp_path, config.key()), config.key())
    assert saved is not None and saved["epoch"] == 2 and len(saved["history"]) == 2
    trip["at"] = None
    resumed = run(config, Runtime("cpu", str(tmp_path)))
    assert resumed["status"] == "ok" and resumed["resumed_from"] == 2
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4, 5]
    for a, b in zip(resumed["history"], whole["history"]):
        assert (a["train_loss"], a["test_loss"], a["test_metric"]) == (
            b["train_loss"],
            b["test_loss"],
            b["test_metric"],
        )
    assert not list(tmp_path.iterdir())  # finished: its checkpoint is removed


def test_a_run_that_diverges_after_a_checkpoint_removes_it(tmp_path: Path, trip: Any) -> None:
    trip.update(at=2 * STEPS + 1, nan=True)
    r = run(tripwire_config(epochs=4), Runtime("cpu", str(tmp_path), keep_checkpoints=True))
    assert r["status"] == "diverged" and r["diverged_at"] == {"epoch": 3, "step": 0}
    assert not list(tmp_path.iterdir())


def test_short_runs_save_no_checkpoint_and_kept_ones_hold_the_last_epoch(tmp_path: Path) -> None:
    short = RunConfig("moons", "mlp", "relu", 0, epochs=checkpoints.MIN_EPOCHS - 1, **TINY)
    run(short, Runtime("cpu", str(tmp_path / "short"), keep_checkpoints=True))
    assert not (tmp_path / "short").exists()
    long = RunConfig("moons", "mlp", "relu", 0, epochs=checkpoints.MIN_EPOCHS, **TINY)
    first = run(long, Runtime("cpu", str(tmp_path), keep_checkpoints=True))
    kept = checkpoints.load(checkpoints.path(tmp_path, long.key()), long.key())
    assert kept is not None and kept["epoch"] == long.epochs
    again = run(long, Runtime("cpu", str(tmp_path)))  # nothing left to train: the same result, checkpoint removed
    assert again["resumed_from"] == long.epochs and again["final"]["test_metric"] == first["final"]["test_metric"]
    assert not checkpoints.path(tmp_path, long.key()).exists()


def test_a_checkpoint_of_another_run_or_format_is_not_resumed_from(tmp_path: Path) -> None:
    config = RunConfig("moons", "mlp", "relu", 0, epochs=3, **TINY)
    file = checkpoints.path(tmp_path, config.key())
    file.write_bytes(b"not a checkpoint")
    assert checkpoints.load(file, config.key()) is None
    checkpoints.save(file, {"key": "another run", "epoch": 1})
    assert checkpoints.load(file, config.key()) is None
    left = tmp_path / f".{file.name}.k1ll.tmp"  # what a kill while writing leaves
    left.write_bytes(b"half a checkpoint")
    r = run(config, Runtime("cpu", str(tmp_path)))
    assert r["status"] == "ok" and "resumed_from" not in r and len(r["history"]) == 3
    assert not list(tmp_path.iterdir())


def test_compare_keeps_checkpoints_beside_the_results_file_only_when_asked(tmp_path: Path) -> None:
    settings: dict[str, Any] = {"model": "mlp", "data": "moons", "activations": "relu", "seeds": 1, "epochs": 3}
    compare(**settings, db=tmp_path / "a.sqlite", device="cpu", **TINY)
    assert not (tmp_path / "a.sqlite.checkpoints").exists()  # its one checkpoint removed, and the empty folder
    result = compare(**settings, db=tmp_path / "b.sqlite", keep_checkpoints=True, **TINY)
    [r] = result.runs
    assert [p.name for p in (tmp_path / "b.sqlite.checkpoints").iterdir()] == [f"{r['key']}.pt"]
    assert r["result"]["device"] == "cpu" if not torch.cuda.is_available() else r["result"]["device"].startswith("cuda")
    compare(**settings, db=None, keep_checkpoints=True, **TINY)  # in memory: no folder anywhere
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["b.sqlite.checkpoints"]
    with pytest.raises(ActlabError, match="precision must be"):
        compare(**settings, db=None, precision="8", **TINY)
    missing = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ActlabError, match=f"device {missing} is not available"):
        compare(**settings, db=tmp_path / "c.sqlite", device=missing, **TINY)
    assert not (tmp_path / "c.sqlite").exists()


# --- a real SIGKILL of `actlab compare`, and the same command again ---

CLI = [sys.executable, "-W", "error", "-m", "actlab.cli"]
ENV = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
KILL_EPOCHS = 60  # about 30 ms each: the run is killed within the first few, and ends in seconds


def _compare_cli(db: Path) -> list[str]:
    return [
        *CLI, "compare", "--dataset", "moons", "--activations", "relu", "--seeds", "1", "--epochs", str(KILL_EPOCHS),
        "--depth", "1", "--width", "8", "--workers", "1", "--device", "cpu", "--db", str(db), "--json",
    ]  # fmt: skip


def test_compare_killed_mid_run_resumes_from_its_checkpoint_to_the_uninterrupted_result(tmp_path: Path) -> None:
    import json

    db = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(_compare_cli(db), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    folder = checkpoints.folder_for(db)
    assert folder is not None
    epoch, deadline = 0, time.monotonic() + 240
    while epoch < 2 and proc.poll() is None and time.monotonic() < deadline:
        for file in folder.glob("*.pt") if folder.is_dir() else ():
            state = checkpoints.load(file, file.stem)
            epoch = state["epoch"] if state else epoch
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL and epoch >= 2
    [file] = folder.glob("*.pt")
    assert 2 <= checkpoints.load(file, file.stem)["epoch"] < KILL_EPOCHS

    again = subprocess.run(_compare_cli(db), env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["ran"] == 1 and not folder.exists()  # the folder goes with its last checkpoint
    with ResultsStore(db) as store:
        [stored] = list(store.runs())
    resumed = stored["result"]
    assert stored["key"] == file.stem and resumed["status"] == "ok" and resumed["resumed_from"] >= 2
    assert [h["epoch"] for h in resumed["history"]] == list(range(1, KILL_EPOCHS + 1))

    whole = compare("mlp", "moons", "relu", seeds=1, epochs=KILL_EPOCHS, db=tmp_path / "w.sqlite", device="cpu", **TINY)
    [w] = whole.runs
    assert w["key"] == stored["key"] and "resumed_from" not in w["result"]
    for a, b in zip(resumed["history"], w["result"]["history"]):
        assert (a["train_loss"], a["test_loss"], a["test_metric"]) == (
            b["train_loss"],
            b["test_loss"],
            b["test_metric"],
        )
    assert resumed["final"]["test_metric"] == w["result"]["final"]["test_metric"]


def test_compare_refuses_a_device_or_precision_in_one_line_before_creating_the_results_file(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    missing = f"cuda:{torch.cuda.device_count()}"
    for flags, message in (
        (["--device", "gpu"], "--device must be auto, cpu, cuda, cuda:N or mps; got 'gpu'"),
        (["--precision", "8"], "--precision must be 32, bf16, 16"),
        (["--device", missing], f"device {missing} is not available; this machine has cpu"),
    ):
        r = subprocess.run(
            [*CLI, "compare", "--seeds", "1", "--epochs", "1", "--db", str(db), *flags],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert not db.exists()


def test_a_checkpoint_that_cannot_be_written_costs_the_run_its_checkpoints_not_its_training(tmp_path: Path) -> None:
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    r = run(RunConfig("moons", "mlp", "relu", 0, epochs=3, **TINY), Runtime("cpu", str(blocked)))
    assert r["status"] == "ok" and len(r["history"]) == 3
    assert "exists and is not a folder" in r["checkpoint_error"]
