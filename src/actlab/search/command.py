"""`actlab search`: the activation search from the command line, its progress and its leaderboard."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ActlabError
from .engine import DEFAULT_STORE, STRATEGIES, Outcome, Proxy, Settings, reevaluate, run_search
from .space import SPACES

PUBLISHED = {
    "x*sigmoid(beta*x)": "x*sigmoid(x)",
    "max(x, sigmoid(x))": "max(x, sigmoid(x))",
    "cos(x) - x": "cos(x) - x",
    "min(x, sin(x))": "min(x, sin(x))",
    "atan(x)**2 - x": "atan(x)**2 - x",
    "max(x, tanh(x))": "max(x, tanh(x))",
    "sinc(x) + x": "sinc(x) + x",
    "x*asinh(x)**2": "x*asinh(x)**2",
}
"""Ramachandran et al.'s best finds (their Table 2 and text), as formulas (β = 1 for x·σ(βx))."""


def parse_proxy(text: str) -> Proxy:
    """``DATASET:MODEL[:EPOCHS]``, e.g. ``mnist1d:cnn:3``."""
    parts = text.split(":")
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise ActlabError(f"--proxy takes DATASET:MODEL[:EPOCHS], e.g. mnist1d:cnn:3; got {text!r}")
    epochs = 3
    if len(parts) == 3:
        try:
            epochs = int(parts[2])
        except ValueError:
            raise ActlabError(f"--proxy: EPOCHS must be a positive integer; got {parts[2]!r}") from None
        if epochs < 1:
            raise ActlabError(f"--proxy: EPOCHS must be a positive integer; got {epochs}")
    return Proxy(dataset=parts[0], model=parts[1], epochs=epochs)


def _short(reason: str) -> str:
    """A failed run's reason as a category: its exception's name, or its status (``diverged``)."""
    head = reason.split(":", 1)[0].strip()
    return head if head and len(head) <= 40 and " " not in head else "failed"


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip()) if text else ()


def published_ranks(outcome: Outcome) -> dict[str, int | None]:
    """Where each published find appeared among the trained candidates, by proxy metric (1 = best),
    matched by numerical signature; None where the search never trained it."""
    from .filters import screen

    board = outcome.leaderboard(n=10**9)
    signatures = {}
    for t in board:
        v = screen(t.canonical)
        signatures.setdefault(v.signature, board.index(t) + 1)
    out: dict[str, int | None] = {}
    for label, formula in PUBLISHED.items():
        out[label] = signatures.get(screen(formula).signature)
    return out


def _progress(outcome: Outcome, event: str) -> None:
    tried = len(outcome.tried)
    rejected = sum(1 for t in outcome.tried if t.status == "rejected")
    failed = sum(1 for t in outcome.tried if t.status == "failed")
    trained = len(outcome.trained)
    best = outcome.leaderboard(1)
    best_text = f"; best so far {best[0].metric:.4f} {best[0].canonical}" if best else ""
    extra = f", {failed} failed" if failed else ""
    line = (
        f"search: {tried} candidates tried, {rejected} filtered{extra}, {trained}/{outcome.budget} trained{best_text}"
    )
    if event == "exhausted":
        line += " — the space gave no more new candidates"
    print(line, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    from .._io import check_file, check_folder
    from ..experiments import ResultsStore

    try:
        proxy = parse_proxy(args.proxy)
        settings = Settings(space=args.space, strategy=args.strategy, seed=args.seed, population=args.population,
                            sample=args.sample, batch=args.batch, learnable=args.learnable, proxy=proxy,
                            unary=_names(args.unary), binary=_names(args.binary), depth=args.depth)  # fmt: skip
        space = settings.check()
        second = parse_proxy(args.second_task) if args.second_task else None
        for value, what, least in ((args.budget, "--budget", 1), (args.finalists, "--finalists", 0),
                                   (args.final_seeds, "--final-seeds", 1), (args.workers, "--workers", 1)):  # fmt: skip
            if value < least:
                raise ActlabError(f"{what} must be at least {least}; got {value}")
    except ActlabError as exc:
        from ..cli import UsageError

        raise UsageError(str(exc)) from None
    check_file(args.db, "--db")
    for folder, what in ((args.figures, "--figures"), (args.page, "--page")):
        if folder:
            check_folder(folder, what)
    print(
        f"searching {settings.space} ({space.size():,} candidates; {settings.strategy}, seed {settings.seed}) for "
        f"{args.budget} trained on {proxy.dataset}/{proxy.model}, {proxy.epochs} epochs; results in {args.db}",
        file=sys.stderr,
        flush=True,
    )
    common = {"workers": args.workers, "executor": args.executor, "address": args.address, "device": args.device}
    with ResultsStore(args.db) as store:
        outcome = run_search(settings, args.budget, store, report=None if args.json else _progress, **common)
        finals: dict[str, Any] = {}
        if args.finalists > 0 and outcome.trained:
            if not args.json:
                print(f"re-evaluating the best {args.finalists} with {args.final_seeds} seeds beside relu and silu...",
                      file=sys.stderr, flush=True)  # fmt: skip
            finals = reevaluate(outcome, store, finalists=args.finalists, seeds=args.final_seeds, **common)
            if second is not None:
                extra = Outcome(outcome.settings, outcome.tried, outcome.budget)
                reevaluate(extra, store, finalists=args.finalists, seeds=args.final_seeds, proxy=second, **common)
                finals["second"] = extra.finals
    ranks = published_ranks(outcome)
    if args.figures:
        from .figures import search_figures

        search_figures(outcome, args.figures)
    if args.page:
        from .page import write_page

        written = write_page(outcome, finals, ranks, args.page)
        if not args.json:
            print(f"wrote {written}", file=sys.stderr)
    if args.json:
        from ..cli import _emit_json

        _emit_json(_as_dict(outcome, finals, ranks))
        return 0
    print(_text(outcome, finals, ranks))
    return 0


def _as_dict(outcome: Outcome, finals: dict[str, Any], ranks: dict[str, int | None]) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "settings": asdict(outcome.settings),
        "budget": outcome.budget,
        "tried": [asdict(t) | {"genes": list(t.genes)} for t in outcome.tried],
        "leaderboard": [asdict(t) | {"genes": list(t.genes)} for t in outcome.leaderboard()],
        "finals": {k: v.as_dict() for k, v in finals.items() if k in ("relu", "silu")},
        "published": ranks,
    }


