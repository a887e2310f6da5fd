"""Comparisons of activations on real data: one training run per (activation, seed), run in
parallel worker processes, each run committed to the results store when it finishes.

The unit of work is a pure function, :func:`run`, of a :class:`RunConfig`; the sweep maps it
over the configurations that the store does not already hold, through a
``concurrent.futures`` executor (a process pool here), or as Ray tasks on a cluster
(:mod:`actlab.experiments.executors`, ``executor="ray"``), without changing the runs.

Where a run trains is not part of what it is: a :class:`Runtime` (the device, ``auto`` by default in
:func:`actlab.experiments.compare`; the checkpoint folder) goes with each run beside its
configuration, and the run records the device, the versions and the wall-clock time it took.  The
precision (float32, bfloat16 or float16 autocast) changes the results, so it is in the configuration.
Runs of several epochs save a checkpoint after each and resume from it when killed
(:mod:`actlab.experiments.checkpoints`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..catalog import registry
from ..errors import ActlabError, PluginError
from .seeds import derive
from .store import ResultsStore

if TYPE_CHECKING:
    from .data import Data


BUILTIN_MODELS = ("mlp", "cnn", "resnet", "transformer")
GAIN_INIT = ("mlp", "cnn", "resnet")
"""Built-in models whose Linear and convolution weights are drawn for the activation's gain
(:func:`actlab.torch.init.init_`); the transformer keeps its own (GPT-2) initialisation, drawn per
module path (``TransformerLM.init_weights(seed)``)."""
MODEL_EPOCHS = {"mlp": 10, "cnn": 10, "resnet": 20, "transformer": 3}
"""Each built-in model's default epochs: what trains it to a meaningful model in minutes per run on two
CPU cores (the ResNet 97% on MNIST-1D in 20; the transformer, 240 steps an epoch on pystdlib, about
2.3 bits per byte in 3)."""
MODEL_SIZES = {"mlp": (3, 64), "cnn": (3, 64), "resnet": (1, 16), "transformer": (2, 128)}
"""Each built-in model's default (depth, width): hidden layers and units of the MLP; the CNN's channels
(its depth is fixed); the ResNet's blocks per stage and first stage's channels; the transformer's layers
and model width."""
OPTIMIZERS = ("adam", "adamw", "sgd")
PRECISIONS = ("32", "bf16", "16")
"""Training precisions: float32; the forward pass autocast to bfloat16, or to float16 (with a gradient
scaler on CUDA)."""
DEVICES = "auto, cpu, cuda, cuda:N or mps"
DEVICE_FORMAT = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")


@dataclass(frozen=True)
class RunConfig:
    """One training run: everything that decides its result, and so its key in the results store.

    ``dataset`` and ``model`` are a built-in name (``mnist1d``, ``mlp``), an import path
    ``package.module:attribute`` that every process can import, or ``python:…``, an object handed
    to :func:`actlab.experiments.compare` in this process (its fingerprint: the function's qualified
    name, the module's architecture, a hash of the data).  ``depth`` and ``width`` size the built-in
    models only.  ``tag`` is the user's version of code the key cannot see into: change it when the
    model or data code changes, and finished runs are not mistaken for the new code's.
    ``precision`` (:data:`PRECISIONS`) changes the results, so it is part of the key; the default,
    ``"32"``, is left out of the hash, so that runs stored before precision was a setting keep their
    keys.  ``data_version`` is the fingerprint of a built-in dataset whose contents depend on the
    machine (``pystdlib``: each Python's standard library is other text, see
    :data:`actlab.experiments.datasets.MACHINE_DEPENDENT`); empty, and left out of the hash, for the
    others.  A process whose data has another fingerprint refuses the run instead of training on
    other text.  ``formula`` is the definition of a formula activation
    (:meth:`actlab.formula.FormulaSource.as_json`; empty for the others): a worker defines it from there,
    and a name redefined as another formula is another run.  ``learnable`` makes every learnable
    parameter of the model's activations a weight trained with the rest (Swish's β, PReLU's slope).
    The device is not part of the configuration (:class:`Runtime`): the same experiment on other
    hardware is the same run.
    """

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
    optimizer: str = "adam"
    task: str = "classification"
    tag: str = ""
    precision: str = "32"
    data_version: str = ""
    formula: str = ""
    learnable: bool = False

    def key(self) -> str:
        return hashlib.sha256(json.dumps(_keyed(asdict(self)), sort_keys=True).encode()).hexdigest()[:24]

    def setting(self) -> str:
        """The key of the comparison this run belongs to: everything but the activation and the seed."""
        return setting_key(asdict(self))


def setting_key(config: dict[str, Any]) -> str:
    """A stored configuration's comparison: the hash of everything but what tells one arm from another
    (activation, parameters, a formula's definition) and the seed."""
    rest = {k: v for k, v in _keyed(config).items() if k not in ("activation", "params", "formula", "seed")}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:16]


def _keyed(config: dict[str, Any]) -> dict[str, Any]:
    """A configuration as it is hashed: settings added since runs were first stored are left out at their
    default, so that a stored run's key does not change."""
    return {
        k: v
        for k, v in config.items()
        if (k, v) not in (("precision", "32"), ("data_version", ""), ("formula", ""), ("learnable", False))
    }


def arm_label(config: dict[str, Any]) -> str:
    """An activation as a comparison names it: the catalog name, with its parameters where set."""
    params = config.get("params") or ()
    name = str(config["activation"])
    if not params:
        return name
    return f"{name}({', '.join(f'{k}={v}' for k, v in params)})"


# --- what a configuration names: models, data, tasks and optimizers, resolved in any process ---

_OBJECTS: dict[str, Any] = {}
"""Objects given to :func:`compare` in this process, by their ``python:…`` reference (sent to workers)."""

_DATA: dict[tuple[str, int], Any] = {}


def _import(ref: str, what: str) -> Any:
    """``package.module:attribute`` (or ``package.module.attribute``), imported."""
    import importlib

    module, sep, attr = ref.partition(":")
    if not sep:
        module, _, attr = ref.rpartition(".")
    if not module or not attr:
        raise ActlabError(f"{what} {ref!r} is neither a built-in name nor an import path package.module:name")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise ActlabError(f"{what} {ref!r}: cannot import {module} ({exc})") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ActlabError(f"{what} {ref!r}: {module} has no attribute {attr!r}") from None
    return obj


def resolve(ref: str, what: str) -> Any:
    """The object a configuration's ``model``, ``dataset``, ``task`` or ``optimizer`` names."""
    if ref.startswith("python:"):
        if ref not in _OBJECTS:
            raise ActlabError(f"{what} {ref} was given to compare() in another process; pass it again")
        return _OBJECTS[ref]
    return _import(ref, what)


def dataset(ref: str, batch_size: int = 128) -> Data:
    """A configuration's data: a built-in dataset, a loader imported and called, or an object."""
    from .data import as_data
    from .datasets import DATASETS, load

    if (ref, batch_size) not in _DATA:
        if ref in DATASETS:
            raw: Any = load(ref, seed=0)  # the split is fixed; the seed varies the training
        else:
            raw = resolve(ref, "dataset")
            if callable(raw) and not isinstance(raw, (tuple, list)):
                try:
                    raw = raw()
                except Exception as exc:
                    raise ActlabError(f"the dataset loader {ref} raised {_one_line(exc)}") from None
        _DATA[(ref, batch_size)] = as_data(raw, batch_size)
    return _DATA[(ref, batch_size)]


def data_version(ref: str, data: Data) -> str:
    """The ``data_version`` of a run on ``ref``: its data's fingerprint where the built-in dataset's
    contents depend on the machine, else empty."""
    from .datasets import MACHINE_DEPENDENT

    return data.fingerprint()[:16] if ref in MACHINE_DEPENDENT else ""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _elementwise_site(module: Any) -> bool:
    from ..torch.surgery import site_of

    site = site_of(module)
    return site is not None and site.kind == "elementwise"


def build_model(config: RunConfig, data: Data) -> Any:
    """The model of a run, its weights drawn from the run's shared streams (:func:`_build_model`); with
    ``config.learnable``, each activation module that has learnable parameters holds them as weights."""
    model = _build_model(config, data)
    if config.learnable:
        _make_learnable(model)
    return model


def _make_learnable(model: Any) -> int:
    """Swap each actlab activation module with learnable parameters for one that learns them (starting
    at the same values); the number swapped."""
    from ..torch import Activation

    swapped = 0
    for path, m in list(model.named_modules()):
        if isinstance(m, Activation) and not m.learned and any(q.learnable for q in m.spec.params):
            parent, _, child = path.rpartition(".")
            owner = model.get_submodule(parent) if parent else model
            setattr(owner, child, Activation(m.spec.name, learnable=True, exact=m.exact, **m.params))
            swapped += 1
    return swapped


def _build_model(config: RunConfig, data: Data) -> Any:
    """The model of a run, its weights drawn from the run's shared streams.

    Built-in models: every Linear and convolution drawn from (seed, "init", module path) and
    scaled by the activation's gain (:func:`actlab.torch.init.init_`).  A factory is called with
    the activation module once PyTorch's generator is seeded from (seed, "build"); a model given
    as a module is deep-copied and its elementwise activation modules swapped
    (:func:`actlab.torch.replace_activations`).  Then every submodule with ``reset_parameters``
    is reset from (seed, "init", its path): a parameter of the same path and shape gets the same
    draw under every activation.
    """
    import copy

    import torch
    from torch import nn

    from ..torch import Activation
    from ..torch.init import init_
    from ..torch.surgery import replace_activations
    from .models import build

    params = dict(config.params)
    torch.manual_seed(derive(config.seed, "build"))
    if config.model in BUILTIN_MODELS:
        if not data.tensors:
            raise ActlabError(f"the built-in {config.model} model trains on tensors; give a factory for other data")
        xtr, ytr = data.train.tensors
        _, yte = data.test.tensors
        classes = int(max(ytr.max(), yte.max())) + 1
        model = build(config.model, tuple(xtr.shape[1:]), classes, config.activation, config.depth, config.width)
        if config.model in GAIN_INIT:
            for path, m in model.named_modules():
                if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                    torch.manual_seed(derive(config.seed, "init", path))
                    init_(m, config.activation, **params)
            return model
        model.init_weights(config.seed)  # the transformer's own (GPT-2) scheme, drawn per module path
        return model
    obj = resolve(config.model, "model")
    if isinstance(obj, nn.Module):
        model = copy.deepcopy(obj)
        swapped = replace_activations(model, _elementwise_site, config.activation, **params)
        if not swapped:
            raise ActlabError(
                f"the model {type(obj).__name__} has no elementwise activation module to swap "
                "(activations called as functions, F.relu in forward, cannot be swapped: give a factory)"
            )
    elif callable(obj):
        act = Activation(config.activation, **params)
        try:
            model = obj(act)
        except Exception as exc:
            raise ActlabError(f"the model factory {_describe(obj)} raised {_one_line(exc)}") from None
        if not isinstance(model, nn.Module):
            raise ActlabError(f"the model factory {_describe(obj)} returned {type(model).__name__}, not an nn.Module")
        if not any(isinstance(m, Activation) and m.name == act.name for m in model.modules()):
            raise ActlabError(
                f"the model factory {_describe(obj)} did not put the activation module it was given in the "
                "model (use it, or a copy, wherever the activation goes)"
            )
    else:
        raise ActlabError(f"model must be an nn.Module or a factory activation -> nn.Module; got {type(obj).__name__}")
    return _reset(model, config.seed)


def _reset(model: Any, seed: int) -> Any:
    """Every submodule with ``reset_parameters`` re-drawn from (seed, "init", its path)."""
    import torch

    from ..torch import Activation

    for path, m in model.named_modules():
        if hasattr(m, "reset_parameters") and not isinstance(m, Activation):
            torch.manual_seed(derive(seed, "init", path))
            m.reset_parameters()
    return model


def _describe(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def optimizer(config: RunConfig, parameters: Any) -> Any:
    import torch

    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=0.9)
    make = resolve(config.optimizer, "optimizer")
    return make(parameters, config.lr)


def task(config: RunConfig) -> Any:
    from .tasks import TASKS, Task

    if config.task in TASKS:
        return TASKS[config.task]
    t = resolve(config.task, "task")
    if not isinstance(t, Task):
        raise ActlabError(f"task {config.task} is a {type(t).__name__}, not an actlab.experiments.tasks.Task")
    return t


# --- where a run trains: devices and precisions ---


def check_device(device: Any) -> str:
    """``device`` if it is written as one (:data:`DEVICES`), checked without importing PyTorch."""
    if not isinstance(device, str) or not DEVICE_FORMAT.fullmatch(device):
        raise ActlabError(f"device must be {DEVICES}; got {device!r}")
    return device


def check_precision(precision: Any) -> str:
    """``precision`` as one of :data:`PRECISIONS` (``32`` and ``16`` may be given as numbers)."""
    text = str(precision) if isinstance(precision, int) and not isinstance(precision, bool) else precision
    if text not in PRECISIONS:
        raise ActlabError(f"precision must be {', '.join(PRECISIONS)} (float32, bfloat16, float16); got {precision!r}")
    return str(text)


def available_devices() -> list[str]:
    """The devices this machine has, described: ``cpu``, ``cuda:0 (NVIDIA H200)``…, ``mps``."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [describe_device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
    if _mps_available():
        found.append("mps")
    return found


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str) -> str:
    """The device a run trains on, from :data:`DEVICES`: ``auto`` is CUDA if there is one, else MPS, else
    the CPU; ``cuda`` is ``cuda:0``.  A device this machine lacks is one error naming those it has."""
    import torch

    check_device(device)
    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if device == "cpu":
        return device
    if device == "mps":
        ok = _mps_available()
    else:
        index = int(device.partition(":")[2] or 0)
        ok = torch.cuda.is_available() and index < torch.cuda.device_count()
        device = f"cuda:{index}"
    if not ok:
        raise ActlabError(f"device {device} is not available; this machine has {', '.join(available_devices())}")
    return device


def describe_device(device: str) -> str:
    """A resolved device as a run records it: ``cpu``, ``mps``, ``cuda:0 (NVIDIA H200)``."""
    if not device.startswith("cuda"):
        return device
    import torch

    return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"


def _dtype(precision: str) -> Any:
    import torch

    return {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[precision]


def check_precision_on(device: str, precision: str) -> None:
    """Refuse, in one line, a precision the resolved ``device`` cannot train in: one where this PyTorch's
    autocast does not compute a matrix product in the precision's type (float16 on the CPU of older
    PyTorch, bfloat16 on a GPU without it)."""
    import warnings

    import torch

    dtype = _dtype(check_precision(precision))
    if dtype is None:
        return
    kind = torch.device(device).type
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # autocast warns, and does nothing, for a type it does not support
            with torch.autocast(kind, dtype=dtype):
                x = torch.ones(2, 2, device=device)
                works = (x @ x).dtype == dtype
    except Exception:
        works = False
    if kind == "cuda" and dtype is torch.bfloat16:
        works = works and torch.cuda.is_bf16_supported()
    if not works:
        raise ActlabError(
            f"precision {precision} is not supported on {device} by PyTorch {torch.__version__}; "
            f"use {', '.join(p for p in PRECISIONS if p != precision)}"
        )


@dataclass(frozen=True)
class Runtime:
    """How a run is carried out, as opposed to what it computes (:class:`RunConfig`): not part of its key.

    ``device``: one of :data:`DEVICES` (``auto``: CUDA, else MPS, else the CPU).  ``checkpoints``: the
    folder of the run's checkpoints (:mod:`actlab.experiments.checkpoints`), None for none;
    ``keep_checkpoints``: keep a finished run's checkpoint instead of removing it.
    """

    device: str = "cpu"
    checkpoints: str | None = None
    keep_checkpoints: bool = False


def versions() -> dict[str, str]:
    """The versions a run's result depends on, recorded with it."""
    import platform

    import torch

    from .. import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "actlab": __version__,
        "numpy": np.__version__,
    }


