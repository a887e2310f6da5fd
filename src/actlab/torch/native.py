"""Where PyTorch has a native kernel for a catalog entry: the one table that says so.

Each row maps a catalog name to the PyTorch function that computes the same function
(``fn(x, p)``, ``p`` the bound parameters), the ``torch.nn`` module class that holds it
(for model surgery) and how to read the catalog parameters off such a module.  A row
may apply only to some parameter values (``when``).  ``actlab.torch`` uses the native
kernel by default and the catalog's own formulas with ``exact=True``.

The native kernels agree with the NumPy reference to 1e-10 relative (plus 1e-15
absolute) on finite inputs of moderate size (a test checks every row).  Where they are
less exact — at ±inf and NaN, in the far tails, by cancellation — is measured, not
listed here: :mod:`actlab.torch.gaps` compares each row with the exact reference in
float16, float32 and float64, and ``actlab show NAME``, ``actlab table`` and the
report's activation pages state what it finds.  PyTorch applies softplus's
``threshold`` always, so softplus is native only when one is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..catalog.spec import Params


@dataclass(frozen=True)
class Native:
    fn: Callable[[torch.Tensor, Params], torch.Tensor]
    module: type[nn.Module] | None
    params_of: Callable[[nn.Module], dict[str, Any]] = field(default=lambda m: {})
    when: Callable[[Params], bool] = field(default=lambda p: True)


def _temperature(x: torch.Tensor, p: Params) -> torch.Tensor:
    return x if p.temperature == 1.0 else x / p.temperature


def _prelu(x: torch.Tensor, p: Params) -> torch.Tensor:
    w = p.weight if isinstance(p.weight, torch.Tensor) else torch.tensor([p.weight], dtype=x.dtype, device=x.device)
    return F.prelu(x, w.reshape(-1))


NATIVE: dict[str, Native] = {
    "identity": Native(lambda x, p: x, None),  # nn.Identity is a placeholder more often than an activation
    "sigmoid": Native(lambda x, p: torch.sigmoid(x), nn.Sigmoid),
    "tanh": Native(lambda x, p: torch.tanh(x), nn.Tanh),
    "relu": Native(lambda x, p: F.relu(x), nn.ReLU),
    "leaky_relu": Native(
        lambda x, p: F.leaky_relu(x, p.negative_slope), nn.LeakyReLU, lambda m: {"negative_slope": m.negative_slope}
    ),
    "prelu": Native(_prelu, nn.PReLU, lambda m: {"weight": float(m.weight.detach().reshape(-1)[0])}),
    "elu": Native(lambda x, p: F.elu(x, p.alpha), nn.ELU, lambda m: {"alpha": m.alpha}),
    "selu": Native(lambda x, p: F.selu(x), nn.SELU),
    "celu": Native(lambda x, p: F.celu(x, p.alpha), nn.CELU, lambda m: {"alpha": m.alpha}),
    "gelu": Native(
        lambda x, p: F.gelu(x, approximate=p.approximate), nn.GELU, lambda m: {"approximate": m.approximate}
    ),
    "gelu_tanh": Native(lambda x, p: F.gelu(x, approximate="tanh"), None),
    "silu": Native(lambda x, p: F.silu(x), nn.SiLU),
    "mish": Native(lambda x, p: F.mish(x), nn.Mish),
    "softplus": Native(
        lambda x, p: F.softplus(x, p.beta, p.threshold),
        nn.Softplus,
        lambda m: {"beta": m.beta, "threshold": m.threshold},
        when=lambda p: p.threshold is not None,
    ),
    "log_sigmoid": Native(lambda x, p: F.logsigmoid(x), nn.LogSigmoid),
    "softsign": Native(lambda x, p: F.softsign(x), nn.Softsign),
    "hardsigmoid": Native(
        lambda x, p: F.hardsigmoid(x), nn.Hardsigmoid, when=lambda p: p.slope == 1.0 / 6.0 and p.offset == 0.5
    ),
    "hardswish": Native(lambda x, p: F.hardswish(x), nn.Hardswish),
    "relu6": Native(lambda x, p: F.relu6(x), nn.ReLU6),
    "hardtanh": Native(
        lambda x, p: F.hardtanh(x, p.min_val, p.max_val),
        nn.Hardtanh,
        lambda m: {"min_val": m.min_val, "max_val": m.max_val},
    ),
    "tanhshrink": Native(lambda x, p: F.tanhshrink(x), nn.Tanhshrink),
    "softshrink": Native(lambda x, p: F.softshrink(x, p.lambd), nn.Softshrink, lambda m: {"lambd": m.lambd}),
    "hardshrink": Native(lambda x, p: F.hardshrink(x, p.lambd), nn.Hardshrink, lambda m: {"lambd": m.lambd}),
    "softmax": Native(
        lambda x, p: F.softmax(_temperature(x, p), p.dim), nn.Softmax, lambda m: {"dim": -1 if m.dim is None else m.dim}
    ),
    "log_softmax": Native(
        lambda x, p: F.log_softmax(_temperature(x, p), p.dim),
        nn.LogSoftmax,
        lambda m: {"dim": -1 if m.dim is None else m.dim},
    ),
    "glu": Native(lambda x, p: F.glu(x, p.dim), nn.GLU, lambda m: {"dim": m.dim}),
}


def native_for(name: str, p: Params) -> Native | None:
    """The native kernel for ``name`` at these parameter values, if PyTorch has one."""
    row = NATIVE.get(name)
    return row if row is not None and row.when(p) else None
