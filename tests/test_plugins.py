"""Plugins: a user's own activation seen by every command and by every worker process.

A plugin is a module name (importable, or ``NAME.py`` in the current folder) or the path of
a Python file, given to ``--plugin`` before or after the command; entry points of the
``actlab.activations`` group load by themselves.  The catalog remembers where each user
entry came from, and ``compare``'s worker processes load the same sources.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

import actlab
from actlab.catalog import registry
from actlab.cli import build_parser, main
from actlab.experiments import runner
from actlab.experiments.store import ResultsStore

SRC = Path(actlab.__file__).resolve().parents[1]

# The README's example plugin, with a derivative that stays finite in both tails
# (σ(t) and 1 - σ(t) = σ(-t) from exp(-|t|), which never overflows).
CUBE_GATE = textwrap.dedent(
    """
    import actlab


    def _sigmoids(t, xp):
        e = xp.exp(-xp.abs(t))
        up, down = 1 / (1 + e), e / (1 + e)
        return xp.where(t >= 0, up, down), xp.where(t >= 0, down, up)


    def _derivative(x, p, xp):
        t = x * x * x
        s, rest = _sigmoids(t, xp)
        return s + 3 * t * s * rest


    actlab.register(actlab.Elementwise(
        name="cube_gate", title="Cube gate", summary="x σ(x³)", year=2026, uses=("an experiment",),
        formula=r"x\\,\\sigma(x^3)", derivative_formula=r"\\sigma(x^3) + 3x^3\\sigma'(x^3)",
        forward=lambda x, p, xp: x / (1 + xp.exp(-x * x * x)),
        derivative=_derivative,
        monotonic=False,
    ))
    """
)


def cube_gate(x: float) -> float:
    return x / (1 + math.exp(-(x**3)))


def plugin_text(name: str, formula: str = "0.5 * x + 0.5 * xp.maximum(x, 0.0)") -> str:
    """A plugin registering one more elementwise activation called ``name``."""
    return textwrap.dedent(
        f"""
        import actlab

        actlab.register(actlab.Elementwise(
            name={name!r}, title={name!r}, summary="a plugin test", formula="f", derivative_formula="f'",
            year=None, uses=("a plugin test",),
            forward=lambda x, p, xp: {formula},
            derivative=lambda x, p, xp: xp.where(x > 0, 1.0, 0.5),
            smoothness=0, kinks=(actlab.Kink(0.0, 0.5, "left derivative"),),
        ))
        """
    )


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A current folder holding ``mymodule.py`` (the cube gate plugin); afterwards the catalog,
    the registry's record of loaded plugins and ``sys.modules`` are as they were."""
    (tmp_path / "mymodule.py").write_text(CUBE_GATE)
    monkeypatch.chdir(tmp_path)
    entries, loaded, modules = set(registry._specs), dict(registry._loaded), set(sys.modules)
    yield tmp_path
    for name in [n for n in registry._specs if n not in entries]:
        actlab.unregister(name)
    registry._loaded.clear()
    registry._loaded.update(loaded)
    for name in set(sys.modules) - modules:
        file = getattr(sys.modules[name], "__file__", None) or ""
        if file.startswith(str(tmp_path)):
            del sys.modules[name]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def python(*argv: str, cwd: Path, pythonpath: str = str(SRC)) -> subprocess.CompletedProcess[str]:
    """``python ARGV`` in a fresh process whose import path, like the ``actlab`` console script's, lacks the
    current folder (``-P``)."""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run(
        [sys.executable, "-P", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def actlab_process(*argv: str, cwd: Path, pythonpath: str = str(SRC)) -> subprocess.CompletedProcess[str]:
    return python("-m", "actlab.cli", *argv, cwd=cwd, pythonpath=pythonpath)


# --- 1. what --plugin accepts, and where ------------------------------------------------------


def test_module_in_the_current_folder_without_pythonpath(tmp_path: Path) -> None:
    (tmp_path / "mymodule.py").write_text(CUBE_GATE)
    importable = python("-c", "import importlib.util; print(importlib.util.find_spec('mymodule'))", cwd=tmp_path)
    assert importable.stdout.strip() == "None"  # the folder is not on the import path
    done = actlab_process("--plugin", "mymodule", "eval", "cube_gate", "0.5", "2", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["f(x)"] == pytest.approx([cube_gate(0.5), cube_gate(2.0)], rel=1e-15)


@pytest.mark.parametrize("form", ["name", "relative", "dot-relative", "absolute"])
@pytest.mark.parametrize("where", ["before", "after"])
def test_module_name_or_file_path_before_or_after_the_command(
    folder: Path, capsys: pytest.CaptureFixture[str], form: str, where: str
) -> None:
    (folder / "plugins").mkdir()
    (folder / "plugins" / "cube.py").write_text(CUBE_GATE)
    target = {
        "name": "mymodule",
        "relative": "plugins/cube.py",
        "dot-relative": "./mymodule.py",
        "absolute": str(folder / "plugins" / "cube.py"),
    }[form]
    plugin = ["--plugin", target]
    argv = (
        [*plugin, "eval", "cube_gate", "-1", "0.5"]
        if where == "before"
        else ["eval", *plugin, "cube_gate", "-1", "0.5"]
    )
    code, out, err = cli(capsys, *argv, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["f(x)"] == pytest.approx([cube_gate(-1.0), cube_gate(0.5)], rel=1e-15)
    expected = folder / ("mymodule.py" if form in ("name", "dot-relative") else "plugins/cube.py")
    assert registry.plugin_sources() == (registry.PluginSource(expected.stem, str(expected)),)


def test_plugins_before_and_after_the_command_combine(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "second.py").write_text(plugin_text("second_plugin_act"))
    code, out, err = cli(capsys, "--plugin", "mymodule", "list", "--plugin", "./second.py", "--json")
    assert (code, err) == (0, "")
    names = [row["name"] for row in json.loads(out)]
    assert {"cube_gate", "second_plugin_act"} <= set(names)
    assert [Path(s.path).name for s in registry.plugin_sources()] == ["mymodule.py", "second.py"]


def test_one_file_named_twice_is_loaded_once(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # by name before the command, by path after it: registering twice would clash
    code, out, err = cli(
        capsys, "--plugin", "mymodule", "eval", "--plugin", str(folder / "mymodule.py"), "cube_gate", "1"
    )
    assert (code, err) == (0, "") and "0.7310585786" in out


def _subcommands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_takes_plugin(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "--plugin PLUGIN" in capsys.readouterr().out


def test_a_file_whose_stem_names_another_module_gets_its_own_module_name(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "json.py").write_text(CUBE_GATE)
    code, _, err = cli(capsys, "--plugin", "json", "list")  # the standard library's json, or this file?
    assert code == 2 and "ambiguous" in err and "./json.py" in err and err.count("\n") == 1
    code, out, err = cli(capsys, "--plugin", "./json.py", "eval", "cube_gate", "1")
    assert (code, err) == (0, "") and "0.7310585786" in out
    source = registry.plugin_sources()[-1]
    assert source.module.startswith("actlab_plugin_json_") and source.path == str(folder / "json.py")
    assert sys.modules["json"] is json  # the standard library's module is untouched


@pytest.mark.parametrize(
    ("files", "target", "fragments"),
    [
        ({"broken.py": "import actlab\nx = (\n"}, "broken", ["plugin 'broken'", "SyntaxError", "line 2"]),
        ({"boom.py": "raise RuntimeError('no GPU here')\n"}, "./boom.py", ["'./boom.py'", "RuntimeError: no GPU here"]),
        (
            {"needs.py": "import no_such_dependency_q\n"},
            "needs",
            ["plugin 'needs'", "ModuleNotFoundError: No module named 'no_such_dependency_q'"],
        ),
        ({}, "no_such_plugin_q", ["plugin 'no_such_plugin_q'", "No module named", "no_such_plugin_q.py"]),
        ({}, "./missing.py", ["plugin './missing.py'", "no such file"]),
        ({"adir/x.py": ""}, "./adir", ["plugin './adir'", "folder"]),
        ({"clash.py": plugin_text("relu")}, "clash", ["plugin 'clash'", "RegistrationError", "already taken"]),
    ],
)
@pytest.mark.parametrize("where", ["before", "after"])
def test_a_plugin_that_fails_is_one_line_exit_2(
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    target: str,
    fragments: list[str],
    where: str,
) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(text)
    argv = ["--plugin", target, "list"] if where == "before" else ["list", "--plugin", target]
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert all(f in err for f in fragments), err
    if target == "needs":
        assert "nor is there" not in err  # the plugin was found: what it imports is missing


# --- 2. where each entry came from, and the workers ----------------------------------------


def test_sources_are_remembered_and_pickle(folder: Path) -> None:
    source = actlab.load_plugin("mymodule")
    assert source == registry.PluginSource("mymodule", str(folder / "mymodule.py"))
    assert registry.plugin_sources() == (source,)
    assert pickle.loads(pickle.dumps(registry.plugin_sources())) == (source,)
    assert actlab.load_plugin("./mymodule.py") == source  # the same file: nothing loads twice
    assert registry.unshippable(["cube_gate", "relu"]) == []
    actlab.unregister("cube_gate")
    assert registry.plugin_sources() == ()  # it registers nothing any more


def test_a_module_imported_normally_is_a_source(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(folder))
    __import__("mymodule")
    assert registry.plugin_sources() == (registry.PluginSource("mymodule", str(folder / "mymodule.py")),)
    assert registry.unshippable() == []


def test_an_entry_registered_here_has_no_source(folder: Path) -> None:
    actlab.register(
        actlab.Elementwise(
            name="here_only",
            title="Here only",
            summary="registered by a function",
            formula="x",
            derivative_formula="1",
            year=None,
            uses=("a plugin test",),
            forward=lambda x, p, xp: x + 0.0,
            derivative=lambda x, p, xp: 1.0 + 0.0 * x,
        )
    )
    actlab.register(
        actlab.Gated(
            name="here_glu",
            title="Here GLU",
            summary="gated by here_only",
            formula="a g(b)",
            derivative_formula="g(b), a g'(b)",
            year=None,
            uses=("a plugin test",),
            params=(actlab.Param("dim", -1, "the axis split in halves", integer=True),),
            gate="here_only",
        )
    )
    assert registry.unshippable(["relu", "here_glu"]) == ["here_glu", "here_only"]
    assert registry.plugin_sources() == ()


def test_compare_with_workers_refuses_an_entry_registered_here(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exec(compile(CUBE_GATE, "<notebook cell>", "exec"), {"__name__": "__main__"})  # as a notebook would
    db = folder / "runs.sqlite"
    argv = ["compare", "--activations", "cube_gate,relu", "--epochs", "1", "--seeds", "1", "--db", str(db)]
    code, out, err = cli(capsys, *argv, "--workers", "2")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert all(f in err for f in ("'cube_gate'", "module", "--plugin", "--workers 1")), err
    with ResultsStore(db) as store:
        assert store.finished() == set()  # refused before any work


def test_a_worker_that_cannot_load_a_plugin_says_so(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "_worker_error", None)
    missing = registry.PluginSource("gone_plugin_q", str(folder / "gone_plugin_q.py"))
    runner._start_worker((missing,))
    with pytest.raises(actlab.PluginError, match=r"worker process could not load the plugins.*gone_plugin_q"):
        runner._run_in_worker(runner.RunConfig("moons", "mlp", "relu", 0, epochs=1))


def test_a_forkserver_worker_loads_a_plugin_module_of_a_package(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the pool of compare, with a cheap task: the worker's catalog and record of sources are the driver's
    context = multiprocessing.get_context("forkserver")
    (folder / "lib" / "plugpkg").mkdir(parents=True)
    (folder / "lib" / "plugpkg" / "__init__.py").write_text("")
    (folder / "lib" / "plugpkg" / "cube.py").write_text(CUBE_GATE)
    monkeypatch.syspath_prepend(str(folder / "lib"))
    assert actlab.load_plugin("plugpkg.cube") == registry.PluginSource("plugpkg.cube")  # found by the import path
    start = (registry.plugin_sources(),)
    with ProcessPoolExecutor(1, mp_context=context, initializer=runner._start_worker, initargs=start) as pool:
        names = pool.submit(registry.names).result(timeout=120)
        sources = pool.submit(registry.plugin_sources).result(timeout=120)
    assert names == registry.names() and "cube_gate" in names
    assert sources == (registry.PluginSource("plugpkg.cube"),)


def test_compare_workers_see_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "mymodule.py").write_text(CUBE_GATE)
    done = actlab_process(
        "--plugin",
        "mymodule",
        "compare",
        *("--dataset", "moons", "--epochs", "1", "--seeds", "1", "--width", "16", "--depth", "1"),
        *("--activations", "cube_gate,relu", "--workers", "2", "--db", "runs.sqlite", "--json"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ran"] == 2
    assert [row["activation"] for row in result["rows"]] == ["cube_gate", "relu"]  # the baseline first
    assert all(row["runs"] == 1 and 0 <= row["mean"] <= 1 for row in result["rows"]) and result["metric"] == "accuracy"


# --- 3. entry points -----------------------------------------------------------------------


def test_entry_points_module_and_callable(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "actlab_demo_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: actlab-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[actlab.activations]\ncube = demo_cube_module\nhalf = demo_half_module:specs\n"
    )
    (site / "demo_cube_module.py").write_text(CUBE_GATE)  # registers on import
    half = plugin_text("half_relu_ep").replace("actlab.register(", "SPEC = (")
    (site / "demo_half_module.py").write_text(half + "\n\ndef specs():\n    return [SPEC]\n")  # returns specs
    path = os.pathsep.join([str(site), str(SRC)])
    done = actlab_process("eval", "half_relu_ep", "-2", "2", "--json", cwd=tmp_path, pythonpath=path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["f(x)"] == [-1.0, 2.0]
    done = actlab_process("eval", "cube_gate", "0.5", "--json", cwd=tmp_path, pythonpath=path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["f(x)"] == pytest.approx([cube_gate(0.5)], rel=1e-15)
    probe = (
        "import actlab; from actlab.catalog import registry; actlab.names(); print(*registry.plugin_sources(), sep=';')"
    )
    shown = python("-c", probe, cwd=tmp_path, pythonpath=path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().split(";") == [
        "entry point cube = demo_cube_module",
        "entry point half = demo_half_module:specs",
    ]