def run(config: RunConfig, runtime: Runtime | None = None) -> dict[str, Any]:
    """Train one model and return its record: per-epoch history, final metrics, status, and what it ran on
    (``device``, ``versions``, ``wall_seconds``: the run's wall-clock time, its earlier attempts' included
    when it resumed from a checkpoint).

    Deterministic for a configuration on one device.  A run whose loss becomes NaN or infinite stops
    there with status ``"diverged"``; one that raises returns status ``"failed"`` with the error in one
    line (the sweep records it and goes on).  With ``runtime.checkpoints`` a run of
    :data:`~actlab.experiments.checkpoints.MIN_EPOCHS` epochs or more saves a checkpoint after each epoch
    and resumes from one it finds (:mod:`actlab.experiments.checkpoints`).
    """
    import torch

    _leave_interrupts_to_the_driver()

    from ..torch._ops import compiling_expected

    runtime = runtime or Runtime()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread per run: runs are reproducible and workers do not compete
    start = time.perf_counter()
    where: dict[str, Any] = {"device": runtime.device, "versions": versions()}
    try:
        device = resolve_device(runtime.device)
        check_precision_on(device, config.precision)
        where["device"] = describe_device(device)
        with compiling_expected():  # a fused kernel compiling is part of a run's time, shown by the sweep's bar
            return {**_train(config, runtime, device, start), **where}
    except Exception as exc:
        return {
            "status": "failed",
            "error": _one_line(exc),
            "history": [],
            "final": {"test_metric": None},
            "seconds": time.perf_counter() - start,
            "wall_seconds": time.perf_counter() - start,
            **where,
        }
    finally:
        torch.set_num_threads(threads)


