"""The lab report: a static HTML site, offline and self-contained, computed from the catalog.

``actlab report -o DIR`` writes an index (the comparison table, the decision guide over every
branch, the speed table), one page per activation (formula, derivative, figure, computed
properties, gains, propagation, uses, paper), the phenomena (vanishing gradients, dying ReLU,
SELU self-normalization, softmax temperature, linear collapse) and the experiments in the
results store, running a quick comparison when the store is empty.

The report is built in a temporary folder beside ``DIR`` and swapped in whole: a build that
fails or is killed never leaves half a report where a complete one was.  Every piece of text
on the pages is HTML-escaped; no page loads anything from the network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._io import check_file, check_folder, check_writable, umask, write_text
from ..errors import ActlabError, Interrupted

DEFAULT_DIR = "actlab-report"
MARKER = ".actlab-report"
"""A file every report holds: only a folder with it (or an empty one) is ever replaced."""


@dataclass(frozen=True)
class Settings:
    """How much the report measures: the defaults are for the command, :meth:`small` for tests."""

    bench: dict[str, Any] | None = None
    """Arguments of ``bench.run`` when no benchmark file exists (default ``bench.QUICK``)."""
    experiment: dict[str, Any] = field(
        default_factory=lambda: {
            "dataset": "mnist1d",
            "model": "mlp",
            "activations": ("relu", "gelu", "silu", "tanh", "sigmoid"),
            "seeds": 5,
            "epochs": 30,
            "depth": 6,
            "lr": 3e-3,
        }
    )
    """The comparison trained when the results store is empty (the arguments of
    :func:`actlab.experiments.api.prepare`): six hidden layers, where sigmoid's vanishing gradient
    costs accuracy that five paired seeds resolve, beside GELU and SiLU, which ReLU does not
    measurably trail here; about two minutes on two cores."""
    workers: int = 2
    deepnet_width: int = 500
    deepnet_depth: int = 30
    dying_relu_steps: int = 200
    selfnorm_layers: int = 12
    names: tuple[str, ...] | None = None
    """Activations that get a page (default: the whole catalog)."""

    @classmethod
    def small(cls, **changes: Any) -> Settings:
        """A report in seconds: a tiny benchmark, a one-epoch experiment, small networks."""
        base = cls(
            bench={"size": 2**12, "repeats": 1, "impls": "own", "passes": ("forward", "forward_backward")},
            experiment={
                "dataset": "moons",
                "model": "mlp",
                "activations": ("relu", "tanh"),
                "seeds": 2,
                "epochs": 1,
                "depth": 2,
                "width": 16,
            },
            workers=1,
            deepnet_width=64,
            deepnet_depth=8,
            dying_relu_steps=10,
            selfnorm_layers=4,
        )
        return replace(base, **changes)


class Progress:
    """The report's progress bar (``actlab._progress``: on stderr, on a terminal only), one step per part
    of the build, described by the part at work; and the seconds each part took (:meth:`lap`)."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        from .._progress import bar

        self.total, self.done, self.enabled = total, 0, enabled
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()
        self._bar = bar(total, "report") if enabled else None

    def show(self, label: str) -> None:
        """Describe the part at work (the bar does not move)."""
        if self._bar is not None:
            self._bar.set_description_str(label)

    def step(self, label: str) -> None:
        """One part done; ``label`` is the next."""
        self.done += 1
        if self._bar is not None:
            self._bar.set_description_str(label, refresh=False)
            self._bar.update(1)

    def lap(self, what: str) -> None:
        """Record the seconds since the last lap under ``what`` (the summary's ``seconds_per_step``)."""
        now = time.perf_counter()
        self.laps[what] = round(now - self._last, 1)
        self._last = now

    def close(self, finished: bool = True) -> None:
        """Erase the bar, so that what follows — the summary, or an error — stands alone."""
        if self._bar is not None:
            self._bar.close()


# --- atomic replacement ---------------------------------------------------------------------


