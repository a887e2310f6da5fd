"""The `actlab` command, in-process and as the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import actlab
from actlab.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    for name in actlab.names():
        assert f"\n{name} " in out
    code, out, _ = run(capsys, "list", "--json")
    data = json.loads(out)
    assert [d["name"] for d in data] == actlab.names()
    assert run(capsys, "list", "--kind", "gated")[1].count("gated") >= 5


def test_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "GELU")
    assert code == 0
    for piece in ("x\\,\\Phi(x)", "Hendrycks", "monotonic: no", "f'(x)", "0.8413447461"):
        assert piece in out
    code, out, _ = run(capsys, "show", "softmax", "--json")
    d = json.loads(out)
    assert d["kind"] == "axis" and len(d["values"]["jacobian"]) == 4
    code, out, _ = run(capsys, "show", "leaky_relu", "-p", "negative_slope=0.2", "--json")
    assert json.loads(out)["values"]["df"][0] == 0.2


def test_eval(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "eval", "relu", "-1e3", "-inf", "nan", "2", "--json")
    d = json.loads(out)
    assert code == 0 and d["f(x)"] == [0.0, 0.0, "nan", 2.0]
    code, out, _ = run(capsys, "eval", "sigmoid", "0", "--derivative")
    assert "0.25" in out
    code, out, _ = run(capsys, "eval", "softmax", "2", "1", "0.1", "--json")
    assert round(json.loads(out)["f(x)"][0], 4) == 0.659
    code, out, _ = run(capsys, "eval", "glu", "1", "2", "3", "4", "-d", "--json")
    assert len(json.loads(out)["jacobian"]) == 2
    code, out, _ = run(capsys, "eval", "silu", "-95", "--dtype", "float32", "--json")
    assert json.loads(out)["f(x)"][0] != 0.0


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["show", "gelo"], "did you mean 'gelu'"),
        (["eval", "elu", "1", "-p", "alpha=-2"], "[0, inf)"),
        (["eval", "elu", "abc"], "cannot read 'abc'"),
        (["eval", "elu", "1", "-p", "alpha"], "NAME=VALUE"),
        (["eval", "elu", "1", "-p", "beta=1"], "no parameter 'beta'"),
        (["eval", "glu", "1", "2", "3"], "odd"),
        (["eval", "relu", "1", "--dtype", "int8"], "invalid choice"),
        (["eval"], "required"),
        (["frobnicate"], "invalid choice"),
        (["list", "--bogus"], "unrecognized"),
        (["show", "softmax", "-p", "temperature=0"], "(0, inf)"),
        (["--plugin", "no_such_module_x", "list"], "cannot import plugin"),
    ],
)
def test_bad_input_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err


@pytest.mark.parametrize("command", [[], ["list"], ["show"], ["eval"], ["accuracy"]])
def test_help(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    assert "usage: actlab" in capsys.readouterr().out


def test_accuracy_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "accuracy", "relu", "hardtanh", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 8 and all(r["passed"] for r in rows)


def test_plugin_module_registers_an_activation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my_acts.py").write_text(
        textwrap.dedent(
            """
            import actlab

            actlab.register(actlab.Elementwise(
                name="halfway",
                title="Halfway",
                summary="x/2 + relu(x)/2",
                formula="x/2 + max(0, x)/2",
                derivative_formula="1/2 + [x > 0]/2",
                year=None,
                uses=("a plugin test",),
                forward=lambda x, p, xp: 0.5 * x + 0.5 * xp.maximum(x, 0.0),
                derivative=lambda x, p, xp: xp.where(x > 0, 1.0, 0.5),
                smoothness=0,
                kinks=(actlab.Kink(0.0, 0.5, "left derivative"),),
            ), replace=True)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        code, out, _ = run(capsys, "--plugin", "my_acts", "eval", "halfway", "-2", "2")
        assert code == 0 and "-1.0" in out and "2.0" in out
    finally:
        actlab.unregister("halfway")


def test_console_script_exit_codes() -> None:
    exe = shutil.which("actlab") or str(Path(sys.executable).with_name("actlab"))
    ok = subprocess.run([exe, "show", "gelu"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "GELU" in ok.stdout
    bad = subprocess.run([exe, "eval", "gelo", "1"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.count("\n") == 1
    assert "Traceback" not in bad.stderr