_ON_DEVICE: dict[tuple[int, str], Any] = {}


def _on_device(data: Data, device: Any) -> Data:
    """Tensor data with its tensors on ``device``, moved once per process and device (batches of other data
    are moved as they come); the data itself on the CPU."""
    if device.type == "cpu" or not data.tensors:
        return data
    from torch.utils.data import TensorDataset

    from .data import Data

    key = (id(data), str(device))
    if key not in _ON_DEVICE:
        train, test = (TensorDataset(*(t.to(device) for t in part.tensors)) for part in (data.train, data.test))
        _ON_DEVICE[key] = Data(train, test, batch_size=data.batch_size, tensors=True)
    return _ON_DEVICE[key]


def _to(obj: Any, device: Any) -> Any:
    """A batch (a tensor, or tuples, lists and dicts of them) on ``device``; the copy from pinned memory
    overlaps the computation (``non_blocking``)."""
    if hasattr(obj, "to") and hasattr(obj, "device"):
        return obj if obj.device == device else obj.to(device, non_blocking=True)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    return obj


def _as_float(out: Any) -> Any:
    """A model's output in float32 (from an autocast forward), for the loss and the metric."""
    import torch

    if isinstance(out, torch.Tensor) and out.dtype in (torch.float16, torch.bfloat16):
        return out.float()
    return out