def _check_target(out: Path) -> None:
    """Before any work: ``out`` is a report, an empty folder or a new folder whose parent exists (it is built
    beside itself, in that parent, so the parent must take files too)."""
    if out.exists() and not out.is_dir():
        raise ActlabError(f"{out} exists and is not a folder; choose another -o")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ActlabError(f"{out} is a folder but not an actlab report; actlab will not replace it (use another -o)")
    check_folder(out, "-o")
    check_writable(out.absolute().parent, out, "-o")  # the build folder goes there


def _remove_abandoned(out: Path) -> None:
    """Delete the half-built folders of builds that were killed (their process no longer exists)."""
    for folder in out.parent.glob(f".{out.name}.building-*"):
        pid = folder.name.rsplit(".building-", 1)[1].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # alive, under another user
            pass


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _swap_in(built: Path, out: Path) -> None:
    """Put the finished report ``built`` at ``out``, replacing a previous one whole."""
    if not out.exists():
        os.rename(built, out)
        return
    if _exchange(built, out):
        shutil.rmtree(built)  # it now holds the previous report
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.rename(out, old)
    os.rename(built, out)
    shutil.rmtree(old)


# --- the build ------------------------------------------------------------------------------


def _bench(bench: str | Path | dict[str, Any] | None, settings: Settings, progress: Progress) -> dict[str, Any]:
    from ..table import load_or_run_bench

    if isinstance(bench, dict):
        return bench

    def report(i: int, total: int, label: str) -> None:
        progress.show(f"bench {i}/{total}: {label}")

    return load_or_run_bench(bench, run_settings=settings.bench, progress=report)


def _experiments(results: Path, settings: Settings, progress: Progress) -> tuple[list[Any], str]:
    """The comparisons in the store; when it holds none, or only part of the report's own default
    comparison (a report interrupted while training), the default comparison is run (resumed) first."""
    from ..experiments import ResultsStore
    from ..experiments.api import execute, prepare
    from .pages import experiment_groups

    e = dict(settings.experiment)
    plan = prepare(e.pop("model"), e.pop("dataset"), e.pop("activations"), **e)
    with ResultsStore(results) as store:
        held = store.finished()
        ran = 0
        if held <= {c.key() for c in plan.todo}:

            def report(i: int, total: int, config: Any) -> None:
                progress.show(f"experiments {i}/{total}: {config.activation} seed {config.seed}")

            started = time.perf_counter()
            ran = execute(plan, store, workers=settings.workers, progress=report).ran
            took = time.perf_counter() - started
    note = (
        f"The results store {results.name} held no other comparison, so the report trained its default one now "
        f"({ran} runs in {took:.0f} s on {settings.workers} worker process{'es' if settings.workers > 1 else ''}); "
        "`actlab compare` adds more, and this page shows every comparison the store holds."
        if ran
        else f"Every comparison in the results store {results.name}; `actlab compare` adds more."
    )
    return experiment_groups(results), note


def _check_search(path: Path) -> None:
    """Before anything is built: ``--search`` names a store that opens."""
    from ..experiments import ResultsStore
    from ..experiments.store import StoreError

    if not path.is_file():
        raise ActlabError(f"--search: no search store {str(path)!r} (actlab search writes one)")
    try:
        with ResultsStore(path):
            pass
    except StoreError as exc:  # said of --search, not of the results store's --db
        raise ActlabError(f"--search: {str(exc).split('; move it aside')[0]}") from None


def _searches(path: Path, figures: Path) -> list[tuple[Any, dict[str, int | None], tuple[str, str]]]:
    """Each search in the search store, read back (nothing is trained), with where the published finds
    ranked and its two figures, drawn into ``figures``."""
    from ..experiments import ResultsStore
    from ..search.command import published_ranks
    from ..search.engine import stored_searches
    from ..search.figures import search_figures

    with ResultsStore(path) as store:
        outcomes = stored_searches(store)
    out = []
    for i, outcome in enumerate(outcomes):
        names = (f"search-{i}-progress.png", f"search-{i}-finalists.png")
        search_figures(outcome, figures, finalists=len(outcome.finals.get("finalists", ())) or 3, names=names)
        out.append((outcome, published_ranks(outcome), (f"figures/{names[0]}", f"figures/{names[1]}")))
    return out


def _write(path: Path, text: str) -> None:
    """A page of the report, in the build folder (its subfolders are made here, inside the build)."""
    path.parent.mkdir(exist_ok=True)
    write_text(path, text)


