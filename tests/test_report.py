"""`actlab table` and `actlab report`: computed table formats, escaping, atomic replacement, CLI errors.

The report is built once per session with small settings (:func:`small_report`); the browser
tests in test_browser.py open the same one.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from pathlib import Path

import pytest

import actlab
from actlab import table
from actlab.cli import main

pytest.importorskip("matplotlib")
pytest.importorskip("torch")

from actlab import report
from actlab.report.html import esc, external, tag

PAGES = ("relu", "sigmoid", "tanh", "gelu", "silu", "selu", "softmax", "swiglu", "maxout")
"""The activations the session's report gives pages: every kind is there."""
EVIL = "evil_gate"
FORMULA = "x*erf(x) + 0.1*x"
PAYLOAD = "<script>alert('{}')</script>"


def evil_spec() -> actlab.Elementwise:
    """An activation whose every text field a user controls tries to run script in the report."""
    return actlab.Elementwise(
        name=EVIL,
        title=PAYLOAD.format("title"),
        summary='<img src=x onerror="alert(1)">',
        year=2026,
        uses=("<b>bold</b>", PAYLOAD.format("uses")),
        aliases=("<script>alias</script>",),
        notes=("<iframe src=javascript:alert(5)></iframe>",),
        formula=PAYLOAD.format("formula"),
        derivative_formula="</pre>" + PAYLOAD.format("derivative"),
        params=(actlab.Param("a", 1.0, PAYLOAD.format("param doc")),),
        paper=actlab.Paper(PAYLOAD.format("paper"), "A & B", 2026, "javascript:alert(7)"),
        forward=lambda x, p, xp: p.a * x,
        derivative=lambda x, p, xp: p.a + 0 * x,
    )


def fake_bench(names: list[str], backends: tuple[str, ...] = ("numpy", "torch")) -> dict:
    """A result in the ``actlab.bench/2`` schema with made-up times: the i-th name takes i + 2 times relu's."""
    rows = []
    for i, name in enumerate(names):
        for backend, impl in ((b, bench_impl(b)) for b in backends):
            for pass_ in ("forward", "derivative", "forward_backward"):
                t = 1e-3 * (1 if name == "relu" else i + 2)
                rows.append(
                    {
                        "name": name,
                        "backend": backend,
                        "impl": impl,
                        "pass": pass_,
                        "median_s": t,
                        "min_s": t,
                        "max_s": t,
                        "elements_per_s": 1e6 / t,
                        "gbs": 8e-3 / t,
                        "fraction_of_bandwidth": 0.5,
                    }
                )
    return {
        "schema": "actlab.bench/2",
        "created": "2026-01-01T00:00:00",
        "machine": {"cpu": "<b>test cpu</b>", "cores": 2},
        "config": {
            "dtype": "float32",
            "size": 1024,
            "threads": 1,
            "repeats": 1,
            "backends": list(backends),
            "names": names,
            **({"clock_jax": "perf_counter"} if "jax" in backends else {}),
        },
        "bandwidth": {"gbs": 10.0, "gbs_end": 10.0, "median_s": 1e-3},
        "busy": False,
        "busy_reason": None,
        "rows": rows,
    }


def bench_impl(backend: str) -> str:
    from actlab.bench import OWN_IMPL

    return OWN_IMPL[backend]


def tiny_search(db: Path) -> None:
    """A real search in seconds (two formulas trained for an epoch on moons), its best re-evaluated."""
    from actlab.experiments import ResultsStore
    from actlab.search import Proxy, Settings, reevaluate, run_search

    proxy = Proxy(dataset="moons", model="mlp", epochs=1, depth=1, width=8)
    with ResultsStore(db) as store:
        outcome = run_search(Settings(space="small", strategy="random", seed=1, batch=2, proxy=proxy), 2, store)
        reevaluate(outcome, store, finalists=1, seeds=2)