def _train(config: RunConfig, runtime: Runtime, device_name: str, started: float) -> dict[str, Any]:
    import torch

    from ..torch.monitor import ActivationMonitor
    from . import checkpoints

    device = torch.device(device_name)
    if config.formula:  # a formula activation defined in the driver: define it here too
        from ..formula import ensure

        ensure(config.activation, config.formula)
    cpu_data = dataset(config.dataset, config.batch_size)
    if config.data_version and (here := data_version(config.dataset, cpu_data)) != config.data_version:
        raise ActlabError(
            f"the {config.dataset} data in this process (fingerprint {here}) is not the data the run was "
            f"planned on ({config.data_version}): {config.dataset} depends on the machine (for pystdlib, the "
            "Python version); run it where the Python is the driver's"
        )
    data = _on_device(cpu_data, device)
    t = task(config)
    dtype = _dtype(check_precision(config.precision))

    def autocast() -> Any:
        return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()

    def fresh() -> tuple[Any, Any, Any]:
        model = build_model(config, cpu_data).to(device)  # drawn on the CPU: the same weights on every device
        scaler = torch.amp.GradScaler("cuda") if dtype is torch.float16 and device.type == "cuda" else None
        return model, optimizer(config, model.parameters()), scaler

    model, opt, scaler = fresh()
    history: list[dict[str, Any]] = []
    record: dict[str, Any] = {
        "status": "ok",
        "metric": t.metric_name,
        "higher_is_better": t.higher_is_better,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    saving = runtime.checkpoints is not None and config.epochs >= checkpoints.MIN_EPOCHS
    file = checkpoints.path(runtime.checkpoints, config.key()) if saving else None
    state = checkpoints.load(file, config.key()) if file is not None else None
    trained = wall_before = 0.0
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["rng"])
            history = list(state["history"])
            trained, wall_before = float(state["seconds"]), float(state["wall_seconds"])
            record["resumed_from"] = int(state["epoch"])
        except Exception:  # not this model's (its code changed under the same key): start afresh
            model, opt, scaler = fresh()
            history, trained, wall_before = [], 0.0, 0.0
            record.pop("resumed_from", None)
    start = time.perf_counter() - trained
    steps_per_epoch = max(1, math.ceil(len(data) / config.batch_size))
    for epoch in range(len(history) + 1, config.epochs + 1):
        model.train()
        torch.manual_seed(derive(config.seed, "epoch", epoch))  # dropout and other draws while training
        total, count = 0.0, 0
        with ActivationMonitor(model, window=steps_per_epoch) as monitor:
            for step, (x, y) in enumerate(data.train_batches(config.seed, epoch)):
                x, y = _to(x, device), _to(y, device)
                opt.zero_grad()
                with autocast():
                    out = model(x)
                loss = t.loss(_as_float(out) if dtype is not None else out, y)
                if not torch.isfinite(loss):
                    record.update(status="diverged", diverged_at={"epoch": epoch, "step": step})
                    break
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
                total += float(loss.detach()) * y.numel()
                count += y.numel()
            layers = monitor.summary()
        if record["status"] == "diverged":
            break
        row = {"epoch": epoch, "train_loss": total / max(count, 1), **_evaluate(model, data, t, device, dtype)}
        row["dead"] = float(np.mean([s.dead_fraction for s in layers])) if layers else math.nan
        row["grad_first_over_last"] = (
            layers[0].grad_norm / layers[-1].grad_norm if layers and layers[-1].grad_norm else math.nan
        )
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        if not math.isfinite(row["test_loss"]):
            record.update(status="diverged", diverged_at={"epoch": epoch, "step": None})
            break
        if file is not None and (epoch < config.epochs or runtime.keep_checkpoints):
            saved = {
                "key": config.key(),
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "rng": torch.get_rng_state(),
                "history": history,
                "seconds": row["seconds"],
                "wall_seconds": wall_before + time.perf_counter() - started,
            }
            try:
                checkpoints.save(file, saved)
            except ActlabError as exc:  # a full disk costs the run its checkpoints, not its training
                record["checkpoint_error"] = str(exc)
    if file is not None and (record["status"] == "diverged" or not runtime.keep_checkpoints):
        checkpoints.remove(file)  # a finished run, diverged included, is a result: never resumed again
    record["history"] = history
    record["seconds"] = time.perf_counter() - start
    record["wall_seconds"] = wall_before + time.perf_counter() - started
    if record["status"] == "ok":
        record["final"] = history[-1]
    else:
        record["final"] = {"test_metric": None, "epoch": len(history)}
    return record


