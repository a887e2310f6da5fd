"""``actlab.experiments.compare``: does the activation matter for *this* model, and which one to use?

One call trains a model once per (activation, seed) on the same data — a paired design: for a seed,
every activation sees the same minibatch order and the same initial draw of every weight
(:mod:`actlab.experiments.seeds`) — commits each run to the results store as it finishes (a second
call skips what is there, an interrupted one resumes), and returns the paired statistics against a
baseline (:mod:`actlab.experiments.stats`).  ``actlab compare`` is this function.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import registry
from ..errors import ActlabError
from . import runner
from .comparison import Comparison, analyse
from .runner import BUILTIN_MODELS, OPTIMIZERS, RunConfig, _describe, _one_line
from .store import DEFAULT_PATH, ResultsStore


def _object_ref(kind: str, obj: Any, fingerprint: str) -> str:
    """A ``python:KIND:NAME:HASH`` reference for an object handed over in this process."""
    name = getattr(obj, "__qualname__", None) or type(obj).__name__
    ref = f"python:{kind}:{name}:{fingerprint}"
    runner._OBJECTS[ref] = obj
    return ref


def _callable_fingerprint(fn: Any) -> str:
    """What identifies a function: where it is defined and its source (so that an edit is a new model)."""
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        source = repr(code.co_code) if code is not None else repr(fn)
    return hashlib.sha256(f"{_describe(fn)}\n{source}".encode()).hexdigest()[:12]


def _module_fingerprint(module: Any) -> str:
    """What identifies a model given as a module: its architecture and its parameters' shapes."""
    shapes = [(n, tuple(p.shape)) for n, p in module.named_parameters()]
    return hashlib.sha256(f"{module!r}\n{shapes}".encode()).hexdigest()[:12]


def model_ref(model: Any) -> str:
    """A configuration's ``model`` for a built-in name, an import path, a module or a factory."""
    if isinstance(model, str):
        return model
    from torch import nn

    if isinstance(model, nn.Module):
        return _object_ref("model", model, _module_fingerprint(model))
    if callable(model):
        return _object_ref("model", model, _callable_fingerprint(model))
    raise ActlabError(
        f"model must be 'mlp', 'cnn', an import path package.module:factory, an nn.Module or a factory "
        f"activation -> nn.Module; got {type(model).__name__}"
    )


def data_ref(data: Any, batch_size: int) -> str:
    """A configuration's ``dataset`` for a built-in name, an import path or data in any accepted form."""
    if isinstance(data, str):
        return data
    from .data import as_data

    d = as_data(data, batch_size)
    form = "tensors" if d.tensors else "DataLoaders" if d.loaders else "datasets"
    ref = f"python:data:{form}:{d.fingerprint()}"
    runner._OBJECTS[ref] = d
    runner._DATA[(ref, batch_size)] = d
    return ref


def _task_ref(
    task: Any, loss: Any, metric: Any, metric_name: str | None, higher_is_better: bool | None, data: Any
) -> str:
    from .tasks import TASKS, Task, custom, infer, resolve

    if isinstance(task, Task) and (loss is not None or metric is not None):
        raise ActlabError("give a Task, or loss=/metric=, not both")
    if task is None:
        _, y = data.first_batch()
        task = infer(y)
    base = resolve(task)
    if loss is None and metric is None:
        return (
            base.name if base.name in TASKS and TASKS[base.name] is base else _object_ref("task", base, _task_fp(base))
        )
    t = custom(loss, metric, base, metric_name=metric_name, higher_is_better=higher_is_better)
    fp = hashlib.sha256(
        f"{base.name}{_callable_fingerprint(loss) if loss else ''}{_callable_fingerprint(metric) if metric else ''}"
        f"{t.metric_name}{t.higher_is_better}".encode()
    ).hexdigest()[:12]
    return _object_ref("task", t, fp)


def _task_fp(t: Any) -> str:
    return hashlib.sha256(
        f"{t.name}{t.metric_name}{t.higher_is_better}{_callable_fingerprint(t.loss)}{_callable_fingerprint(t.metric)}".encode()
    ).hexdigest()[:12]