@functools.cache
def small_report(base: Path) -> Path:
    """The session's report: tiny benchmark, one-epoch experiment, a page per kind and the hostile entry."""
    out = base / "report-session" / "actlab-report"
    out.parent.mkdir(parents=True)
    names = [*PAGES, EVIL, FORMULA]
    bench = out.parent / "bench.json"
    bench.write_text(json.dumps(fake_bench(names)))
    search = out.parent / "search.sqlite"
    tiny_search(search)
    actlab.register(evil_spec())
    try:
        report.build(
            out,
            bench=bench,
            results=out.parent / "results.sqlite",
            search=search,
            settings=report.Settings.small(names=tuple(names)),
            progress=False,
        )
    finally:
        actlab.unregister(EVIL)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_report(tmp_path_factory.getbasetemp())


# --- the table -----------------------------------------------------------------------------


def test_table_rows_are_computed() -> None:
    rows = {r["name"]: r for r in table.rows(fake_bench(["relu", "sigmoid", "gelu"]), ["relu", "sigmoid", "gelu"])}
    assert rows["relu"]["range"] == "[0, ∞)" and rows["relu"]["minimum"] == "0 at x = 0"
    assert "dead zone" in rows["relu"]["gradient"] and "kink at x = 0" in rows["relu"]["gradient"]
    assert rows["sigmoid"]["range"] == "(0, 1)" and "vanishing: f′ ≤ 0.25" in rows["sigmoid"]["gradient"]
    assert rows["gelu"]["minimum"].startswith("−0.169971 at x = −0.75179")
    assert "smooth" in rows["gelu"]["gradient"] and "dead zone" not in rows["gelu"]["gradient"]
    assert rows["relu"]["speed_numpy"] == 1.0 and rows["gelu"]["speed_torch"] == pytest.approx(4.0)
    assert rows["gelu"]["uses"] == "; ".join(actlab.spec("gelu").uses)


def test_table_formats() -> None:
    rows = table.rows(fake_bench(["relu", "softmax"]), ["relu", "softmax"])
    md = table.to_markdown(rows).splitlines()
    assert md[0].startswith("| activation | kind | range") and md[1].count("---:") == 2 and len(md) == 4
    assert "| 1.00× |" in md[2]
    parsed = list(csv.DictReader(io.StringIO(table.to_csv(rows))))
    assert [r["name"] for r in parsed] == ["relu", "softmax"] and float(parsed[1]["speed_numpy"]) == pytest.approx(3.0)
    data = json.loads(table.to_json(rows))
    assert data[1]["kind"] == "axis" and data[1]["range"] == "(0, 1)"


def test_speed_tables_gain_a_jax_column_from_a_jax_benchmark() -> None:
    """The report's speed table, catalog table and activation pages show JAX's ratios where the benchmark holds a
    JAX run, and are unchanged where it does not."""
    from actlab.report import pages

    names = ["relu", "gelu"]
    plain, with_jax = fake_bench(names), fake_bench(names, backends=("numpy", "torch", "jax"))
    speed = str(pages.speed_section(plain, linked=set()))
    assert "PyTorch forward + backward" in speed and "JAX" not in speed
    speed = str(pages.speed_section(with_jax, linked=set()))
    assert "PyTorch forward + backward</th><th>JAX forward</th><th>JAX forward + backward" in speed.replace(
        ' class="num"', ""
    )
    assert speed.count("3.00×") == 6 and "JAX: perf_counter" in speed  # gelu: 3 × ReLU's in every backend and pass
    assert "time / ReLU (JAX)" not in str(pages.catalog_table(table.rows(plain, names)))
    assert "time / ReLU (JAX)" in str(pages.catalog_table(table.rows(with_jax, names)))
    for bench, text in (
        (plain, "NumPy 3.00×, PyTorch 3.00× (forward"),
        (with_jax, "PyTorch 3.00×, JAX 3.00× (forward"),
    ):
        speeds = {b: table.speed_ratios(bench, b).get("gelu") for b in table.measured_backends(bench)}
        assert text in pages.activation_page(actlab.spec("gelu"), figure_file=None, speeds=speeds, linked=set())


