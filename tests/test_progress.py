"""Progress bars: drawn on a terminal, absent (no carriage return) when stderr is a file or a pipe.

Each command runs as a real process; "a terminal" is a pseudo-terminal (``pty``) on its stderr.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from actlab import _progress, bench

SRC = str(Path(__file__).resolve().parents[1] / "src")
SMALL = ["--backend", "numpy", "--size", "4096", "--repeats", "1"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "COLUMNS": "100"}


def _redirected(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``actlab ARGS`` with stdout and stderr each a pipe (as in ``actlab table > t.md 2>&1``)."""
    return subprocess.run(
        [sys.executable, "-m", "actlab.cli", *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300
    )


def _on_terminal(code: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run ``code`` (an argv) with stderr on a pseudo-terminal: (status, what the terminal got, stdout)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0 × 0
    out = cwd / "stdout.txt"
    with open(out, "w") as fh:
        proc = subprocess.Popen(code, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL, stdout=fh, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every copy of the terminal's other end is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    status = proc.wait(timeout=300)
    return status, b"".join(chunks).decode("utf-8", "replace"), out.read_text()


def _messages_only(err: str) -> bool:
    """Whether stderr holds only whole lines of notes or warnings (a busy machine is reported so)."""
    return all(line.startswith("actlab: ") for line in err.splitlines()) and (not err or err.endswith("\n"))


def test_bench_writes_no_carriage_return_when_redirected(tmp_path: Path) -> None:
    done = _redirected(["bench", "relu", "gelu", *SMALL], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\r" not in done.stdout
    assert _messages_only(done.stderr)  # no bar, no blanking spaces
    assert done.stdout.startswith("size 4,096 float32")


def test_bench_draws_its_bar_on_a_terminal(tmp_path: Path) -> None:
    status, terminal, stdout = _on_terminal([sys.executable, "-m", "actlab.cli", "bench", "relu", *SMALL], tmp_path)
    assert status == 0
    assert "\r" in terminal and "%|" in terminal and "bench relu" in terminal  # tqdm's bar, at the activation
    assert "<" in terminal.split("%|", 1)[1]  # elapsed<remaining: an estimate of the time left
    assert "\r" not in stdout and stdout.startswith("size 4,096")


def test_table_measuring_speed_first_is_quiet_when_redirected(tmp_path: Path) -> None:
    # `actlab table` with no actlab-bench.json measures first; a tiny benchmark stands in for the quick one
    # (bench.QUICK is read at call time)
    script = (
        "import sys; from actlab import bench; from actlab.cli import main\n"
        "bench.QUICK.update(size=4096, repeats=1, max_repeats=1, backends=('numpy',))\n"
        "sys.exit(main(['table', '--format', 'csv']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "actlab-bench.json").exists()  # it did measure
    assert "\r" not in done.stderr + done.stdout and _messages_only(done.stderr)
    assert done.stdout.splitlines()[0].startswith("name,")
    # on a terminal, the same first use shows what it is doing; with the file now there, nothing is drawn
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    status, terminal, stdout = _on_terminal([sys.executable, "-c", script], fresh)
    assert status == 0 and "measuring speed (no actlab-bench.json yet)" in terminal and "%|" in terminal
    assert stdout.splitlines()[0].startswith("name,") and "\r" not in stdout
    status, terminal, _ = _on_terminal([sys.executable, "-c", script], fresh)
    assert status == 0 and "%|" not in terminal


def test_accuracy_bar_on_a_terminal_and_none_redirected(tmp_path: Path) -> None:
    args = ["accuracy", "relu", "elu", "--dtype", "float32"]
    done = _redirected(args, tmp_path)
    assert done.returncode == 0 and "\r" not in done.stderr + done.stdout and _messages_only(done.stderr)
    status, terminal, stdout = _on_terminal([sys.executable, "-m", "actlab.cli", *args], tmp_path)
    assert status == 0 and "accuracy of elu" in terminal and "/2 [" in terminal  # one step per activation × dtype
    assert "\r" not in stdout and "relu" in stdout


def test_report_progress_keeps_the_seconds_of_each_step(tmp_path: Path) -> None:
    script = (
        "import json, time\n"
        "from actlab.report import Progress\n"
        "bar = Progress(2)\n"
        "bar.show('first part')\n"
        "time.sleep(0.3)\n"
        "bar.lap('first')\n"
        "bar.step('second part')\n"
        "bar.lap('second')\n"
        "bar.step('done')\n"
        "bar.close()\n"
        "print(json.dumps(bar.laps))\n"
    )
    status, terminal, stdout = _on_terminal([sys.executable, "-c", script], tmp_path)
    assert status == 0
    assert "first part" in terminal and "second part" in terminal and "\r" in terminal
    laps = json.loads(stdout)
    assert list(laps) == ["first", "second"] and laps["first"] >= 0.3
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == "" and json.loads(done.stdout)["first"] >= 0.3


def test_the_bar_is_off_unless_stderr_is_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with _progress.bar(3, "work") as b:
        _progress.move(b, 2, 4, "more work")
        assert b.disable
    assert capsys.readouterr().err == ""


def test_a_bench_progress_callback_moves_the_bar_forward_and_back(tmp_path: Path) -> None:
    # bench.run reports step 0 while it compiles, then each block; the total may be set late
    script = (
        "import sys\n"
        "from actlab import _progress\n"
        "with _progress.bar(1, 'x') as b:\n"
        "    report = _progress.reporter(b, 'bench ')\n"
        "    report(3, 10, 'gelu')\n"
        "    report(0, 10, 'elu compiling')\n"
        "    print(b.n, b.total, b.desc)\n"
    )
    status, terminal, stdout = _on_terminal([sys.executable, "-c", script], tmp_path)
    assert status == 0 and stdout.split() == ["0", "10", "bench", "elu", "compiling"]
    assert "bench gelu" in terminal


def test_bench_json_file_is_untouched_by_the_bar(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    status, terminal, _ = _on_terminal(
        [sys.executable, "-m", "actlab.cli", "bench", "relu", *SMALL, "--json", str(path)], tmp_path
    )
    assert status == 0 and "%|" in terminal
    assert bench.load(path)["config"]["names"] == ["relu"]


def test_compare_shows_the_runs_at_work_on_a_terminal(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    args = ["compare", "--activations", "relu,tanh", "--seeds", "1", "--epochs", "1", "--width", "8", "--depth", "1"]
    argv = [sys.executable, "-m", "actlab.cli", *args, "--workers", "2", "--db", str(tmp_path / "r.sqlite")]
    status, terminal, stdout = _on_terminal(argv, tmp_path)
    assert status == 0
    assert terminal.startswith("training 2 runs (2 activations × 1 seed) on moons with 2 worker processes...")
    assert "training relu seed 0, tanh seed 0" in terminal and "/2 [" in terminal  # both workers' runs, then 1/2
    assert "\r" not in stdout and "2 runs trained" in stdout


# --- the generic PyTorch path's first-call compile ------------------------------------------

_COMPILES = """
import json, logging, sys, torch
import actlab.torch as at
from torch._dynamo.utils import counters
records = []
handler = logging.Handler()
handler.emit = lambda r: records.append((r.levelname, r.getMessage()))
logging.getLogger("actlab.torch").addHandler(handler)
logging.getLogger("actlab.torch").setLevel(logging.INFO)
act = at.get("squareplus")
steps = {}
def graphs():
    return sum(counters["stats"].values()) if "stats" in counters else 0
def step(what, fn):
    before, n = graphs(), len(records)
    fn()
    steps[what] = {"compiled": graphs() > before, "logged": records[n:]}
x = torch.randn(256, 256, requires_grad=True)  # 65536 elements: the fused kernel
step("warm_up", lambda: at.warm_up(act, (256, 256)))
step("train", lambda: act(x).sum().backward())  # the same shape, a broadcast gradient: nothing to compile
step("new shape", lambda: act(torch.randn(512, 256)))
print(json.dumps(steps))
"""


def test_the_first_compile_is_said_once_and_warm_up_takes_it_out_of_training(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    done = subprocess.run(
        [sys.executable, "-c", _COMPILES], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout)
    # warm_up compiles, and logs it at INFO only (it was asked for)
    assert steps["warm_up"]["compiled"]
    assert {level for level, _ in steps["warm_up"]["logged"]} == {"INFO"}
    # a training step at the warmed-up shape compiles nothing and says nothing
    assert steps["train"] == {"compiled": False, "logged": []}
    # the first unannounced compile of the process is a WARNING that names the way out
    levels = [level for level, _ in steps["new shape"]["logged"]]
    assert levels[0] == "WARNING" and levels.count("WARNING") == 1
    warning = steps["new shape"]["logged"][0][1]
    assert "squareplus forward, float32, shape (512, 256)" in warning
    assert "actlab.torch.warm_up" in warning and "ACTLAB_TORCH_FUSE=0" in warning


def test_fusion_off_from_the_environment_compiles_nothing(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    script = (
        "import torch, actlab.torch as at\n"
        "from actlab.torch import _ops\n"
        "from torch._dynamo.utils import counters\n"
        "at.get('squareplus')(torch.randn(256, 512))\n"
        "print(_ops.FUSE_MIN_NUMEL, sum(counters['stats'].values()) if 'stats' in counters else 0)\n"
    )
    env = {**_env(), "ACTLAB_TORCH_FUSE": "0"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "" and done.stdout.split() == ["-1", "0"], done.stderr
    env["ACTLAB_TORCH_FUSE"] = "no"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "ACTLAB_TORCH_FUSE must be 0 (no fused kernels) or 1" in done.stderr


# --- the console table of actlab bench ------------------------------------------------------


def test_bench_table_has_a_legend_for_every_column(capsys: pytest.CaptureFixture[str]) -> None:
    from actlab.cli import main

    assert main(["bench", "relu", "gelu", "softplus", *SMALL]) == 0
    out = capsys.readouterr().out
    tables, legend = out.split("\ncolumns:\n")
    explained = {line.split(": ", 1)[0].strip() for line in legend.splitlines()}
    for line in tables.splitlines():
        if line.startswith("activation"):
            columns = [c for c in line.split("  ") if c.strip()][1:]
            assert {c.strip() for c in columns} <= explained, (columns, explained)
    assert {"actlab ms", "% copy bw", "/relu", "/textbook", "geomean"} <= explained


def test_bench_bandwidth_share_is_never_rounded_to_zero(capsys: pytest.CaptureFixture[str]) -> None:
    from actlab.cli import main

    assert main(["bench", "gelu", "relu", "--json", "-", *SMALL]) == 0
    result = json.loads(capsys.readouterr().out)
    text = bench.format_tables(result)
    for row in result["rows"]:
        if row["impl"] == "actlab":
            assert f"  {bench.percent_of_bandwidth(row['fraction_of_bandwidth'])}  " in text
    # the report's speed table (the share of NumPy's forward pass) prints it the same way
    from actlab.report import pages

    html = str(pages.speed_section(result, linked=set()))
    for row in result["rows"]:
        if (row["impl"], row["pass"]) == ("actlab", "forward"):
            assert f">{bench.percent_of_bandwidth(row['fraction_of_bandwidth'])}%<" in html
    assert [bench.percent_of_bandwidth(f) for f in (1.7, 0.17, 0.0534, 0.0034, 0.000071, 0.0)] == [
        "170",
        "17",
        "5.3",
        "0.34",
        "<0.01",
        "<0.01",
    ]