def _text(outcome: Outcome, finals: dict[str, Any], ranks: dict[str, int | None]) -> str:
    from ..cli import _table

    lines = []
    tried, trained = len(outcome.tried), len(outcome.trained)
    reasons: dict[str, int] = {}
    for t in outcome.tried:
        if t.status in ("rejected", "failed"):
            kind = t.reason.split(":")[0].split(" of ")[0] if t.status == "rejected" else _short(t.reason or "failed")
            reasons[kind] = reasons.get(kind, 0) + 1
    why = ", ".join(f"{k} {n}" for k, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
    lines.append(f"{tried} candidates tried, {tried - trained} not trained ({why or 'none'}), {trained} trained")
    rows = [(str(i + 1), t.canonical, f"{t.metric:.4f}") for i, t in enumerate(outcome.leaderboard())]
    lines += ["", "proxy leaderboard (one seed each):", _table(rows, ("rank", "formula", "proxy"))]
    if finals:
        lines += [
            "",
            "re-evaluated against relu:",
            finals["relu"].text(),
            "",
            "and against silu:",
            finals["silu"].text(),
        ]
    found = [f"{k}: rank {r}" if r is not None else f"{k}: not trained" for k, r in ranks.items()]
    lines += ["", "published finds (Ramachandran et al. 2017) in this search: " + "; ".join(found)]
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "search",
        help="search for activations: random search or regularized evolution over formulas (resumable)",
        description="Search a space of formulas (Ramachandran et al. 2017: b(u1(x), u2(x)) over their unary and "
        "binary functions) by random search or regularized evolution. Each candidate is screened (constant, linear, "
        "not finite, degenerate gains, duplicates) and trained on a short proxy task; every result is kept in --db, "
        "so a killed search resumes and no candidate is trained twice. The best are then re-evaluated with more "
        "seeds against relu and silu with the paired statistics.",
    )
    p.add_argument("--space", choices=list(SPACES), default="core", help="the search space (default core)")
    p.add_argument("--unary", metavar="NAMES", help="the unary functions instead of the space's (comma-separated)")
    p.add_argument("--binary", metavar="NAMES", help="the binary functions instead of the space's (comma-separated)")
    p.add_argument("--depth", type=int, default=0, help="core units composed (default: the space's own)")
    p.add_argument("--strategy", choices=list(STRATEGIES), default="evolution", help="default evolution")
    p.add_argument("--budget", type=int, default=24, help="candidates to train on the proxy (default 24)")
    p.add_argument("--seed", type=int, default=0, help="the search's seed (default 0)")
    p.add_argument("--population", type=int, default=16, help="evolution: the population kept (default 16)")
    p.add_argument("--sample", type=int, default=4, help="evolution: the tournament's size (default 4)")
    p.add_argument("--batch", type=int, default=4, help="candidates proposed together, trained in parallel (default 4)")
    p.add_argument(
        "--learnable", action="store_true", help="train each candidate's scalars (beta) with the network's weights"
    )
    p.add_argument("--proxy", default="mnist1d:cnn:3", metavar="DATASET:MODEL[:EPOCHS]", help="default mnist1d:cnn:3")
    p.add_argument("--finalists", type=int, default=3, help="how many to re-evaluate (default 3; 0: none)")
    p.add_argument("--final-seeds", type=int, default=5, help="seeds of the re-evaluation (default 5)")
    p.add_argument("--second-task", metavar="DATASET:MODEL[:EPOCHS]", help="also re-evaluate on this task")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--executor", choices=["local", "ray"], default="local", help="local (default) or ray")
    p.add_argument("--address", metavar="HOST:PORT", help="a running Ray cluster's head, with --executor ray")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, cuda:N or mps")
    p.add_argument("--db", default=DEFAULT_STORE, help=f"results file (default ./{DEFAULT_STORE})")
    p.add_argument("--figures", metavar="DIR", help="write search_progress.png and search_finalists.png there")
    p.add_argument("--page", metavar="DIR", help="write the search's page there (index.html, figures, style.css)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_run)
