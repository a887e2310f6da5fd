"""The search's page: a static HTML page (the lab report's style) with the leaderboard, each
finalist's formula, f and f′, computed properties and gains, the paired comparisons against ReLU and
SiLU, and the search's progress over time."""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

from .._io import make_folder, write_text
from .figures import FILES


def _properties(name: str) -> tuple[str, str, str, str, str]:
    import actlab

    from ..analysis.gains import gains
    from ..analysis.properties import properties
    from ..catalog.spec import DISCONTINUOUS, SMOOTH

    act = actlab.get(name)
    pr = properties(act)
    smooth = (
        "discontinuous" if pr.smoothness == DISCONTINUOUS else "C∞" if pr.smoothness >= SMOOTH else f"C{pr.smoothness}"
    )
    lo, hi = pr.infimum.value, pr.supremum.value
    g = gains(act)
    return (
        f"[{lo:.4g}, {hi:.4g}]",
        "yes" if pr.monotonic else "no",
        smooth,
        f"{g['forward']:.4g}",
        f"{g['backward']:.4g}",
    )


def _comparison_table(c: Any) -> Any:
    from ..report.html import table

    rows = []
    for r in c.rows():
        if r["baseline"]:
            rows.append([r["activation"], f"{r['mean']:.4f}", "baseline", "", "", ""])
            continue
        lo, hi = r.get("ci_t", (math.nan, math.nan))
        rows.append(
            [
                r["activation"],
                f"{r['mean']:.4f}",
                f"{r.get('difference', math.nan):+.4f}",
                f"[{lo:+.3g}, {hi:+.3g}]",
                f"{r.get('p_holm', math.nan):.2g}",
                r.get("verdict", ""),
            ]
        )
    head = ["activation", f"{c.metric} (mean)", f"Δ vs {c.baseline}", "95% CI of Δ (t)", "p (Holm)", "verdict"]
    return table(head, rows, numeric=(1, 2, 4))


def title(outcome: Any) -> str:
    """One line that tells a search from another: its strategy, space, seed and proxy task."""
    s, p = outcome.settings, outcome.settings.proxy
    return f"{s.strategy} search of {s.space} (seed {s.seed}) on {p.dataset}/{p.model}, {_epochs(p.epochs)}"


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def sections(
    outcome: Any,
    finals: dict[str, Any],
    ranks: dict[str, int | None],
    figures: tuple[str, str] = FILES,
    level: int = 2,
) -> list[Any]:
    """A search's parts of a page: its settings, progress figure, leaderboard, the finalists' f, f′,
    properties and paired comparisons against ReLU and SiLU, and where the published finds ranked.
    ``figures`` are the two figures' paths from the page; ``level`` is the headings' level."""
    from ..report.html import definitions, figure, table, tag

    h, sub = f"h{level}", f"h{level + 1}"
    s = outcome.settings
    board = outcome.leaderboard()
    rejected = sum(1 for t in outcome.tried if t.status == "rejected")
    failed = sum(1 for t in outcome.tried if t.status == "failed")
    parts = [
        definitions(
            [
                ("space", f"{s.space} ({s.strategy}, seed {s.seed}, population {s.population}, tournament {s.sample})"),
                (
                    "proxy",
                    f"{s.proxy.dataset}, {s.proxy.model}, {_epochs(s.proxy.epochs)}, lr {s.proxy.lr:g}, one seed",
                ),
                (
                    "candidates",
                    f"{len(outcome.tried)} tried: {rejected} filtered before training, {failed} failed or "
                    f"diverged, {len(outcome.trained)} trained",
                ),
            ]
        ),
        tag(h, "Progress"),
        figure(
            figures[0],
            "proxy accuracy of each candidate in order",
            "Each trained candidate's proxy accuracy (one seed) in the order trained, and the best so far.",
        ),
        tag(h, "Leaderboard (proxy)"),
        table(
            ["rank", "formula", "proxy accuracy"],
            [[i + 1, tag("code", t.canonical), f"{t.metric:.4f}"] for i, t in enumerate(board)],
            numeric=(0, 2),
        ),
    ]
    if finals:
        names = finals["finalists"]
        parts += [
            tag(h, "Finalists"),
            figure(
                figures[1],
                "f and f′ of the finalists",
                "f (left) and f′ (right) of the finalists beside ReLU and SiLU.",
            ),
            table(
                ["formula", "range", "monotonic", "continuity", "forward gain", "backward gain"],
                [[tag("code", n), *_properties(n)] for n in names],
            ),
            tag(sub, "Re-evaluated against ReLU"),
            _comparison_table(finals["relu"]),
            tag(sub, "… and against SiLU"),
            _comparison_table(finals["silu"]),
            tag(
                "p",
                "Paired t-tests over the re-evaluation's seeds (same data order and initial draw per seed), "
                "Holm–Bonferroni over the candidates at α = 0.05.",
            ),
        ]
    found = [[k, "not trained" if r is None else f"rank {r}"] for k, r in ranks.items()]
    parts += [
        tag(h, "Published finds"),
        tag("p", "Ramachandran et al. (2017)'s best activations, matched by value among the trained candidates:"),
        table(["formula", "in this search"], found),
    ]
    return parts


def write_page(outcome: Any, finals: dict[str, Any], ranks: dict[str, int | None], directory: str | Path) -> Path:
    """Write ``index.html``, ``style.css`` and the figures into ``directory`` (created if its parent exists)."""
    from ..report.html import Markup, page
    from .figures import search_figures

    folder = make_folder(directory, "--page")
    search_figures(outcome, folder)
    parts = sections(outcome, finals, ranks)
    css = resources.files("actlab.report").joinpath("style.css").read_text(encoding="utf-8")
    write_text(folder / "style.css", css)
    body = Markup("\n".join(p.text for p in parts))
    text = page("Activation search", body, subtitle="actlab search")
    # a page of its own: no navigation to the lab report's pages, and the command that computed it
    text = re.sub(r"<nav>.*?</nav>", "", text, flags=re.S).replace("actlab report</code>", "actlab search</code>")
    text = text.replace("— actlab report</title>", "— actlab search</title>")
    return write_text(folder / "index.html", text)
