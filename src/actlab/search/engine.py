"""Searching for activations: random search and regularized evolution over a space of formulas, each
candidate screened (:mod:`actlab.search.filters`) and then trained on a proxy task through the
experiment runner, every result committed to the results store — and the best re-evaluated with
more seeds against ReLU and SiLU with the paired statistics.

Reproducible and resumable: the search draws from one seeded generator and proposes candidates in
batches of a fixed size, each batch after the previous one's results are known, so the same settings
give the same sequence of candidates whatever the number of workers.  A run already in the store is
never trained again (its key is its configuration), and each candidate's verdict is recorded in the
store's ``search_candidates`` table, so a killed search, started again, replays the finished part from
the store in seconds and goes on where it stopped.

Regularized evolution (Real et al., 2019): the population is the ``population`` most recently trained
candidates (the oldest dies when a child joins: ageing); each child is a mutation — one unary or
binary function replaced — of the best of ``sample`` members drawn at random (tournament selection).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..catalog import registry
from ..errors import ActlabError, FormulaError
from .filters import screen
from .space import SPACES, Candidate, Space

STRATEGIES = ("random", "evolution")
DEFAULT_STORE = "actlab-search.sqlite"
"""Where ``actlab search`` keeps its searches, and where ``actlab report`` looks for them."""
PROXY_TAG = "search proxy"
FINAL_TAG = "search final"


@dataclass(frozen=True)
class Proxy:
    """The short training run that scores a candidate (default: MNIST-1D, the small CNN, 3 epochs)."""

    dataset: str = "mnist1d"
    model: str = "cnn"
    epochs: int = 3
    lr: float = 3e-3
    batch_size: int = 128
    depth: int | None = None
    width: int | None = None


@dataclass(frozen=True)
class Settings:
    """What decides a search's sequence of candidates (and so its identity in the store); the budget
    is not part of it: a larger budget goes on with the same search."""

    space: str = "core"
    strategy: str = "evolution"
    seed: int = 0
    population: int = 16
    sample: int = 4
    batch: int = 4
    learnable: bool = False
    unary: tuple[str, ...] = ()
    """The unary functions, when not the space's own (names of :data:`actlab.search.space.UNARY`)."""
    binary: tuple[str, ...] = ()
    """The binary functions, when not the space's own (names of :data:`actlab.search.space.BINARY`)."""
    depth: int = 0
    """Core units composed, when not the space's own (0)."""
    proxy: Proxy = field(default_factory=Proxy)

    def key(self) -> str:
        d = asdict(self)
        for k, unset in (("learnable", False), ("unary", ()), ("binary", ()), ("depth", 0)):
            if d[k] in (unset, list(unset) if isinstance(unset, tuple) else unset):  # added later: old keys stay
                del d[k]
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def check(self) -> Space:
        from ..errors import suggest

        if self.space not in SPACES:
            raise ActlabError(
                f"unknown search space {self.space!r}{suggest(self.space, SPACES)}; choose from {', '.join(SPACES)}"
            )
        if self.strategy not in STRATEGIES:
            raise ActlabError(f"strategy must be one of {', '.join(STRATEGIES)}; got {self.strategy!r}")
        for value, what in ((self.population, "population"), (self.sample, "sample"), (self.batch, "batch")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ActlabError(f"{what} must be a positive integer; got {value!r}")
        if self.sample > self.population:
            raise ActlabError(f"the tournament sample ({self.sample}) cannot exceed the population ({self.population})")
        from .space import BINARY, UNARY

        for chosen, known, what in ((self.unary, UNARY, "unary"), (self.binary, BINARY, "binary")):
            for name in chosen:
                if name not in known:
                    raise ActlabError(
                        f"unknown {what} function {name!r}{suggest(name, known)}; choose from {', '.join(known)}"
                    )
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or not 0 <= self.depth <= 3:
            raise ActlabError(f"depth must be 1, 2 or 3 core units (0: the space's own); got {self.depth!r}")
        base = SPACES[self.space]
        return Space(
            base.name, tuple(self.unary) or base.unary, tuple(self.binary) or base.binary, self.depth or base.depth
        )


@dataclass
class Tried:
    """One candidate the search considered, in order."""

    index: int
    genes: tuple[str, ...]
    formula: str
    status: str  # "trained", "rejected", "failed"
    reason: str = ""
    metric: float = math.nan
    canonical: str = ""
    finished: float = 0.0


@dataclass
class Outcome:
    """A search's candidates in order, and (after :func:`reevaluate`) the finalists' comparisons."""

    settings: Settings
    tried: list[Tried]
    budget: int
    seconds: float = 0.0
    finals: dict[str, Any] = field(default_factory=dict)

    @property
    def trained(self) -> list[Tried]:
        return [t for t in self.tried if t.status == "trained"]

    def leaderboard(self, n: int = 10) -> list[Tried]:
        """The best trained candidates by proxy metric (higher is better), each formula once."""
        seen: set[str] = set()
        out = []
        for t in sorted(self.trained, key=lambda t: -t.metric if math.isfinite(t.metric) else math.inf):
            if t.canonical not in seen:
                seen.add(t.canonical)
                out.append(t)
        return out[:n]

    def best_so_far(self) -> list[float]:
        """The best proxy metric after each trained candidate."""
        out, best = [], -math.inf
        for t in self.trained:
            if math.isfinite(t.metric):
                best = max(best, t.metric)
            out.append(best)
        return out


def _store_table(store: Any) -> None:
    with store._writing(), store._db:
        store._db.execute(
            "CREATE TABLE IF NOT EXISTS search_candidates (search TEXT NOT NULL, idx INTEGER NOT NULL, "
            "settings TEXT NOT NULL, genes TEXT NOT NULL, formula TEXT NOT NULL, status TEXT NOT NULL, "
            "reason TEXT NOT NULL, metric REAL, canonical TEXT NOT NULL, finished REAL NOT NULL, "
            "PRIMARY KEY (search, idx))"
        )


def _record(store: Any, settings: Settings, t: Tried) -> None:
    with store._writing(), store._db:
        store._db.execute(
            "INSERT OR REPLACE INTO search_candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (settings.key(), t.index, json.dumps(asdict(settings), sort_keys=True), json.dumps(list(t.genes)),
             t.formula, t.status, t.reason, t.metric if math.isfinite(t.metric) else None, t.canonical,
             t.finished),
        )  # fmt: skip