def _optimizer_ref(optimizer: Any) -> str:
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS and ":" not in optimizer:
            from ..errors import suggest

            raise ActlabError(
                f"unknown optimizer {optimizer!r}{suggest(optimizer, OPTIMIZERS)}; choose from "
                f"{', '.join(OPTIMIZERS)}, or give a function (parameters, lr) -> optimizer"
            )
        return optimizer
    if callable(optimizer):
        return _object_ref("optimizer", optimizer, _callable_fingerprint(optimizer))
    raise ActlabError(f"optimizer must be a name or a function (parameters, lr) -> optimizer; got {optimizer!r}")


GATED_MODELS = ("transformer",)
"""Built-in models whose activation site is a feed-forward block that takes a gated activation too."""


def activation_names(activations: Iterable[str] | str, model: str = "mlp") -> list[str]:
    """The catalog names of the activations to compare, each once: elementwise ones, and for a model in
    :data:`GATED_MODELS` the gated family too (SwiGLU, GEGLU, …, in its feed-forward blocks)."""
    from ..formula.source import split_names

    given = split_names(activations) if isinstance(activations, str) else list(activations)
    given = [a for a in given if a]
    if not given:
        raise ActlabError("activations: give at least one name (e.g. ['relu', 'gelu'])")
    kinds = ("elementwise", "gated") if model in GATED_MODELS else ("elementwise",)
    names: list[str] = []
    for a in given:
        spec = registry.spec(a)
        if spec.kind not in kinds:
            article = "an" if spec.kind[0] in "aeiou" else "a"
            where = "" if model in GATED_MODELS else "; the transformer model also takes gated ones"
            raise ActlabError(
                f"compare trains {' and '.join(kinds)} activations; {spec.name} is {article} {spec.kind} activation "
                f"(`actlab list --kind elementwise` shows those it can train{where})"
            )
        if _name(spec) not in names:
            names.append(_name(spec))
    return names


def _name(spec: Any) -> str:
    """How a comparison names an activation: its catalog name, or an unnamed formula's text."""
    source = getattr(spec, "formula_source", None)
    return source.text if source is not None and spec.name.startswith("formula_") else spec.name


def _formula_of(name: str) -> str:
    """The stored definition of a formula activation (empty for the catalog's and plugins' entries)."""
    source = getattr(registry.spec(name), "formula_source", None)
    return source.as_json() if source is not None else ""


def baseline_name(baseline: str | None, names: Sequence[str]) -> str:
    """The baseline's catalog name: one of the activations compared (default the first)."""
    if baseline is None:
        return names[0]
    spec = registry.spec(baseline)  # an unknown name: the catalog's did-you-mean error
    if _name(spec) not in names:
        raise ActlabError(
            f"the baseline {_name(spec)} is not among the activations compared ({', '.join(names)}); "
            "add it to the activations or choose one of them"
        )
    return _name(spec)


def preflight(config: RunConfig) -> None:
    """Build the first run's model and score one batch, so that a factory that raises, a model with no
    activation to swap, or data of the wrong shape is one error before any training."""
    import torch

    data = runner.dataset(config.dataset, config.batch_size)
    t = runner.task(config)
    model = runner.build_model(config, data)
    x, y = data.first_batch()
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:8] if hasattr(x, "__getitem__") else x)
    except Exception as exc:
        shape = tuple(getattr(x, "shape", ()))
        raise ActlabError(
            f"the model cannot take the data: on a batch of inputs of shape {shape} it raised {_one_line(exc)}"
        ) from None
    t.check(out, y[:8] if hasattr(y, "__getitem__") else y)


