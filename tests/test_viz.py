"""`actlab plot`: figures of f and f', written atomically in PNG, SVG or PDF."""

from __future__ import annotations

from pathlib import Path

import pytest

from actlab.cli import main

pytest.importorskip("matplotlib")

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".svg": b"<?xml", ".pdf": b"%PDF"}


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_formats(tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"cmp{suffix}"
    assert main(["plot", "gelu", "swish", "mish", "--derivative", "--range", "-4", "4", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(MAGIC[suffix])
    assert str(out) in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p != out]  # no temporary left behind


def test_small_multiples_with_parameters(tmp_path: Path) -> None:
    out = tmp_path / "family.png"
    assert (
        main(["plot", "relu", "leaky_relu", "elu", "celu", "selu", "--grid", "-d", "-p", "alpha=0.5", "-o", str(out)])
        == 0
    )
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["plot", "softmax", "-o", "x.png"], "elementwise"),
        (["plot", "relu", "-o", "x.jpg"], ".png"),
        (["plot", "relu", "-o", "x.png", "--range", "3", "1"], "low < high"),
        (["plot", "relu", "-o", "x.png", "-p", "alpha=2"], "has a parameter"),
        (["plot", "gelo", "-o", "x.png"], "did you mean"),
        (["plot", "relu"], "required"),
    ],
)
def test_bad_input(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = [str(tmp_path / a) if a.startswith("x.") else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
