"""Model surgery: find the activation modules of any model, and swap them keeping what they compute.

Activation modules are actlab's own, the ``torch.nn`` classes that compute a catalog entry
(``torch.nn.ReLU``, ``GELU``, ``SiLU`` ...; the table in :mod:`actlab.torch.native`), other
libraries' classes (Hugging Face ``transformers``' and timm's; :mod:`actlab.torch.foreign`) and
their subclasses, each checked numerically before it is trusted.  They are found wherever they
sit: in ``nn.Sequential``, ``ModuleList``, ``ModuleDict`` or as attributes of custom blocks.

A name names a function: ``"gelu_tanh"`` matches ``nn.GELU(approximate='tanh')``, GPT-2's
``NewGELUActivation`` and ``at.get("gelu_tanh")``; ``"gelu"`` matches only GELU's exact erf form.
A swap to the same catalog entry keeps the old module's parameters: a ``LeakyReLU(0.2)`` swapped
for ``"leaky_relu"`` keeps its slope, a trained ``PReLU(4)`` its four weights, as parameters.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..catalog import registry
from .foreign import mapping_of
from .modules import Activation


@dataclass(frozen=True)
class Site:
    """What an activation module computes: its catalog entry, fixed parameters, and learnable
    parameters' current values (tensors: one value, or one per channel)."""

    name: str
    static: dict[str, Any] = field(default_factory=dict)
    learned: dict[str, torch.Tensor] = field(default_factory=dict)
    exact: bool = False

    @classmethod
    def read(cls, name: str, params: dict[str, Any], exact: bool = False) -> Site:
        static = {k: v for k, v in params.items() if not isinstance(v, torch.Tensor)}
        learned = {k: v for k, v in params.items() if isinstance(v, torch.Tensor)}
        return cls(name, static, learned, exact)

    @property
    def function(self) -> str:
        """The catalog entry of the function computed: gelu with approximate='tanh' is gelu_tanh."""
        if self.name == "gelu" and self.static.get("approximate") == "tanh":
            return "gelu_tanh"
        return self.name

    @property
    def kind(self) -> str:
        return registry.spec(self.name).kind

    def params(self) -> dict[str, Any]:
        """Parameters as plain values (a learnable one per channel as its first channel's)."""
        return {**self.static, **{k: float(t.detach().reshape(-1)[0]) for k, t in self.learned.items()}}


def site_of(module: nn.Module) -> Site | None:
    """What an activation module computes, or None for any other module."""
    if isinstance(module, Activation):
        return Site(module.name, dict(module._static), dict(module.values()), module.exact)
    mapping = mapping_of(module)
    if mapping is None:
        return None
    return Site.read(mapping.name, mapping.params_of(module))


def _inverse_softplus(v: torch.Tensor) -> torch.Tensor:
    return v + torch.log(-torch.expm1(-v))


def build(site: Site, exact: bool | None = None) -> Activation:
    """An actlab module computing ``site``'s function, learnable parameters carried over as parameters
    (their values now, one per channel where they were, in their dtype and device)."""
    exact = site.exact if exact is None else bool(exact)
    if not site.learned:
        return Activation(site.name, exact=exact, **site.static)
    flat = {k: t.detach().reshape(-1) for k, t in site.learned.items()}
    n = max(t.numel() for t in flat.values())
    act = Activation(
        site.name,
        learnable=tuple(flat),
        num_parameters=n,
        exact=exact,
        **site.static,
        **{k: float(t[0]) for k, t in flat.items()},
    )
    bound = {**act._static, **act._init}
    with torch.no_grad():
        for key, value in flat.items():
            stored = act._stored(key)
            floor = act._floor(act.spec.param(key), bound)
            if floor is None:
                raw = value  # stored as it is: the same numbers, dtype and device
            else:  # stored through a softplus: inverted in float64, kept at float32 precision or more
                wide = value.dtype if value.dtype in (torch.float32, torch.float64) else torch.float32
                raw = _inverse_softplus(value.double() - floor).to(wide)
            param = nn.Parameter(raw.expand(n).clone(), requires_grad=site.learned[key].requires_grad)
            act.register_parameter(stored, param)
    return act


def catalog_entry(module: nn.Module) -> tuple[str, dict[str, Any]] | None:
    """(catalog name, parameters) of an activation module, or None for any other module.

    A learnable parameter is given as its value now (per channel: the first channel's).
    """
    site = site_of(module)
    return None if site is None else (site.name, site.params())