def recorded(store: Any) -> dict[str, list[Tried]]:
    """Every search in ``store``: its candidates in order, by the search's settings key."""
    _store_table(store)
    out: dict[str, list[Tried]] = {}
    rows = store._db.execute(
        "SELECT search, idx, genes, formula, status, reason, metric, canonical, finished FROM search_candidates "
        "ORDER BY search, idx"
    )
    for search, idx, genes, formula, status, reason, metric, canonical, finished in rows:
        out.setdefault(search, []).append(
            Tried(
                idx,
                tuple(json.loads(genes)),
                formula,
                status,
                reason,
                math.nan if metric is None else float(metric),
                canonical,
                finished,
            )
        )
    return out


class _Proposer:
    """The strategy: the next candidate from the generator and what has been trained so far."""

    def __init__(self, settings: Settings, space: Space) -> None:
        self.settings, self.space = settings, space
        self.rng = random.Random(settings.seed)

    def propose(self, trained: list[Tried]) -> Candidate:
        s = self.settings
        if s.strategy == "random" or len(trained) < s.population:
            return self.space.random(self.rng)
        population = trained[-s.population :]  # ageing: only the most recent survive
        drawn = self.rng.sample(population, s.sample)
        parent = max(drawn, key=lambda t: t.metric if math.isfinite(t.metric) else -math.inf)
        return self.space.mutate(Candidate(parent.genes), self.rng)