def _evaluate(model: Any, data: Data, t: Any, device: Any = None, dtype: Any = None) -> dict[str, float]:
    """The test set's loss and metric, each one average over all its items (the forward pass on ``device``,
    autocast to ``dtype`` where given, as in training)."""
    import torch

    model.eval()
    loss_sum = metric_sum = 0.0
    items = metric_items = 0
    kind = device.type if device is not None else "cpu"
    with torch.no_grad():
        for x, y in data.test_batches():
            if device is not None:
                x, y = _to(x, device), _to(y, device)
            with torch.autocast(kind, dtype=dtype) if dtype is not None else nullcontext():
                out = model(x)
            out = _as_float(out) if dtype is not None else out
            loss_sum += float(t.loss(out, y)) * y.numel()
            items += y.numel()
            s, n = t.metric(out, y)
            metric_sum += s
            metric_items += n
    return {"test_loss": loss_sum / max(items, 1), "test_metric": metric_sum / max(metric_items, 1)}


def final_metric(result: dict[str, Any]) -> float:
    """A stored run's final test metric; NaN for a run that diverged or failed.  Runs recorded before
    the metric was named (classification only) hold it as ``test_acc``."""
    final = result.get("final") or {}
    value = final.get("test_metric", final.get("test_acc"))
    if result.get("status", "ok") != "ok" or value is None:
        return math.nan
    return float(value)


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
    runtime: Runtime | None = None,
    executor: str = "local",
    address: str | None = None,
) -> int:
    """Run the configurations the store does not hold; commit each as it finishes. Returns how many ran.

    ``runtime``: where and how each run trains (device, checkpoints), handed to :func:`run` as it is.
    ``executor``: ``"local"``, worker processes on this machine, or ``"ray"``, Ray tasks
    (:func:`actlab.experiments.executors.ray_sweep`: a local Ray instance of ``workers`` CPUs, or the
    cluster at ``address``).

    A run that diverges is finished (its result is that it diverged); one that raised is recorded
    with its error, the sweep goes on, and the next sweep tries it again.

    ``progress(i, total, config)`` is called as each run finishes (the ``i``-th of ``total``);
    ``running(configs)`` whenever the set of runs at work changes (runs are handed to the workers
    one at a time, as each finishes, so that this set is what is training)."""
    from .executors import check_executor, ray_sweep

    check_executor(executor, address, reach=False)  # the Ray sweep checks that the cluster answers
    done = store.finished()
    pending = [c for c in todo if c.key() not in done]
    total = len(pending)
    if not pending:
        return 0
    if executor == "ray":
        return ray_sweep(
            pending, store, workers=workers, address=address, progress=progress, running=running, runtime=runtime
        )
    if workers <= 1:
        for i, c in enumerate(pending, 1):
            if running:
                running([c])
            store.add(c.key(), asdict(c), run(c, runtime))
            if progress:
                progress(i, total, c)
        return total
    # forkserver: workers fork from a clean server that has imported torch once (cheap starts),
    # never from this process, whose torch may have started threads
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "actlab.experiments.runner"])
    queue = iter(pending)
    shipped = _shipped_objects(pending)
    start: dict[str, Any] = {"initializer": _start_worker, "initargs": (_worker_sources(pending), shipped)}
    _start_forkserver_deaf_to_interrupts()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, **start) as pool:
        futures: dict[Future[dict[str, Any]], RunConfig] = {}

        def hand_out() -> None:
            for c in itertools.islice(queue, workers - len(futures)):
                futures[pool.submit(_run_in_worker, c, runtime)] = c
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


