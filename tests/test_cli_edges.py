"""The edges of the commands: where output may go (one rule, checked before any work), how every file is
written (atomically, with the umask's mode), what a failed write or Ctrl-C prints (one line, no traceback)."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from actlab import _io
from actlab.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY_COMPARE = ["compare", "--dataset", "moons", "--seeds", "1", "--epochs", "1", "--width", "8", "--depth", "1"]
TINY_BENCH = ["bench", "relu", "--backend", "numpy", "--size", "1024", "--repeats", "1"]
UNWRITABLE = Path("/sys")  # refuses new files even to root, where a folder's mode would not
needs_sys = pytest.mark.skipif(not UNWRITABLE.is_dir(), reason="needs Linux /sys")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals, process groups and terminals of POSIX")


def _one_line(err: str) -> str:
    """The message at the end of stderr, after any progress shown before it: exactly one line, no traceback."""
    assert "Traceback" not in err
    shown = err[err.rindex("actlab:") :]  # a bar drawn with \r may precede it on the terminal's line
    assert shown.count("\n") == 1 and shown.endswith("\n"), err
    return shown.strip()


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "PYTHONDONTWRITEBYTECODE": "1", **extra}


def _actlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "actlab.cli", *args]


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process's umask for one test, and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


# --- one rule for missing folders, checked before any work ------------------------------------


@pytest.mark.parametrize(
    ("argv", "option", "output"),
    [
        (["plot", "relu", "-o", "{tmp}/missing/dir/x.png"], "-o", "missing/dir/x.png"),
        ([*TINY_BENCH, "--json", "{tmp}/missing/x.json"], "--json", "missing/x.json"),
        ([*TINY_COMPARE, "--db", "{tmp}/missing/dir/r.sqlite"], "--db", "missing/dir/r.sqlite"),
        ([*TINY_COMPARE, "--db", "{tmp}/r.sqlite", "--figures", "{tmp}/missing/figs"], "--figures", "missing/figs"),
        (["report", "-o", "{tmp}/missing/dir/report", "--db", "{tmp}/r.sqlite"], "-o", "missing/dir/report"),
        (["report", "-o", "{tmp}/report", "--db", "{tmp}/missing/r.sqlite"], "--db", "missing/r.sqlite"),
    ],
)
def test_a_missing_folder_is_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], option: str, output: str
) -> None:
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    out, err = capsys.readouterr()
    line = _one_line(err)
    folder = str(Path(tmp_path / output).parent)
    assert f"folder '{folder}' does not exist (for {option} {tmp_path / output})" in line
    assert "create it first" in line
    assert out == ""  # nothing measured, trained or drawn
    assert list(tmp_path.iterdir()) == []  # no folder made, no results file begun


def test_the_readme_states_the_rule_as_the_command_prints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("Output goes where you say", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    command, printed = block.strip().splitlines()
    monkeypatch.chdir(tmp_path)
    assert main(command.removeprefix("$ actlab ").split()) == 2
    assert capsys.readouterr().err.strip() == printed
    assert list(tmp_path.iterdir()) == []


def test_an_output_folder_is_created_when_its_parent_exists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    figures = tmp_path / "figs"
    assert main([*TINY_COMPARE, "--db", str(tmp_path / "r.sqlite"), "--figures", str(figures)]) == 0
    assert sorted(p.name for p in figures.iterdir()) == [
        "differences.png",
        "learning_curves.png",
        "metric_vs_seconds.png",
    ]
    assert {p.name for p in tmp_path.iterdir() if p.is_dir()} == {"figs"}


def test_a_folder_where_a_file_is_expected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "taken.png"
    folder.mkdir()
    for argv, option in (
        (["plot", "relu", "-o", str(folder)], "-o"),
        ([*TINY_BENCH, "--json", str(folder)], "--json"),
        ([*TINY_COMPARE, "--db", str(folder)], "--db"),
    ):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert f"{folder} is a folder, not a file (for {option} {folder})" in _one_line(err) and out == ""
    assert list(folder.iterdir()) == []
    file = tmp_path / "a-file"
    file.write_text("keep me")
    assert main(["report", "-o", str(file), "--db", str(tmp_path / "r.sqlite")]) == 2
    assert "exists and is not a folder" in _one_line(capsys.readouterr().err)
    assert file.read_text() == "keep me"


@needs_sys
@pytest.mark.parametrize(
    "argv",
    [
        ["report", "-o", "/sys/actlab-report"],
        ["plot", "relu", "-o", "/sys/x.png"],
        [*TINY_BENCH, "--json", "/sys/x.json"],
        [*TINY_COMPARE, "--db", "/sys/r.sqlite"],
        [*TINY_COMPARE, "--db", "{tmp}/r.sqlite", "--figures", "/sys/actlab-figures"],
    ],
)
def test_a_folder_that_refuses_files_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    out, err = capsys.readouterr()
    line = _one_line(err)
    assert "cannot write in folder '/sys'" in line and ("Permission denied" in line or "not permitted" in line)
    assert out == "" and list(tmp_path.iterdir()) == []


def test_a_write_that_fails_at_the_end_is_one_line(tmp_path: Path) -> None:
    """A real failed write (a file size limit: the same EFBIG/ENOSPC path as a full disk), in a real process:
    the check passes, the write fails, one line names the file and the reason, nothing is left behind."""

    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    out = tmp_path / "x.png"
    proc = subprocess.run(
        _actlab("plot", "gelu", "silu", "-d", "-o", str(out)),
        capture_output=True,
        text=True,
        env=_env(),
        preexec_fn=limit,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert _one_line(proc.stderr) == f"actlab: error: cannot write {out}: File too large"
    assert list(tmp_path.iterdir()) == []


# --- files: atomic, with the umask's mode -----------------------------------------------------


def test_every_written_file_follows_the_umask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], umask: Callable[[int], None]
) -> None:
    for mask in (0o027, 0o002):
        umask(mask)
        folder = tmp_path / f"umask-{mask:03o}"
        folder.mkdir()
        assert main(["plot", "relu", "-o", str(folder / "relu.svg")]) == 0
        assert main([*TINY_BENCH, "--json", str(folder / "bench.json")]) == 0
        assert main([*TINY_COMPARE, "--db", str(folder / "r.sqlite"), "--figures", str(folder / "figs")]) == 0
        capsys.readouterr()
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert {p.name for p in files} >= {
            "relu.svg",
            "bench.json",
            "r.sqlite",
            "differences.png",
            "learning_curves.png",
        }
        for p in files:
            assert oct(p.stat().st_mode & 0o777) == oct(0o666 & ~mask), p
        assert oct((folder / "figs").stat().st_mode & 0o777) == oct(0o777 & ~mask)
        assert not [p for p in folder.rglob(".actlab-*")]  # no temporary or probe file left


def test_the_writer_replaces_whole_or_not_at_all(tmp_path: Path, umask: Callable[[int], None]) -> None:
    umask(0o077)
    target = tmp_path / "notes.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), _io.replacing(target) as fh:
        fh.write(b"half of the new")
        raise RuntimeError("the writer failed midway")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    _io.write_text(link, "new")  # a link is followed: the file it points to is replaced
    assert link.is_symlink() and target.read_text() == "new"
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)


def test_results_are_kept_elsewhere_when_their_file_fails_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: Callable[[int], None]
) -> None:
    """The folder passes the check before a long run and is gone when the run ends."""
    umask(0o022)
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    gone = tmp_path / "gone"
    gone.mkdir()
    _io.check_file(gone / "x.json", "--json")
    gone.rmdir()
    with pytest.raises(_io.OutputError) as info:
        _io.write_text_or_elsewhere(gone / "x.json", '{"rows": []}\n', "actlab-bench", "the results")
    message = str(info.value)
    saved = next(here.iterdir())
    reason = "No such file or directory"
    assert message == f"cannot write {gone / 'x.json'}: {reason}; the results are saved in {saved} instead"
    assert saved.name.startswith("actlab-bench-") and saved.suffix == ".json"
    assert saved.read_text() == '{"rows": []}\n' and oct(saved.stat().st_mode & 0o777) == oct(0o644)


class _OnATerminal:
    """A real process whose stderr is a pseudo-terminal (so that progress is drawn as a user sees it)."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        import pty

        self.leader, follower = pty.openpty()
        # a new pty is 0 × 0, and a progress bar draws nothing in no columns: give it a terminal's size
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=follower, env=_env(), text=True)
        os.close(follower)
        self.seen = b""

    def _read(self, wait: float) -> bool:
        if not select.select([self.leader], [], [], wait)[0]:
            return False
        try:
            chunk = os.read(self.leader, 4096)
        except OSError:  # the process has closed its end
            return False
        self.seen += chunk
        return bool(chunk)

    def wait_for_output(self, seconds: float = 120) -> None:
        """Return once the process has written something to the terminal."""
        deadline = time.time() + seconds
        while not self.seen and time.time() < deadline:
            self._read(0.1)
        assert self.seen, f"nothing written to the terminal in {seconds} s"

    def finish(self) -> tuple[str, str]:
        """Wait for the process to end; its stdout and everything written to the terminal."""
        out, _ = self.proc.communicate(timeout=120)
        while self._read(0.2):
            pass
        os.close(self.leader)
        return out, self.seen.decode(errors="replace").replace("\r\n", "\n")


