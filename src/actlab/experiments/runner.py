"""Comparisons of activations on real data: one training run per (activation, seed), run in
parallel worker processes, each run committed to the results store when it finishes.

The unit of work is a pure function, :func:`run`, of a :class:`RunConfig`; the sweep maps it
over the configurations that the store does not already hold, through a
``concurrent.futures`` executor (a process pool here).  Any executor with the same interface
— Ray's ``ray.util.multiprocessing`` pool or a Dask client — can take its place to run the
same sweep on a cluster without changing the runner.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..catalog import registry
from ..errors import PluginError
from .store import ResultsStore


@dataclass(frozen=True)
class RunConfig:
    dataset: str
    model: str
    activation: str
    seed: int
    epochs: int = 10
    depth: int = 3
    width: int = 64
    lr: float = 1e-3
    batch_size: int = 128
    params: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:24]


_DATA: dict[tuple[str, int], Any] = {}


def _dataset(name: str) -> Any:
    from .datasets import load

    if (name, 0) not in _DATA:
        _DATA[(name, 0)] = load(name, seed=0)  # the split is fixed; the seed varies the training
    return _DATA[(name, 0)]


def run(config: RunConfig) -> dict[str, Any]:
    """Train one model and return its per-epoch history (deterministic for a configuration)."""
    import torch

    _leave_interrupts_to_the_driver()

    from ..torch._ops import compiling_expected

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread per run: runs are reproducible and workers do not compete
    try:
        with compiling_expected():  # a fused kernel compiling is part of a run's time, shown by the sweep's bar
            return _train(config)
    finally:
        torch.set_num_threads(threads)


def _train(config: RunConfig) -> dict[str, Any]:
    import torch
    from torch import nn

    from ..torch.init import init_
    from ..torch.monitor import ActivationMonitor
    from .models import build

    torch.manual_seed(config.seed)
    xtr, ytr, xte, yte = _dataset(config.dataset)
    classes = int(max(ytr.max(), yte.max())) + 1
    model = build(config.model, tuple(xtr.shape[1:]), classes, config.activation, config.depth, config.width)
    init_(model, config.activation)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    history = []
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(xtr), generator=gen)
        with ActivationMonitor(model, window=max(1, len(xtr) // config.batch_size)) as monitor:
            for i in range(0, len(xtr), config.batch_size):
                idx = order[i : i + config.batch_size]
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
                loss.backward()
                opt.step()
            layers = monitor.summary()
        model.eval()
        with torch.no_grad():
            tr_out, te_out = model(xtr), model(xte)
            row = {
                "epoch": epoch,
                "train_loss": nn.functional.cross_entropy(tr_out, ytr).item(),
                "train_acc": (tr_out.argmax(1) == ytr).double().mean().item(),
                "test_loss": nn.functional.cross_entropy(te_out, yte).item(),
                "test_acc": (te_out.argmax(1) == yte).double().mean().item(),
                "dead": float(np.mean([s.dead_fraction for s in layers])),
                "grad_first_over_last": layers[0].grad_norm / layers[-1].grad_norm
                if layers[-1].grad_norm
                else math.nan,
                "seconds": time.perf_counter() - start,
            }
        history.append(row)
    return {"history": history, "final": history[-1]}


def configs(
    dataset: str,
    model: str,
    activations: Iterable[str],
    seeds: int,
    **settings: Any,
) -> list[RunConfig]:
    return [RunConfig(dataset, model, a, s, **settings) for a in activations for s in range(seeds)]


def sweep(
    todo: list[RunConfig],
    store: ResultsStore,
    *,
    workers: int = 2,
    progress: Callable[[int, int, RunConfig], None] | None = None,
    running: Callable[[list[RunConfig]], None] | None = None,
) -> int:
    """Run the configurations the store does not hold; commit each as it finishes. Returns how many ran.

    ``progress(i, total, config)`` is called as each run finishes (the ``i``-th of ``total``);
    ``running(configs)`` whenever the set of runs at work changes (runs are handed to the workers
    one at a time, as each finishes, so that this set is what is training)."""
    done = store.finished()
    pending = [c for c in todo if c.key() not in done]
    total = len(pending)
    if not pending:
        return 0
    if workers <= 1:
        for i, c in enumerate(pending, 1):
            if running:
                running([c])
            store.add(c.key(), asdict(c), run(c))
            if progress:
                progress(i, total, c)
        return total
    # forkserver: workers fork from a clean server that has imported torch once (cheap starts),
    # never from this process, whose torch may have started threads
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "actlab.experiments.runner"])
    queue = iter(pending)
    start: dict[str, Any] = {"initializer": _start_worker, "initargs": (_worker_sources(pending),)}
    _start_forkserver_deaf_to_interrupts()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, **start) as pool:
        futures: dict[Future[dict[str, Any]], RunConfig] = {}

        def hand_out() -> None:
            for c in itertools.islice(queue, workers - len(futures)):
                futures[pool.submit(_run_in_worker, c)] = c
            if running and futures:
                running(list(futures.values()))

        try:
            hand_out()
            i = 0
            while futures:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for fut in finished:
                    c = futures.pop(fut)
                    result = fut.result()  # a run that raised ends the sweep; the runs finished so far are kept
                    store.add(c.key(), asdict(c), result)
                    i += 1
                    if progress:
                        progress(i, total, c)
                hand_out()
        except KeyboardInterrupt:
            _stop_workers(pool)
            raise
    return total


def _start_forkserver_deaf_to_interrupts() -> None:
    """Start the fork server with Ctrl-C ignored: an ignored signal stays ignored across exec (Python then
    installs no handler of its own), so neither the server — importing torch for seconds, where Ctrl-C would
    print its traceback — nor the workers it forks hear it; the driver alone answers.  Ctrl-C is ignored here
    only while the server process is spawned."""
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _leave_interrupts_to_the_driver() -> None:
    """In a worker process, ignore Ctrl-C (SIGINT, sent to the whole process group): the driver alone
    answers it, stopping the workers and saying what is kept, so no worker prints a traceback."""
    if multiprocessing.parent_process() is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: cancel the runs not started and end the workers' runs in progress (their results
    would come too late to be kept), instead of waiting for them as leaving the ``with`` block would."""
    from multiprocessing import forkserver

    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    # the fork server too: still importing torch, it would fork the workers asked for once done, and they
    # would fail (their driver gone) with a traceback; the next sweep starts a new one
    server = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if server is not None:
        try:
            os.kill(server, signal.SIGTERM)
        except OSError:
            pass
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=10)


