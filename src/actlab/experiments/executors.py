"""Where a sweep's runs train: ``local`` worker processes (:func:`actlab.experiments.runner.sweep`'s own
pool) or ``ray``, a Ray cluster (``pip install 'actlab[cluster]'``).

On Ray each run is one remote task asking for one CPU (and one GPU when its device needs one); the task
loads the driver's plugins and the objects given to ``compare`` before it trains, as a local worker's
initializer does.  The driver alone commits each finished run to the store, as it arrives, so a sweep
stopped at any moment keeps what finished and the same command resumes it.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import socket
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from ..errors import ActlabError
from .store import ResultsStore

EXECUTORS = ("local", "ray")

INSTALL = "pip install 'actlab[cluster]'"

_ADDRESS = re.compile(r"^(?:ray://)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")


def check_executor(
    executor: str, address: str | None, what: str = "executor", where: str = "address", *, reach: bool = True
) -> None:
    """Refuse an unknown executor, an address without Ray, Ray when it is not installed, and an address that
    is not ``HOST:PORT`` or (``reach``) where nothing answers: one line each."""
    import importlib.util

    if executor not in EXECUTORS:
        raise ActlabError(f"{what} must be one of {', '.join(EXECUTORS)}; got {executor!r}")
    if executor != "ray":
        if address is not None:
            raise ActlabError(f"{where} is a Ray cluster's: give it with {what} ray")
        return
    try:
        found = importlib.util.find_spec("ray") is not None
    except ValueError:  # a module set to None in sys.modules: not importable
        found = False
    if not found:
        raise ActlabError(f"{what} ray needs Ray: {INSTALL}")
    if address is not None:
        check_address(address, reach=reach)


def check_address(address: str, timeout: float = 5.0, *, reach: bool = True) -> None:
    """A Ray cluster's address, ``HOST:PORT`` (``ray://HOST:PORT`` for Ray Client, or ``auto``), reachable.

    Checked with one TCP connection: Ray itself, given an address where no cluster answers, retries for
    minutes with warnings on stderr before it gives up."""
    if address == "auto":
        return
    m = _ADDRESS.match(address)
    if m is None or not 0 < int(m["port"]) < 65536:
        raise ActlabError(f"the Ray address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379, the head's ray start)")
    if not reach:
        return
    host = m["host"].strip("[]")
    try:
        with socket.create_connection((host, int(m["port"])), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ActlabError(
            f"no Ray cluster answers at {address} ({reason}): start one there with `ray start --head`, "
            "or check the address"
        ) from None


def gpus_for(config: Any, runtime: Any = None, cluster_gpus: float = 0) -> int:
    """The GPUs one run's task asks for, as its device decides: one for ``cuda``/``cuda:N``, and for
    ``auto`` one when the cluster has any (the worker then resolves ``auto`` to its GPU)."""
    device = str(getattr(runtime, "device", None) or getattr(config, "device", "cpu") or "cpu")
    if device == "auto":
        return 1 if cluster_gpus else 0
    return 1 if device.startswith("cuda") else 0


# --- in a Ray worker ---

_started: set[str] = set()  # the set-ups (plugin sources and objects) this worker process has loaded


def _train_task(config: Any, setup: tuple[Any, bytes], digest: str, runtime: Any = None) -> dict[str, Any]:
    """One run in a Ray worker: the driver's plugins and objects loaded once per worker process, then the run."""
    from . import runner

    if digest not in _started:
        runner._worker_error = None
        runner._start_worker(*setup)
        _started.add(digest)
    return runner._run_in_worker(config, runtime)


# --- in the driver ---


def ray_sweep(
    pending: list[Any],
    store: ResultsStore,
    *,
    workers: int,
    address: str | None = None,
    progress: Callable[[int, int, Any], None] | None = None,
    running: Callable[[list[Any]], None] | None = None,
    runtime: Any = None,
) -> int:
    """Train ``pending`` (configurations the store lacks) as Ray tasks; commit each as it finishes.

    ``runtime`` (:class:`actlab.experiments.runner.Runtime`) goes with every task: the device (a task
    asks for a GPU when its device is one, or ``auto`` on a cluster that has GPUs) and the checkpoints.

    Without ``address`` a local Ray instance with ``workers`` CPUs is started and shut down at the end;
    with one, the sweep connects to that cluster and keeps as many runs at work as it has CPUs.  In a
    process already connected to Ray (``ray.init`` called before), that connection is used and kept.
    Ctrl-C cancels the runs at work and raises :class:`KeyboardInterrupt`; the store keeps what finished."""
    import pickle

    from . import runner

    check_executor("ray", address)
    import ray
    from ray.exceptions import RayError, RayTaskError

    setup = (runner._worker_sources(pending), runner._shipped_objects(pending))
    digest = hashlib.sha256(pickle.dumps(setup)).hexdigest()
    ours = not ray.is_initialized()
    if ours:
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        if address is None:
            workers = min(workers, len(pending))
            ray.init(num_cpus=workers, include_dashboard=False, **quiet)
        else:
            try:
                ray.init(address=address, **quiet)
            except ConnectionError as exc:
                raise ActlabError(
                    f"could not connect to the Ray cluster at {address}: {runner._one_line(exc)}"
                ) from None
    try:
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        gpus = max(gpus_for(c, runtime, cluster_gpus) for c in pending)
        if gpus and ray.cluster_resources().get("GPU", 0) < gpus:  # the task would wait for one for ever
            raise ActlabError("runs on a GPU need one in the Ray cluster; it has none (ray start --num-gpus N)")
        task = ray.remote(_train_task)
        setup_ref = ray.put(setup)
        queue = iter(pending)
        refs: dict[Any, Any] = {}
        total = len(pending)

        def slots() -> int:
            if address is None and ours:
                return workers
            return max(1, int(ray.cluster_resources().get("CPU", workers)))

        def hand_out() -> None:
            free = slots() - len(refs)
            for c in itertools.islice(queue, max(free, 0)):
                asks = {"num_cpus": 1, "num_gpus": gpus_for(c, runtime, cluster_gpus)}
                refs[task.options(**asks).remote(c, setup_ref, digest, runtime)] = c
            if running and refs:
                running(list(refs.values()))

        try:
            hand_out()
            i = 0
            while refs:
                [ready], _ = ray.wait(list(refs), num_returns=1)
                c = refs.pop(ready)
                try:
                    result = ray.get(ready)
                except RayTaskError as exc:  # a run that raised ends the sweep (as locally); finished runs are kept
                    if isinstance(exc.cause, ActlabError):
                        raise exc.cause from None
                    raise ActlabError(
                        f"{c.activation} seed {c.seed} raised on the Ray cluster: {runner._one_line(exc.cause)}"
                    ) from None
                except RayError as exc:
                    raise ActlabError(
                        f"{c.activation} seed {c.seed} was lost on the Ray cluster: {runner._one_line(exc)}"
                    ) from None
                store.add(c.key(), asdict(c), result)
                i += 1
                if progress:
                    progress(i, total, c)
                hand_out()
        finally:  # Ctrl-C or an error: the runs at work are stopped; their results would come too late
            for ref in refs:
                ray.cancel(ref, force=True)
        return total
    finally:
        if ours:
            ray.shutdown()