def test_table_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = tmp_path / "b.json"
    names = [s.name for s in actlab.catalog.registry.specs()]
    bench.write_text(json.dumps(fake_bench(names)))
    for fmt in (["--format", "json"], ["--json"]):
        assert main(["table", "--bench", str(bench), *fmt]) == 0
        data = json.loads(capsys.readouterr().out)
        assert [r["name"] for r in data] == names and all(r["speed_numpy"] for r in data)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["table", "--bench", "no-such-file.json"], "no-such-file.json"),
        (["table", "--format", "xml"], "invalid choice"),
        (["report", "--bench", "no-such-file.json", "-o", "{tmp}/r"], "no-such-file.json"),
        (["report", "-o", "{tmp}/a-file"], "not a folder"),
        (["report", "-o", "{tmp}/someone-elses"], "not an actlab report"),
        (["report", "--search", "{tmp}/no-search.sqlite", "-o", "{tmp}/r"], "--search: no search store"),
        (["report", "--search", "{tmp}/a-file", "-o", "{tmp}/r"], "--search: "),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "a-file").write_text("keep me")
    (tmp_path / "someone-elses").mkdir()
    (tmp_path / "someone-elses" / "thesis.tex").write_text("keep me")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    shown = err.split("\r")[-1]  # what a terminal shows once a progress bar has been erased
    assert err.count("\n") == 1 and shown.startswith("actlab") and message in shown
    assert "Traceback" not in err
    if "\r" in err:  # a bar was drawn: it is blanked out before the error is written
        assert err.split("\r")[-2].strip() == ""
    assert (tmp_path / "a-file").read_text() == "keep me"
    assert (tmp_path / "someone-elses" / "thesis.tex").read_text() == "keep me"


# --- escaping -------------------------------------------------------------------------------


def test_helpers_escape_text_and_refuse_script_links() -> None:
    assert esc("<a href='x'>&</a>") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;"
    assert str(tag("p", "<b>", title='"x"')) == '<p title="&quot;x&quot;">&lt;b&gt;</p>'
    assert "href" not in str(external("javascript:alert(1)", "paper"))
    assert 'href="https://arxiv.org/abs/1"' in str(external("https://arxiv.org/abs/1", "paper"))