# --- worker start-up: each worker loads the driver's plugins, so that it sees the same catalog ---

_worker_error: str | None = None  # why this worker could not load the driver's plugins


def _worker_sources(pending: list[RunConfig]) -> tuple[registry.PluginSource, ...]:
    """What each worker loads at start-up (:func:`registry.plugin_sources`).

    Raises :class:`PluginError` before any work starts when an activation to train exists
    only in this process (registered by a script's ``__main__``, a notebook, a function):
    a worker can load a module again, but not the code that ran here.
    """
    local = registry.unshippable({c.activation for c in pending})
    if local:
        raise PluginError(unshippable_message(local))
    return registry.plugin_sources()


def unshippable_message(local: list[str]) -> str:
    """Why activations registered in this process only cannot be trained by worker processes, and what to do."""
    return (
        f"{', '.join(repr(n) for n in local)} was registered in this process only (not on import of a module), "
        "so worker processes cannot load it: put the register(...) call in a module and load that "
        "(--plugin MODULE, actlab.load_plugin or an import), or run with --workers 1"
    )


def _start_worker(sources: tuple[registry.PluginSource, ...]) -> None:
    """Pool initializer: load the driver's plugin sources, so that the worker's catalog is the driver's.

    Any executor that runs an initializer (Ray, Dask) can start its workers the same way.  A
    failure is kept and raised by every task: an initializer that raises breaks the pool with
    a traceback on stderr instead of an error the driver can report.
    """
    global _worker_error
    try:
        registry.load_sources(sources)
    except Exception as exc:
        _worker_error = f"a worker process could not load the plugins: {exc}"


def _run_in_worker(config: RunConfig) -> dict[str, Any]:
    """:func:`run` in a worker started by :func:`_start_worker`."""
    if _worker_error is not None:
        raise PluginError(_worker_error)
    return run(config)


def summarise(store: ResultsStore, todo: list[RunConfig]) -> list[dict[str, Any]]:
    """Mean ± 95% confidence interval of the final test accuracy per activation, ranked."""
    from scipy import stats  # here, not at the top: a command checks its arguments without it (a second)

    wanted = {c.key(): c for c in todo}
    by_activation: dict[str, list[float]] = {}
    for r in store.runs():
        c = wanted.get(r["key"])
        if c is not None:
            by_activation.setdefault(c.activation, []).append(r["result"]["final"]["test_acc"])
    rows = []
    for name, accs in by_activation.items():
        a = np.array(accs)
        half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else math.nan
        rows.append({"activation": name, "runs": len(a), "test_acc": float(a.mean()), "ci95": half})
    rows.sort(key=lambda r: -r["test_acc"])
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
    return rows