def run_search(
    settings: Settings,
    budget: int,
    store: Any,
    *,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    device: str = "cpu",
    report: Callable[[Outcome, str], None] | None = None,
) -> Outcome:
    """Search until ``budget`` candidates have been trained on the proxy (see the module's docstring).

    ``report(outcome, event)`` is called after each batch (``event`` says what happened), for progress."""
    from ..experiments.api import execute, prepare
    from ..experiments.runner import final_metric

    space = settings.check()
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ActlabError(f"budget must be a positive number of candidates to train; got {budget!r}")
    _store_table(store)
    key = settings.key()
    done = {t.index: t for t in recorded(store).get(key, [])}
    proposer = _Proposer(settings, space)
    seen: dict[str, str] = {}
    outcome = Outcome(settings, [], budget)
    started = time.perf_counter()
    p = settings.proxy
    attempts_left = 200 * budget  # a space too small for the budget ends the search instead of looping
    while len(outcome.trained) < budget and attempts_left > 0:
        batch: list[Tried] = []
        want = min(settings.batch, budget - len(outcome.trained))
        while sum(1 for t in batch if t.status == "pending") < want and attempts_left > 0:
            attempts_left -= 1
            index = len(outcome.tried) + len(batch)
            cand = proposer.propose(outcome.trained)
            formula = cand.formula()
            previous = done.get(index)
            if previous is not None and previous.formula != formula:
                raise ActlabError(
                    f"the store's search {key} differs from this one at candidate {index} ({previous.formula} there, "
                    f"{formula} here): the code of the search space changed; use another --db"
                )
            verdict = screen(formula, seen)
            if not verdict.ok:
                t = Tried(index, cand.genes, formula, "rejected", verdict.reason, canonical=verdict.canonical)
                if previous is None:
                    t.finished = time.time()
                    _record(store, settings, t)
                else:
                    t.finished = previous.finished
                batch.append(t)
                continue
            batch.append(Tried(index, cand.genes, formula, "pending", canonical=verdict.canonical))
        for t in [t for t in batch if t.status == "pending"]:
            try:  # defined in full (as every process that trains it will): what the full analysis refuses is out
                registry.spec(t.canonical)
            except FormulaError as exc:
                t.status, t.reason = "rejected", f"refused: {str(exc).split(': ', 1)[-1]}"
                previous = done.get(t.index)
                t.finished = previous.finished if previous is not None else time.time()
                if previous is None or previous.status != t.status:
                    _record(store, settings, t)
        pending = [t for t in batch if t.status == "pending"]
        if pending:
            plan = prepare(p.model, p.dataset, [t.canonical for t in pending], seeds=1, epochs=p.epochs, lr=p.lr,
                           batch_size=p.batch_size, depth=p.depth, width=p.width, tag=PROXY_TAG,
                           learnable=settings.learnable)  # fmt: skip
            result = execute(plan, store, workers=workers, executor=executor, address=address, device=device)
            by_name = {r["config"]["activation"]: r["result"] for r in result.runs}
            for t in pending:
                res = by_name.get(t.canonical, {})
                t.metric = final_metric(res) if res else math.nan
                t.status = "trained" if res.get("status", "failed") == "ok" else "failed"
                if t.status == "failed":
                    t.reason = str(res.get("error") or res.get("status") or "no result")
                previous = done.get(t.index)
                t.finished = previous.finished if previous is not None and previous.status == t.status else time.time()
                if previous is None or previous.status != t.status or previous.metric != t.metric:
                    _record(store, settings, t)
        outcome.tried.extend(batch)
        if report is not None:
            report(outcome, "batch")
    outcome.seconds = time.perf_counter() - started
    if len(outcome.trained) < budget and report is not None:
        report(outcome, "exhausted")
    return outcome