def _shipped_objects(pending: list[RunConfig]) -> bytes:
    """The ``python:…`` objects the pending runs name (models, data, tasks, optimizers given to
    :func:`compare`), pickled once for every worker; refused before any work starts when they cannot be
    (a lambda, a closure, a function of an interactive session)."""
    import pickle
    import sys

    refs = {ref for c in pending for ref in (c.model, c.dataset, c.task, c.optimizer) if ref.startswith("python:")}
    objects = {ref: _OBJECTS[ref] for ref in refs if ref in _OBJECTS}
    for ref, obj in objects.items():
        module = getattr(obj, "__module__", None)
        if module == "__main__" and not getattr(sys.modules.get("__main__"), "__file__", None):
            raise PluginError(
                f"{_describe(obj)} was defined in an interactive session, so worker processes cannot load it: "
                "define it in a module, or run with workers=1"
            )
        try:
            pickle.dumps(obj)
        except Exception as exc:
            raise PluginError(
                f"{ref.split(':', 2)[1]} {_describe(obj)} cannot be sent to worker processes ({_one_line(exc)}): "
                "define it at the top level of a module, or run with workers=1"
            ) from None
    return pickle.dumps(objects)


def _start_worker(sources: tuple[registry.PluginSource, ...], objects: bytes = b"") -> None:
    """Pool initializer: load the driver's plugin sources, so that the worker's catalog is the driver's,
    and the objects given to :func:`compare` (models, data) that the runs name.

    Any executor that runs an initializer (Ray, Dask) can start its workers the same way.  A
    failure is kept and raised by every task: an initializer that raises breaks the pool with
    a traceback on stderr instead of an error the driver can report.
    """
    global _worker_error
    try:
        registry.load_sources(sources)
    except Exception as exc:
        _worker_error = f"a worker process could not load the plugins: {exc}"
        return
    if objects:
        import pickle

        try:
            _OBJECTS.update(pickle.loads(objects))
        except Exception as exc:
            _worker_error = f"a worker process could not load the model or data it was given: {_one_line(exc)}"


def _run_in_worker(config: RunConfig, runtime: Runtime | None = None) -> dict[str, Any]:
    """:func:`run` in a worker started by :func:`_start_worker`."""
    if _worker_error is not None:
        raise PluginError(_worker_error)
    return run(config, runtime)