def compare(
    model: Any = "mlp",
    data: Any = "mnist1d",
    activations: Iterable[str] | str = ("relu", "gelu", "silu"),
    *,
    seeds: int = 5,
    epochs: int | None = None,
    baseline: str | None = None,
    task: Any = None,
    loss: Callable[..., Any] | None = None,
    metric: Callable[..., Any] | None = None,
    metric_name: str | None = None,
    higher_is_better: bool | None = None,
    optimizer: Any = "adam",
    lr: float = 1e-3,
    batch_size: int = 128,
    depth: int | None = None,
    width: int | None = None,
    tag: str = "",
    precision: str = "32",
    db: str | Path | None = DEFAULT_PATH,
    workers: int = 1,
    device: str = "auto",
    keep_checkpoints: bool = False,
    progress: Callable[[int, int, RunConfig], None] | None = None,
    running: Callable[[list[RunConfig]], None] | None = None,
    alpha: float = 0.05,
    executor: str = "local",
    address: str | None = None,
) -> Comparison:
    """Train ``model`` with each activation for ``seeds`` seeds and test each against ``baseline``.

    model: ``"mlp"``, ``"cnn"``, ``"resnet"`` or ``"transformer"`` (built in, sized by ``depth``/``width``,
        defaults in :data:`actlab.experiments.runner.MODEL_SIZES`, epochs in ``MODEL_EPOCHS``); a
        factory called with the activation module, returning the model (use the module, or copies,
        wherever the activation goes); an ``nn.Module`` whose elementwise activation modules are
        swapped for each activation (a deep copy per run, every submodule's ``reset_parameters``
        re-drawn per seed); or an import path ``"package.module:factory"``.
    data: a built-in dataset name (``mnist1d``, ``digits``, ``spirals``, ``moons``), an import path of
        a function returning data, or the data: ``(x_train, y_train, x_test, y_test)`` tensors,
        ``((x_train, y_train), (x_test, y_test))``, ``(train, test)`` datasets or DataLoaders.
    task: ``"classification"`` (accuracy), ``"regression"`` (MSE), ``"language_model"`` (bits per
        token) or a :class:`~actlab.experiments.tasks.Task`; by default what the targets imply.
        ``loss(output, target)`` and ``metric(output, target)`` (a batch mean, with
        ``higher_is_better``) replace the task's own.
    optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` (momentum 0.9) or a function (parameters, lr).
    tag: your version of the model and data code; the store's keys include it, the import paths, the
        fingerprints of objects (a function's source, a module's architecture, a hash of tensors), so
        that runs of changed code are not taken for finished ones.
    precision: ``"32"`` (float32), ``"bf16"`` or ``"16"``: the forward pass autocast to bfloat16 or
        float16 (with a gradient scaler on CUDA); part of the runs' keys, as it changes the results.
    db: the results file (``None``: kept in memory only).  workers: processes training at once (the
        objects given must then be importable by them: defined at the top level of a module).
    device: ``"auto"`` (CUDA if there is one, else MPS, else the CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``; not part of the keys (each run records what it ran on).
    keep_checkpoints: keep the checkpoints of finished runs.  Runs of 3 epochs or more save one after
        each epoch in ``<db>.checkpoints`` and resume from it when killed
        (:mod:`actlab.experiments.checkpoints`); finished runs remove theirs unless kept.
    executor: ``"local"`` (worker processes here) or ``"ray"`` (Ray tasks: a local Ray instance of
        ``workers`` CPUs, or the cluster at ``address``, ``"HOST:6379"``; ``pip install 'actlab[cluster]'``).

    Returns a :class:`~actlab.experiments.comparison.Comparison`: ``print(result.text())`` for the
    table with verdicts, ``result.rows()`` and ``result.paired`` for the numbers, ``result.runs`` for
    every run's record.
    """
    plan = prepare(
        model, data, activations, seeds=seeds, epochs=epochs, baseline=baseline, task=task, loss=loss,
        metric=metric, metric_name=metric_name, higher_is_better=higher_is_better, optimizer=optimizer, lr=lr,
        batch_size=batch_size, depth=depth, width=width, tag=tag, precision=precision,
    )  # fmt: skip
    if executor != "ray" or address is None:  # a cluster's machines resolve the device where they train
        runner.check_precision_on(runner.resolve_device(device), plan.todo[0].precision)  # before the store is made
    with ResultsStore(db) if db is not None else ResultsStore.memory() as store:
        return execute(
            plan, store, workers=workers, device=device, keep_checkpoints=keep_checkpoints, progress=progress,
            running=running, alpha=alpha, executor=executor, address=address,
        )  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """A comparison checked and ready: its runs, its activations in order, its baseline."""

    todo: list[RunConfig]
    names: list[str]
    baseline: str

    def pending(self, store: ResultsStore) -> int:
        done = store.finished()
        return sum(c.key() not in done for c in self.todo)