def reevaluate(
    outcome: Outcome,
    store: Any,
    *,
    finalists: int = 3,
    seeds: int = 5,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    device: str = "cpu",
    proxy: Proxy | None = None,
) -> dict[str, Any]:
    """Train the best ``finalists`` again with ``seeds`` seeds, beside ReLU and SiLU, and test each
    against both with the paired statistics (Holm's correction over the finalists): a find is one that
    survives this, not the luckiest seed of the search.  ``proxy`` re-evaluates on another task."""
    from ..experiments.api import execute, prepare
    from ..experiments.comparison import analyse

    p = proxy or outcome.settings.proxy
    best = [t.canonical for t in outcome.leaderboard(finalists)]
    if not best:
        raise ActlabError("the search trained no candidate to re-evaluate")
    names = ["relu", "silu", *[b for b in best if b not in ("relu", "silu")]]
    plan = prepare(p.model, p.dataset, names, seeds=seeds, epochs=p.epochs, lr=p.lr, batch_size=p.batch_size,
                   depth=p.depth, width=p.width, tag=FINAL_TAG, baseline="relu",
                   learnable=outcome.settings.learnable)  # fmt: skip
    vs_relu = execute(plan, store, workers=workers, executor=executor, address=address, device=device)
    vs_silu = analyse(vs_relu.runs, activations=["silu", *names[2:], "relu"], baseline="silu")
    outcome.finals = {"relu": vs_relu, "silu": vs_silu, "finalists": names[2:], "task": asdict(p)}
    return outcome.finals


def _settings_from(text: str) -> Settings:
    """A search's settings as the store holds them (``json.dumps(asdict(settings))``)."""
    d = json.loads(text)
    proxy = Proxy(**d.pop("proxy"))
    for name in ("unary", "binary"):
        d[name] = tuple(d.get(name, ()))
    return Settings(**d, proxy=proxy)


def _stored_finals(outcome: Outcome, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The finalists' re-evaluation on the search's own proxy task as :func:`reevaluate` returned it, read back
    from the store's runs: the leaderboard's best that were re-evaluated beside ReLU and SiLU, tested against
    each; empty where the store holds no re-evaluation of this search."""
    from ..experiments.comparison import analyse
    from ..experiments.runner import arm_label, setting_key

    trained = {t.canonical for t in outcome.trained}
    proxy_run = next((r for r in runs if r["config"].get("tag") == PROXY_TAG and r["config"]["activation"] in trained),
                     None)  # fmt: skip
    if proxy_run is None:
        return {}
    # the re-evaluation trains on the proxy's very setting (data, model, budget), under its own tag
    setting = setting_key({**proxy_run["config"], "tag": FINAL_TAG})
    final = [r for r in runs if setting_key(r["config"]) == setting]
    arms = {arm_label(r["config"]) for r in final}
    names: list[str] = []
    for t in outcome.leaderboard(n=len(outcome.tried)):  # reevaluate's finalists: the leaderboard's first ones
        if t.canonical in ("relu", "silu"):
            continue
        if t.canonical not in arms:
            break
        names.append(t.canonical)
    if not names or not {"relu", "silu"} <= arms:
        return {}
    kept = [r for r in final if arm_label(r["config"]) in {"relu", "silu", *names}]
    return {
        "relu": analyse(kept, activations=["relu", "silu", *names], baseline="relu"),
        "silu": analyse(kept, activations=["silu", *names, "relu"], baseline="silu"),
        "finalists": names,
        "task": asdict(outcome.settings.proxy),
    }


def stored_searches(store: Any) -> list[Outcome]:
    """Every search in ``store``, read back without training anything: its candidates in order (the budget
    is what it trained) and, in ``finals``, its finalists' re-evaluation where the store holds one — what
    ``actlab report`` shows on its search page."""
    known = store._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_candidates'")
    if known.fetchone() is None:  # a store no search has written to: nothing to show, and nothing written to it
        return []
    runs = list(store.runs())
    settings = dict(store._db.execute("SELECT DISTINCT search, settings FROM search_candidates"))
    out = []
    for key, tried in recorded(store).items():
        outcome = Outcome(_settings_from(settings[key]), tried, sum(t.status == "trained" for t in tried))
        outcome.finals = _stored_finals(outcome, runs)
        out.append(outcome)
    return out