def test_bench_keeps_its_results_when_the_json_cannot_be_written_at_the_end(tmp_path: Path) -> None:
    """A real run whose --json folder vanishes while it measures: the tables are printed, the JSON is saved in
    the current folder instead, and one line says where (exit 2)."""
    target = tmp_path / "out" / "bench.json"
    target.parent.mkdir()
    argv = _actlab("bench", "relu", "--backend", "numpy", "--size", "65536", "--repeats", "40", "--json", str(target))
    run = _OnATerminal(argv, tmp_path)
    run.wait_for_output()  # its progress: measuring, so past the check of --json
    target.parent.rmdir()
    out, err = run.finish()
    assert run.proc.returncode == 2 and "numpy" in out
    saved = [p for p in tmp_path.iterdir() if p.name.startswith("actlab-bench-")]
    assert len(saved) == 1 and json.loads(saved[0].read_text())["schema"] == "actlab.bench/2"
    last = err.strip().split("\r")[-1].splitlines()[-1]
    assert last == (
        f"actlab: error: cannot write {target}: No such file or directory; the results are saved in {saved[0]} instead"
    )
    assert "Traceback" not in err


# --- Ctrl-C: one line, what is kept, exit 130 ---------------------------------------------------


def _interrupt_group(proc: subprocess.Popen) -> None:
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group (driver and workers)."""
    os.killpg(proc.pid, signal.SIGINT)


def _running_in_group(pgid: int) -> list[int]:
    """The processes of a process group that still run (zombies awaiting their reaper do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():  # no /proc: whether the group has any member at all
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    running = []
    for entry in proc.iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            running.append(int(entry.name))
    return running


def _gone(pgid: int, seconds: float = 30) -> bool:
    deadline = time.time() + seconds
    while _running_in_group(pgid):
        if time.time() > deadline:
            return False
        time.sleep(0.1)
    return True


def _runs(db: Path) -> int:
    try:
        with sqlite3.connect(db) as c:
            return c.execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_ctrl_c_during_compare_keeps_the_finished_runs_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.sqlite"
    args = ["compare", "--activations", "relu,tanh,gelu", "--seeds", "2", "--epochs", "15", "--width", "16"]
    args += ["--depth", "2", "--workers", "2", "--db", str(db)]
    proc = subprocess.Popen(
        _actlab(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), text=True, start_new_session=True
    )
    deadline = time.time() + 180
    while _runs(db) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    _interrupt_group(proc)
    _, err = proc.communicate(timeout=120)
    kept = _runs(db)
    assert proc.returncode == 130, err
    assert 1 <= kept < 6
    runs = "1 finished run is" if kept == 1 else f"{kept} finished runs are"
    assert _one_line(err) == f"actlab: interrupted: {runs} kept in {db}; the same command resumes"
    assert _gone(proc.pid)  # no worker left behind
    assert main([*args, "--workers", "1", "--json"]) == 0  # the same command resumes
    assert json.loads(capsys.readouterr().out)["ran"] == 6 - kept


def test_ctrl_c_while_the_workers_start_is_one_line(tmp_path: Path) -> None:
    """Ctrl-C in the first seconds, while the fork server imports torch for the workers: no traceback from it
    or from a worker it would fork afterwards, and nothing left running."""
    db = tmp_path / "r.sqlite"
    args = ["compare", "--activations", "relu,tanh", "--seeds", "2", "--epochs", "5", "--width", "8"]
    proc = subprocess.Popen(
        _actlab(*args, "--workers", "2", "--db", str(db)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while not db.exists() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # the sweep has begun: the fork server is starting
    _interrupt_group(proc)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert _one_line(err).startswith("actlab: interrupted")
    assert _gone(proc.pid)


def test_ctrl_c_during_report_leaves_no_half_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    bench = tmp_path / "bench.json"
    assert main([*TINY_BENCH, "--json", str(bench)]) == 0
    proc = subprocess.Popen(
        _actlab("report", "-o", str(out), "--bench", str(bench), "--db", str(tmp_path / "r.sqlite")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 180
    while not list(tmp_path.glob(".report.building-*/activations/*.html")) and time.time() < deadline:
        time.sleep(0.05)  # pages are being written: the build is under way
    _interrupt_group(proc)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert _one_line(err) == (
        f"actlab: interrupted: the report is not written (nothing written to {out}); the same command starts it again"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json"]  # no build folder, no report, no store


def test_table_says_it_measures_before_it_starts_and_ctrl_c_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        _actlab("table"), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), text=True
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("actlab: no actlab-bench.json here: measuring speed now (about a minute")
    assert "saved to actlab-bench.json for next time; --bench FILE reads a saved one" in first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and out == ""
    assert _one_line(err) == "actlab: interrupted"
    assert list(tmp_path.iterdir()) == []


@needs_sys
def test_table_in_a_folder_that_refuses_files_measures_without_saving() -> None:
    proc = subprocess.Popen(
        _actlab("table"), cwd=UNWRITABLE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), text=True
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert "measuring speed now" in first
    assert "cannot save it: cannot write in folder '/sys'" in first


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_under_the_standard_output_is_one_line() -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            _actlab("list", "--json"), stdout=full, stderr=subprocess.PIPE, text=True, env=_env(), timeout=120
        )
    assert proc.returncode == 2
    assert proc.stderr == "actlab: error: cannot write the output: No space left on device\n"


def test_the_report_resumes_its_own_interrupted_comparison(tmp_path: Path) -> None:
    """What "the same command resumes" means for the report: a store that holds part of the report's quick
    comparison (and nothing else) is completed; a store with a comparison of the user's is only shown."""
    from actlab import report
    from actlab.experiments import ResultsStore, configs, sweep
    from actlab.experiments.api import prepare

    settings = report.Settings.small()
    e = dict(settings.experiment)
    todo = prepare(e.pop("model"), e.pop("dataset"), e.pop("activations"), **e).todo
    assert len(todo) == 4
    partial = tmp_path / "partial.sqlite"
    with ResultsStore(partial) as store:
        sweep(todo[:1], store, workers=1)
    groups, note = report._experiments(partial, settings, report.Progress(1, enabled=False))
    with ResultsStore(partial) as store:
        assert store.finished() == {c.key() for c in todo}
    assert "the report trained its default one now (3 runs in " in note
    assert [[r["runs"] for r in g.rows()] for g in groups] == [[2, 2]]
    others = tmp_path / "others.sqlite"
    with ResultsStore(others) as store:
        sweep(configs("moons", "mlp", ["relu"], 1, epochs=1, depth=1, width=8), store, workers=1)
    groups, note = report._experiments(others, settings, report.Progress(1, enabled=False))
    with ResultsStore(others) as store:
        assert len(store.finished()) == 1
    assert [g.activations for g in groups] == [["relu"]]
    assert note.startswith("Every comparison in the results store")


def test_the_report_follows_the_umask(tmp_path: Path, umask: Callable[[int], None]) -> None:
    """Pages, figures, the marker and the folders of a report: what open() and mkdir() give under the umask."""
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    from actlab import report

    from .test_report import fake_bench

    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(fake_bench(["relu"])))
    umask(0o027)
    out = tmp_path / "report"
    report.build(
        out, bench=bench, results=tmp_path / "r.sqlite", settings=report.Settings.small(names=("relu",)), progress=False
    )
    files = [p for p in out.rglob("*") if p.is_file()]
    folders = [out, *(p for p in out.rglob("*") if p.is_dir())]
    assert len(files) > 10 and len(folders) >= 3
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o640)}
    assert {oct(p.stat().st_mode & 0o777) for p in folders} == {oct(0o750)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("accuracy", "relu", "--backend", "jax", "--quick"), "--backend jax needs JAX: pip install 'actlab[jax]'"),
        (
            ("bench", "relu", "--backend", "jax", "--size", "1024", "--repeats", "3"),
            "cannot measure the jax backend: actlab.jax needs JAX: pip install 'actlab[jax]'",
        ),
    ],
)
def test_the_jax_backend_without_jax_is_one_line_saying_what_to_install(args: tuple[str, ...], message: str) -> None:
    code = "import sys; sys.modules['jax'] = None\nfrom actlab.cli import main\nsys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=_env(), timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert _one_line(out.stderr) == f"actlab: error: {message}"