def prepare(
    model: Any = "mlp",
    data: Any = "mnist1d",
    activations: Iterable[str] | str = ("relu", "gelu", "silu"),
    *,
    seeds: int = 5,
    epochs: int | None = None,
    baseline: str | None = None,
    task: Any = None,
    loss: Callable[..., Any] | None = None,
    metric: Callable[..., Any] | None = None,
    metric_name: str | None = None,
    higher_is_better: bool | None = None,
    optimizer: Any = "adam",
    lr: float = 1e-3,
    batch_size: int = 128,
    depth: int | None = None,
    width: int | None = None,
    tag: str = "",
    precision: str = "32",
    learnable: bool = False,
) -> Plan:
    """Check every argument of :func:`compare` and make its runs' configurations (the data is loaded
    here: its fingerprint and the task it implies are part of the runs' keys)."""
    import math

    names = activation_names(activations, model if isinstance(model, str) else "")
    base = baseline_name(baseline, names)
    precision = runner.check_precision(precision)
    if epochs is None:  # each built-in model's own budget; 10 for a model of one's own
        epochs = runner.MODEL_EPOCHS.get(model if isinstance(model, str) else "", 10)
    for value, what in ((seeds, "seeds"), (epochs, "epochs"), (batch_size, "batch_size")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ActlabError(f"{what} must be a positive integer; got {value!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ActlabError(f"lr must be a positive learning rate (e.g. 1e-3); got {lr!r}")
    mref = model_ref(model)
    if mref not in BUILTIN_MODELS and ":" not in mref and "." not in mref:
        from ..errors import suggest

        raise ActlabError(
            f"unknown model {mref!r}{suggest(mref, BUILTIN_MODELS)}; choose from {', '.join(BUILTIN_MODELS)} "
            "or give an import path package.module:factory"
        )
    dref = data_ref(data, batch_size)
    d = runner.dataset(dref, batch_size)
    tref = _task_ref(task, loss, metric, metric_name, higher_is_better, d)
    oref = _optimizer_ref(optimizer)
    if mref in BUILTIN_MODELS:
        dd, ww = runner.MODEL_SIZES[mref]
        sizes = {"depth": dd if depth is None else depth, "width": ww if width is None else width}
    else:
        sizes = {"depth": 0, "width": 0}
    todo = [
        RunConfig(dref, mref, a, s, epochs=epochs, lr=float(lr), batch_size=batch_size, optimizer=oref, task=tref,
                  tag=tag, precision=precision, data_version=runner.data_version(dref, d),
                  formula=_formula_of(a), learnable=bool(learnable), **sizes)
        for a in names
        for s in range(seeds)
    ]  # fmt: skip
    return Plan(todo, names, base)


def execute(
    plan: Plan,
    store: ResultsStore,
    *,
    workers: int = 1,
    device: str = "auto",
    keep_checkpoints: bool = False,
    progress: Callable[[int, int, RunConfig], None] | None = None,
    running: Callable[[list[RunConfig]], None] | None = None,
    alpha: float = 0.05,
    executor: str = "local",
    address: str | None = None,
) -> Comparison:
    """Train the plan's runs that ``store`` lacks (after one check that model and data fit) and analyse.

    ``device`` is resolved here, once (``auto`` becomes what this machine has), and checked against the
    plan's precision; the runs' checkpoints go to ``<store file>.checkpoints`` (none for a store in
    memory), kept after a run finishes with ``keep_checkpoints``."""
    from .checkpoints import folder_for
    from .executors import check_executor

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ActlabError(f"workers must be a positive integer; got {workers!r}")
    check_executor(executor, address, reach=False)
    folder = folder_for(store.path)
    if executor == "ray" and address is not None:
        # a cluster's machines decide for themselves: ``auto`` is resolved by each run where it trains, and
        # checkpoints would be written on the machine that trains, out of the driver's reach: none there
        runtime = runner.Runtime(runner.check_device(device), None, False)
    else:
        resolved = runner.resolve_device(device)
        for precision in dict.fromkeys(c.precision for c in plan.todo):
            runner.check_precision_on(resolved, precision)
        runtime = runner.Runtime(resolved, str(folder.absolute()) if folder else None, bool(keep_checkpoints))
    if plan.pending(store):
        preflight(plan.todo[0])
    store.record_comparison(plan.todo[0].setting(), plan.names, plan.baseline)
    ran = runner.sweep(
        plan.todo, store, workers=workers, progress=progress, running=running, runtime=runtime, executor=executor,
        address=address,
    )  # fmt: skip
    if folder is not None and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()  # every run finished and removed its checkpoint: no empty folder left beside the store
    keys = {c.key() for c in plan.todo}
    runs = [r for r in store.runs() if r["key"] in keys]
    result = analyse(runs, activations=plan.names, baseline=plan.baseline, alpha=alpha)
    result.ran = ran
    return result
