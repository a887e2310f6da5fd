"""PyTorch backend: every catalog activation as a function and an ``nn.Module``.

Where PyTorch has a native kernel computing the same function (``torch.nn.functional``),
that kernel runs (the mapping is the table in :mod:`actlab.torch.native`); every other
entry, and every entry with ``exact=True``, runs through one generic operator whose
forward is the catalog's formula and whose backward is the catalog's hand-written
derivative, saving only the input (:mod:`actlab.torch._ops`).  Both trace under
``torch.compile(fullgraph=True)`` and ``torch.export``.

>>> import torch, actlab.torch as at
>>> at.get("swish_beta", beta=1.5)
Activation(name='swish_beta', beta=1.5)
>>> at.apply(torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64), "gelu")
tensor([-0.1587,  0.0000,  0.8413], dtype=torch.float64)

The generic path compiles a fused kernel (``torch.compile``) on its first call at each new shape of
65536 or more float32/float16/bfloat16 elements: that call takes seconds, and the first in a process
logs a WARNING on the ``actlab.torch`` logger.  :func:`warm_up` compiles them beforehand;
``ACTLAB_TORCH_FUSE=0`` in the environment, or :func:`set_fusion` ``(None)``, runs op by op instead.

Requires the ``torch`` extra (``pip install 'actlab[torch]'``).
"""

from __future__ import annotations

import importlib
from typing import Any

from . import functional
from ._ops import set_fusion
from .foreign import register_module_class, unrecognised
from .functional import apply
from .modules import (
    GLU,
    Activation,
    Bilinear,
    GatedFFN,
    GeGLU,
    LogSoftmax,
    Maxout,
    ReGLU,
    Softmax,
    SwiGLU,
    get,
    warm_up,
)
from .monitor import ActivationMonitor
from .surgery import catalog_entry, find_activations, replace_activations

__all__ = [
    "GLU",
    "Activation",
    "ActivationMonitor",
    "Bilinear",
    "GatedFFN",
    "GeGLU",
    "LogSoftmax",
    "Maxout",
    "ReGLU",
    "Softmax",
    "SwiGLU",
    "apply",
    "catalog_entry",
    "deepnet",
    "find_activations",
    "functional",
    "get",
    "init",
    "recipes",
    "register_module_class",
    "replace_activations",
    "set_fusion",
    "unrecognised",
    "warm_up",
]

# Submodules with heavier imports (deepnet and recipes train networks) load on first use, so
# ``at.init.kaiming_normal_`` works after a plain ``import actlab.torch as at``.
_LAZY = ("init", "deepnet", "recipes", "gaps", "native")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