def test_user_text_is_escaped_everywhere(built: Path) -> None:
    pages = list(built.rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text()
        assert "<script" not in text.lower() and "<iframe" not in text.lower() and "<img src=x" not in text, page
        assert not re.search(r"href=\"\s*javascript:", text, re.IGNORECASE), page
    evil = (built / "activations" / f"{EVIL}.html").read_text()
    for field in ("title", "uses", "formula", "derivative", "param doc", "paper"):
        assert esc(PAYLOAD.format(field)) in evil
    assert "&lt;b&gt;bold&lt;/b&gt;" in evil and "A &amp; B" in evil
    assert esc(PAYLOAD.format("title")) in (built / "index.html").read_text()


# --- the report -----------------------------------------------------------------------------


def test_report_contents(built: Path) -> None:
    index = (built / "index.html").read_text()
    for anchor in ('id="catalog"', 'id="guide"', 'id="speed"'):
        assert anchor in index
    from actlab.guide import BRANCHES

    assert index.count('class="card"') == len(BRANCHES)
    assert "use another" not in index and "hardswish" in index  # the mobile CNN branch
    from actlab.formula import define

    formula = define(FORMULA).name
    assert sorted(p.stem for p in (built / "activations").glob("*.html")) == sorted([*PAGES, EVIL, formula])
    for name in PAGES:
        assert (built / "figures" / f"act-{name}.png").stat().st_size > 1000
    gelu = (built / "activations" / "gelu.html").read_text()
    assert 'id="pytorch"' in gelu and "f′(+∞) = NaN, not 1 (its limit)" in gelu  # measured by actlab.torch.gaps
    assert 'id="pytorch"' not in (built / "activations" / f"{EVIL}.html").read_text()  # no native kernel
    phenomena = (built / "phenomena.html").read_text()
    for anchor in ("vanishing", "dying-relu", "self-normalization", "softmax-temperature", "linear-collapse"):
        assert f'id="{anchor}"' in phenomena
    experiments = (built / "experiments.html").read_text()
    assert "moons, mlp" in experiments and "learning_curves.png" in experiments
    assert (built / "style.css").exists() and (built / report.MARKER).exists()
    assert not [p for p in built.parent.iterdir() if ".building-" in p.name]
    for page in built.rglob("*.html"):  # offline: pages load nothing but the report's own files
        assert not re.search(r"<(link|img|script|iframe)[^>]+(src|href)=\"(https?:)?//", page.read_text()), page


def test_guide_cites_measured_speed_for_mobile_choices() -> None:
    from actlab.guide import recommend

    r = recommend(arch="cnn", mobile=True, bench=fake_bench(["relu", "hardswish", "relu6", "hardsigmoid", "silu"]))
    speed = [x for x in r.reasons if x.startswith("measured forward + backward time")]
    assert len(speed) == 2 and "hardswish" in speed[0] and "silu" in speed[0]
    assert not any("measured forward" in x for x in recommend(arch="cnn", bench=fake_bench(["relu"])).reasons)


def test_failed_build_leaves_the_previous_report(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from actlab.report import pages

    out = tmp_path / "rep"
    shutil.copytree(built, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("killed midway")

    monkeypatch.setattr(pages, "activation_figure", broken)
    with pytest.raises(RuntimeError, match="killed midway"):
        report.build(out, bench=fake_bench(["relu"]), settings=report.Settings.small(names=("relu",)), progress=False)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # the half-built folder is gone


def test_swap_replaces_a_report_whole(tmp_path: Path) -> None:
    from actlab.report import _swap_in

    old, new = tmp_path / "rep", tmp_path / ".rep.building-x"
    for folder, text in ((old, "old"), (new, "new")):
        (folder / "sub").mkdir(parents=True)
        (folder / "index.html").write_text(text)
        (folder / report.MARKER).write_text("")
    (old / "sub" / "stale.html").write_text("stale")
    _swap_in(new, old)
    assert (old / "index.html").read_text() == "new" and not (old / "sub" / "stale.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_killed_build_leaves_the_previous_report(built: Path, tmp_path: Path) -> None:
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "rep"
    shutil.copytree(built, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    script = (
        "import sys; from actlab import report; from tests.test_report import fake_bench; "
        "report.build(sys.argv[1], bench=fake_bench(['relu']), results=sys.argv[2], progress=False, "
        "settings=report.Settings.small(names=('relu', 'gelu')))"
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", script, str(out), str(tmp_path / "r.sqlite")], cwd=root)
    try:
        deadline = time.monotonic() + 120
        while not any((p / "figures" / "act-relu.png").exists() for p in tmp_path.glob(".rep.building-*")):
            assert proc.poll() is None and time.monotonic() < deadline, "the build ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # the half-built folder beside it is all a kill leaves
    assert len(list(tmp_path.glob(".rep.building-*"))) == 1
    report._remove_abandoned(out)  # the next build clears it
    assert not list(tmp_path.glob(".rep.building-*"))


def test_the_search_page_shows_each_stored_search_and_its_finalists_tested(built: Path) -> None:
    text = (built / "search.html").read_text()
    assert "random search of small (seed 1) on moons/mlp, 1 epoch" in text
    for part in ("Leaderboard (proxy)", "Re-evaluated against ReLU", "… and against SiLU", "Published finds"):
        assert part in text
    for figure in ("search-0-progress.png", "search-0-finalists.png"):
        assert f'src="figures/{figure}"' in text and (built / "figures" / figure).stat().st_size > 1000
    assert 'href="search.html"' in (built / "index.html").read_text()  # every page's navigation leads there


def test_without_a_search_the_page_says_how_to_run_one() -> None:
    from actlab.report.pages import search_page

    text = search_page([], None)
    assert "No search is in this report" in text and "actlab-search.sqlite" in text and "--search FILE" in text
    assert "holds no search" in search_page([], "empty.sqlite")


def test_a_user_entry_page_states_no_range_it_did_not_declare(built: Path) -> None:
    # the hostile entry leaves `range` at its default: its page must not present (−∞, ∞) as declared
    evil = (built / "activations" / f"{EVIL}.html").read_text()
    assert "range (declared)" not in evil and "not declared (computed below)" in evil
    relu = (built / "activations" / "relu.html").read_text()  # a built-in's range is tested against computation
    assert "<dt>range</dt><dd>[0, ∞)</dd>" in relu


def test_a_formula_activation_has_its_own_page_with_its_formula_and_derivative(built: Path) -> None:
    from actlab.formula import define

    spec = define(FORMULA)
    page = (built / "activations" / f"{spec.name}.html").read_text()
    assert "x * erf(x) + 0.1 * x" in page and "erf" in page
    assert (built / "figures" / f"act-{spec.name}.png").is_file()
