"""Activation modules of other libraries: which catalog entry each computes, checked numerically.

Model surgery (:mod:`actlab.torch.surgery`) recognises actlab's modules, the ``torch.nn`` classes of
:mod:`actlab.torch.native`, and the classes mapped here: Hugging Face ``transformers``'
(``NewGELUActivation`` in GPT-2 and T5, ``SiLUActivation`` in Llama and Qwen2, ``QuickGELUActivation``
in CLIP ...) and timm's, named by their qualified class name so that nothing here imports either
library.  A class is recognised through its subclasses too, the most specific mapped class first.

A mapping is trusted only once it is measured: the first time a class other than an exact
``torch.nn`` table class is met, a copy of the module and the actlab module that would replace it
run in float64 on a fixed grid (|x| up to 1e6, plus 0 and -0), forward and gradient; if they differ
by more than 1e-9 relative (plus 1e-12 absolute) the class is not recognised, and
:func:`unrecognised` says why.  So a subclass that overrides ``forward`` (``class MyReLU(nn.ReLU)``
returning 2·relu) is left alone rather than silently replaced by a ReLU.

Classes whose function the catalog lacks are mapped to nothing, and listed in :data:`NOT_IN_CATALOG`:
``ClippedGELUActivation`` (GELU clipped to [min, max], ``gelu_10``).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..catalog import registry
from .native import NATIVE


@dataclass(frozen=True)
class Mapping:
    """A foreign class's catalog entry and how to read its parameters off an instance.

    ``params_of(module)`` returns the catalog parameters; a tensor value is a learnable parameter
    (one value, or one per channel) whose current values a swap carries over as parameters.
    """

    name: str
    params_of: Callable[[nn.Module], dict[str, Any]]


def _none(module: nn.Module) -> dict[str, Any]:
    return {}


def _gelu(module: nn.Module) -> dict[str, Any]:
    return {"approximate": getattr(module, "approximate", "none")}


def _prelu(module: nn.Module) -> dict[str, Any]:
    return {"weight": module.weight}


def _xielu(module: nn.Module) -> dict[str, Any]:
    # transformers stores α_p = softplus(alpha_p) and α_n = β + softplus(alpha_n), as actlab does
    beta = float(module.beta)
    return {
        "alpha_p": F.softplus(module.alpha_p),
        "alpha_n": beta + F.softplus(module.alpha_n),
        "beta": beta,
        "eps": float(module.eps),
    }


def _forward_defaults(module: nn.Module) -> dict[str, Any]:
    """The keyword defaults of ``module.forward`` (transformers' LaplaceActivation keeps μ and σ there)."""
    signature = inspect.signature(type(module).forward)
    return {k: v.default for k, v in signature.parameters.items() if v.default is not inspect.Parameter.empty}


def _laplace(module: nn.Module) -> dict[str, Any]:
    defaults = _forward_defaults(module)
    return {"mu": float(defaults["mu"]), "sigma": float(defaults["sigma"])}


_HF = "transformers.activations."
_TIMM = "timm.layers.activations."
_TIMM_ME = "timm.layers.activations_me."

# qualified class name -> mapping; checked numerically when first met
_BY_QUALNAME: dict[str, Mapping] = {
    _HF + "GELUActivation": Mapping("gelu", _none),  # F.gelu, or the erf formula with use_gelu_python
    _HF + "NewGELUActivation": Mapping("gelu_tanh", _none),
    _HF + "GELUTanh": Mapping("gelu_tanh", _none),
    _HF + "FastGELUActivation": Mapping("gelu_tanh", _none),  # √(2/π) rounded to 10 digits
    _HF + "AccurateGELUActivation": Mapping("gelu_tanh", _none),  # the same formula as NewGELU
    _HF + "SiLUActivation": Mapping("silu", _none),
    _HF + "QuickGELUActivation": Mapping("quick_gelu", _none),
    _HF + "MishActivation": Mapping("mish", _none),
    _HF + "ReLUSquaredActivation": Mapping("relu2", _none),
    _HF + "LinearActivation": Mapping("identity", _none),
    _HF + "XIELUActivation": Mapping("xielu", _xielu),
    _HF + "LaplaceActivation": Mapping("laplace", _laplace),
    _HF + "SqrtSoftplusActivation": Mapping("sqrtsoftplus", _none),
    _TIMM + "GELU": Mapping("gelu", _none),
    _TIMM + "GELUTanh": Mapping("gelu_tanh", _none),
    _TIMM + "QuickGELU": Mapping("quick_gelu", _none),
    _TIMM + "Sigmoid": Mapping("sigmoid", _none),
    _TIMM + "Tanh": Mapping("tanh", _none),
    _TIMM + "PReLU": Mapping("prelu", _prelu),
    _TIMM + "Swish": Mapping("silu", _none),
    _TIMM + "Mish": Mapping("mish", _none),
    _TIMM + "HardSwish": Mapping("hardswish", _none),
    _TIMM + "HardSigmoid": Mapping("hardsigmoid", _none),
    _TIMM_ME + "SwishMe": Mapping("silu", _none),
    _TIMM_ME + "MishMe": Mapping("mish", _none),
    _TIMM_ME + "HardSwishMe": Mapping("hardswish", _none),
    _TIMM_ME + "HardSigmoidMe": Mapping("hardsigmoid", _none),
}

# Classes whose function no catalog entry computes: never recognised, and why.
NOT_IN_CATALOG: dict[str, str] = {
    _HF + "ClippedGELUActivation": "GELU clipped to [min, max] (gelu_10): no catalog entry computes it",
}

_BY_CLASS: dict[type, Mapping] = {}  # registered by the user
_TRUSTED: dict[type, Mapping] = {
    row.module: Mapping(name, _prelu if name == "prelu" else row.params_of)
    for name, row in NATIVE.items()
    if row.module is not None
}
_VERDICTS: dict[type, Mapping | None] = {}  # per concrete class, after the numerical check
_WHY: dict[str, str] = {}


def qualname(cls: type) -> str:
    """``module.QualifiedName`` of a class, the key the mappings use."""
    return f"{cls.__module__}.{cls.__qualname__}"


def register_module_class(
    cls: type | str, name: str, params_of: Callable[[nn.Module], dict[str, Any]] | None = None
) -> None:
    """Map another library's activation class (or its qualified name) to the catalog entry ``name``.

    ``params_of(module)`` reads the catalog parameters off an instance (a tensor value is a
    learnable parameter, carried over by a swap); by default there are none.  The mapping is
    checked numerically the first time an instance is met, as the built-in ones are.

    >>> import torch, actlab.torch as at
    >>> class Swish(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x * torch.sigmoid(x)
    >>> at.register_module_class(Swish, "silu")
    >>> at.catalog_entry(Swish())
    ('silu', {})
    """
    spec = registry.spec(name)  # an unknown name fails here, with a suggestion
    if spec.kind != "elementwise" and params_of is None:
        raise ValueError(f"{spec.name} is {spec.kind}: its mapping needs params_of (e.g. its dim)")
    mapping = Mapping(spec.name, params_of or _none)
    if isinstance(cls, str):
        _BY_QUALNAME[cls] = mapping
    elif isinstance(cls, type) and issubclass(cls, nn.Module):
        _BY_CLASS[cls] = mapping
    else:
        raise TypeError(f"register_module_class takes an nn.Module subclass or its qualified name; got {cls!r}")
    _VERDICTS.clear()
    _WHY.clear()


def unrecognised() -> dict[str, str]:
    """Classes met that map to a catalog entry by name but were not recognised, with the reason:
    the numerical check failed, or the catalog lacks their function."""
    return dict(_WHY)


def _mapping_in_mro(cls: type) -> tuple[type, Mapping] | None:
    for base in cls.__mro__:
        if base in _BY_CLASS:
            return base, _BY_CLASS[base]
        found = _BY_QUALNAME.get(qualname(base))
        if found is not None:
            return base, found
        if base in _TRUSTED:
            return base, _TRUSTED[base]
    return None


def mapping_of(module: nn.Module) -> Mapping | None:
    """The checked mapping of a module that is not actlab's own, or None."""
    cls = type(module)
    if cls in _TRUSTED and cls not in _BY_CLASS:
        return _TRUSTED[cls]
    if cls in _VERDICTS:
        return _VERDICTS[cls]
    hit = _mapping_in_mro(cls)
    if hit is None:
        verdict = None
        if qualname(cls) in NOT_IN_CATALOG:
            _WHY[qualname(cls)] = NOT_IN_CATALOG[qualname(cls)]
    else:
        why = _check(module, hit[1])
        verdict = hit[1] if why is None else None
        if why is not None:
            _WHY[qualname(cls)] = f"computes something else than {hit[1].name} ({why})"
    _VERDICTS[cls] = verdict
    return verdict


GRID = torch.cat(
    [
        torch.linspace(-12.0, 12.0, 241, dtype=torch.float64),
        torch.tensor([0.0, -0.0, 1e-300, -1e-300, 20.0, -20.0, 50.0, -50.0, 1e3, -1e3, 1e6, -1e6], dtype=torch.float64),
    ]
)


def _check(module: nn.Module, mapping: Mapping) -> str | None:
    """None when a copy of ``module`` and the actlab module for ``mapping`` agree in float64 on
    :data:`GRID`, value and gradient, else why not."""
    from .surgery import Site, build  # the module a swap would make

    try:
        theirs = copy.deepcopy(module).to("cpu", torch.float64)  # the grid is on the CPU, wherever the model is
        site = Site.read(mapping.name, mapping.params_of(theirs))
        ours = build(site, exact=False).to(torch.float64)
        channels = max([t.numel() for t in site.learned.values()] or [1])
        x = GRID[:, None].expand(-1, channels).contiguous()
        results = []
        for m in (theirs, ours):
            xi = x.clone().requires_grad_(True)
            y = m(xi.clone())  # not the leaf itself: an in-place module (ReLU(inplace=True)) may write to it
            (g,) = torch.autograd.grad(y.sum(), xi)
            results.append((y.detach(), g))
    except Exception as exc:  # a module that cannot run on the grid is not recognised
        return f"it does not run on a float64 grid: {type(exc).__name__}: {exc}"
    for what, a, b in (("f", results[0][0], results[1][0]), ("f'", results[0][1], results[1][1])):
        if a.shape != b.shape:
            return f"{what} has shape {tuple(a.shape)}, not {tuple(b.shape)}"
        # a NaN of theirs where ours is below the absolute tolerance is their underflow, not another
        # function: √softplus(x) by softplus(x).sqrt() has the gradient 0·inf = NaN once softplus(x)
        # underflows to 0 (x = -1000), where the exact f' = e^{x/2}/2 is 3.6e-218
        underflow = torch.isnan(a) & (b.abs() <= 1e-12)
        bad = ~(torch.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True) | underflow)
        if bad.any():
            i = int(bad.nonzero()[0, 0])
            return f"{what}({float(x[i, 0]):g}) = {float(a[bad][0]):.17g}, {mapping.name} gives {float(b[bad][0]):.17g}"
    return None