def find_activations(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every activation module in ``model``, with its dotted path, in definition order."""
    return [(path, m) for path, m in model.named_modules() if path and site_of(m) is not None]


Old = type | str | Callable[[nn.Module], bool]
New = str | type | nn.Module | Callable[[nn.Module], nn.Module]


def _matcher(old: Old) -> Callable[[nn.Module], bool]:
    if isinstance(old, type):
        return lambda m: isinstance(m, old)
    if isinstance(old, str):
        target = registry.spec(old).name
        return lambda m: (site := site_of(m)) is not None and site.function == target
    if callable(old):
        return old
    raise TypeError(f"old must be a module class, an activation name or a predicate; got {old!r}")


def _maker(new: New, exact: bool | None, params: dict[str, Any]) -> Callable[[nn.Module], nn.Module]:
    if params and not isinstance(new, str):
        raise TypeError(f"parameters ({', '.join(params)}) go with an activation name as new, not {new!r}")
    if exact is not None and not isinstance(new, str):
        raise TypeError(f"exact= goes with an activation name as new, not {new!r}")
    if isinstance(new, str):
        spec = registry.spec(new)  # fail now, with a suggestion, on an unknown name
        spec.bind(params)  # and on a bad parameter

        def make(old: nn.Module) -> nn.Module:
            site = site_of(old)
            if site is not None and site.name == spec.name:  # the same entry: keep what it computes
                learned = {k: v for k, v in site.learned.items() if k not in params}
                static = {**{k: v for k, v in site.static.items() if k not in params}, **params}
                return build(Site(spec.name, static, learned, site.exact), exact)
            return Activation(spec.name, exact=bool(exact), **params)

        return make
    if isinstance(new, nn.Module):  # an instance: a copy of it at each site
        return lambda _old: copy.deepcopy(new)
    if isinstance(new, type) and issubclass(new, nn.Module):
        return lambda _old: new()
    if callable(new):
        return new
    raise TypeError(f"new must be an activation name, a module class or instance, or a factory; got {new!r}")


def _check_fits(path: str, old: nn.Module, fresh: nn.Module) -> None:
    """Refuse a replacement of another kind than the old module: gated ones halve their input,
    pooled ones divide it, axis ones mix a whole axis; none can stand where another kind stood."""
    if not isinstance(fresh, nn.Module):
        raise TypeError(f"the factory for {path} returned {type(fresh).__name__}, not an nn.Module")
    before, after = site_of(old), site_of(fresh)
    if before is not None and after is not None and before.kind != after.kind:
        raise ValueError(
            f"{after.name} is {after.kind} and {before.name} at {path!r} is {before.kind}: one cannot stand "
            f"where the other stood (the shapes or what an element depends on differ); use a {before.kind} "
            "activation"
        )


def replace_activations(
    model: nn.Module, old: Old, new: New, *, exact: bool | None = None, **params: Any
) -> list[tuple[str, nn.Module, nn.Module]]:
    """Replace every module matching ``old`` by one made from ``new``, in place.

    ``old``: a catalog name, matching the activation modules that compute that function
    ("relu" matches ``nn.ReLU``; "gelu_tanh" matches ``nn.GELU(approximate='tanh')`` and
    transformers' ``NewGELUActivation``; "gelu" only the exact erf form); or a module class or a
    predicate, applied to every module of the model.

    ``new``: a catalog name; a module class (called with no arguments); a module (a deep copy of
    it goes to each site); or a factory called with the old module.  With a name, ``params``
    set the new activation's parameters, and ``exact`` its path (see :class:`Activation`).
    When the name is the old module's own catalog entry, what the old module computed is kept:
    its parameters (``LeakyReLU(0.2)`` stays at slope 0.2, ``nn.GELU(approximate='tanh')`` stays
    tanh), learnable ones as parameters at their values now, per channel where they were, an
    actlab module's ``exact``; ``params`` override them (a learnable one given is then fixed).

    A replacement of another kind than the old module (a gated ``swiglu`` where an elementwise
    ``relu`` was) is refused before anything is changed.  Returns the (path, old module, new
    module) triples replaced.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LeakyReLU(0.2))
    >>> [(p, type(o).__name__, n) for p, o, n in replace_activations(net, "leaky_relu", "leaky_relu")]
    [('1', 'LeakyReLU', Activation(name='leaky_relu', negative_slope=0.2))]
    """
    match, make = _matcher(old), _maker(new, exact, params)
    planned: list[tuple[nn.Module, str, str, nn.Module, nn.Module]] = []
    taken: list[str] = []
    made: dict[int, nn.Module] = {}  # one module shared by several sites stays shared: one replacement
    for path, module in model.named_modules():
        if any(path == t or path.startswith(t + ".") for t in taken):
            continue  # inside a module already being replaced
        for child_name, child in list(module._modules.items()):  # every site, a shared module's too
            full = f"{path}.{child_name}" if path else child_name
            if child is None or not match(child):
                continue
            if id(child) not in made:
                made[id(child)] = make(child)
                _check_fits(full, child, made[id(child)])
            fresh = made[id(child)]
            planned.append((module, child_name, full, child, fresh))
            taken.append(full)
    for parent, child_name, _full, _child, fresh in planned:
        setattr(parent, child_name, fresh)
    return [(full, child, fresh) for _parent, _name, full, child, fresh in planned]