def build(
    out: str | Path = DEFAULT_DIR,
    *,
    bench: str | Path | dict[str, Any] | None = None,
    results: str | Path = "actlab-results.sqlite",
    search: str | Path | None = None,
    settings: Settings | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the report to ``out``; returns what it wrote (pages, figures, seconds). ``search`` is a search
    store (``actlab search``'s ``--db``) whose searches the search page shows; None: no search."""
    import importlib.util
    from importlib import resources

    from .. import table as comparison
    from ..catalog import registry
    from ..guide import BRANCHES, recommend
    from . import pages

    missing = [m for m in ("torch", "matplotlib", "sklearn", "mnist1d") if importlib.util.find_spec(m) is None]
    if missing:
        raise ActlabError(f"the report needs {', '.join(missing)}: pip install 'actlab[torch,experiments]'")
    settings = settings or Settings()
    _check_target(Path(out))
    if not Path(results).exists():
        check_file(results, "--db")  # the results store is created: its folder must exist
    if search is not None:
        _check_search(Path(search))
    out = Path(out).absolute()
    specs = registry.specs() if settings.names is None else [registry.spec(n) for n in settings.names]
    linked = frozenset(s.name for s in specs)
    bar = Progress(1 + 1 + len(specs) + 5 + 1 + 1 + 1, enabled=progress)
    start = time.perf_counter()
    _remove_abandoned(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-{os.getpid()}-", dir=out.parent))
    finished = False
    try:
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp's folder is private; the report's folders follow the umask
        figures = tmp / "figures"
        figures.mkdir()
        bar.show("bench")
        bench_result = _bench(bench, settings, bar)
        bar.lap("bench")
        bar.step("bench")

        rows = comparison.rows(bench_result, [s.name for s in specs])
        recommendations = [
            (group, label, kwargs, recommend(**kwargs, results=results, bench=bench_result))
            for group, label, kwargs in BRANCHES
        ]
        bar.lap("table and guide")
        bar.step("table and guide")

        speeds = {b: comparison.speed_ratios(bench_result, b) for b in comparison.measured_backends(bench_result)}
        for spec in specs:
            bar.show(f"pages: {spec.name}")
            fig = f"figures/act-{spec.name}.png"
            drawn = pages.activation_figure(spec, tmp / fig)
            formulas = tuple(
                f"figures/formula-{spec.name}-{i}.svg"
                if pages.formula_figure(latex, tmp / f"figures/formula-{spec.name}-{i}.svg")
                else None
                for i, latex in enumerate((spec.formula_text(), spec.derivative_text()))
            )
            speed = {b: speeds[b].get(spec.name) for b in speeds}
            text = pages.activation_page(
                spec, figure_file=fig if drawn else None, speeds=speed, linked=linked, formula_files=formulas
            )
            _write(tmp / pages.page_name(spec.name), text)
            bar.step(f"pages: {spec.name}")

        bar.lap("activation pages")
        parts: dict[str, Any] = {}
        bar.show("phenomena: vanishing gradients")
        parts["vanishing"] = pages.vanishing_figure(
            figures / "vanishing-gradients.png", width=settings.deepnet_width, depth=settings.deepnet_depth
        )
        bar.step("phenomena: dying ReLU")
        parts["dying"] = pages.dying_relu_section(figures / "dying-relu.png", steps=settings.dying_relu_steps)
        bar.step("phenomena: self-normalization")
        parts["selfnorm"] = pages.selfnorm_figure(figures / "self-normalization.png", layers=settings.selfnorm_layers)
        bar.step("phenomena: softmax temperature")
        parts["softmax"] = pages.softmax_figure(figures / "softmax-temperature.png")
        bar.step("phenomena: linear collapse")
        parts["collapse"] = pages.linear_collapse_rows()
        _write(tmp / "phenomena.html", pages.phenomena_page(parts))
        bar.lap("phenomena")
        bar.step("experiments")

        groups, note = _experiments(Path(results), settings, bar)
        written: dict[int, list[str]] = {}
        from ..experiments.figures import comparison_figures

        for i, g in enumerate(groups):
            paths = comparison_figures(g, figures / f"experiment-{i}")
            written[i] = [p.relative_to(tmp).as_posix() for p in paths]
        _write(tmp / "experiments.html", pages.experiments_page(groups, lambda i: written.get(i, []), note, linked))
        bar.lap("experiments")
        bar.step("search")

        searches = _searches(Path(search), figures) if search is not None else []
        _write(tmp / "search.html", pages.search_page(searches, None if search is None else Path(search).name))
        bar.lap("search")
        bar.step("index")

        overlay = None
        if all(n in registry.names() for n in pages.OVERLAY):
            from ..viz import plot_activations

            plot_activations(list(pages.OVERLAY), figures / "gelu-silu-mish.png", derivative=True)
            overlay = "figures/gelu-silu-mish.png"
        _write(
            tmp / "index.html",
            pages.index_page(
                table_rows=rows,
                recommendations=recommendations,
                bench=bench_result,
                overlay=overlay,
                specs=specs,
            ),
        )
        css = resources.files(__package__).joinpath("style.css").read_text(encoding="utf-8")
        _write(tmp / "style.css", css)
        bar.lap("index")
        summary = {
            "output": str(out),
            "pages": len(list(tmp.rglob("*.html"))),
            "figures": len([p for p in tmp.rglob("*") if p.suffix in (".png", ".svg")]),
            "seconds": round(time.perf_counter() - start, 1),
            "seconds_per_step": bar.laps,
        }
        _write(tmp / MARKER, json.dumps({"written_by": "actlab report", **summary}, indent=1))
        _swap_in(tmp, out)
        bar.step("done")
        finished = True
        return summary
    except KeyboardInterrupt as exc:  # Ctrl-C: say what the user finds (the store says what it keeps)
        if isinstance(exc, Interrupted):
            raise
        kept = f"an earlier report in {out} is unchanged" if out.exists() else f"nothing written to {out}"
        raise Interrupted(f"the report is not written ({kept}); the same command starts it again") from None
    finally:
        bar.close(finished)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# --- command --------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from ..catalog import registry
    from ..formula.source import split_names

    for name in split_names(args.extra):  # formulas (and saved formula names) join the catalog, so get pages
        registry.spec(name)
    from ..search.engine import DEFAULT_STORE as DEFAULT_SEARCH

    search = args.search
    if search is None and Path(DEFAULT_SEARCH).is_file():  # a search run here: the report shows it
        search = DEFAULT_SEARCH
    summary = build(args.output, bench=args.bench, results=args.db, search=search, progress=not args.json)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    index = Path(args.output) / "index.html"
    print(f"wrote {args.output}: {summary['pages']} pages, {summary['figures']} figures in {summary['seconds']:g} s")
    print(f"open {index}")
    return 0


def add_parser(sub: Any) -> None:
    from ..search.engine import DEFAULT_STORE as DEFAULT_SEARCH

    p = sub.add_parser(
        "report",
        help="the lab report: a static HTML site (catalog, guide, speed, phenomena, experiments)",
        description="Write the lab report, a static HTML site that opens offline: the comparison table, the decision "
        "guide, measured speed, one page per activation, the phenomena and the experiments. Built in a temporary "
        "folder and swapped in whole.",
    )
    p.add_argument("--output", "-o", default=DEFAULT_DIR, metavar="DIR", help=f"where to write (default {DEFAULT_DIR})")
    p.add_argument("--bench", metavar="FILE", help="benchmark results (default: actlab-bench.json, else measure now)")
    p.add_argument("--db", default="actlab-results.sqlite", help="results store (default ./actlab-results.sqlite)")
    p.add_argument(
        "--search",
        metavar="FILE",
        help=f"a search store (actlab search --db) whose searches the search page shows (default ./{DEFAULT_SEARCH} "
        "where it exists)",
    )
    p.add_argument("--json", action="store_true", help="print what was written as JSON (no progress bar)")
    p.add_argument(
        "--extra",
        default="",
        metavar="ACTIVATIONS",
        help="more activations to give pages: formulas (e.g. 'x*erf(x)') or names from the user catalog, "
        "comma-separated",
    )
    p.set_defaults(run=_run)
