"""Model surgery: find the activation modules of any model, and swap them.

Activation modules are actlab's own and the ``torch.nn`` classes that compute a catalog
entry (``torch.nn.ReLU``, ``GELU``, ``SiLU`` ...; the table in :mod:`actlab.torch.native`).
They are found wherever they sit: in ``nn.Sequential``, ``ModuleList``, ``ModuleDict`` or
as attributes of custom blocks (as torchvision stores them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..catalog import registry
from .modules import Activation
from .native import catalog_entry_of


def catalog_entry(module: nn.Module) -> tuple[str, dict[str, Any]] | None:
    """(catalog name, parameters) of an activation module, or None for any other module."""
    if isinstance(module, Activation):
        return module.name, module.params
    return catalog_entry_of(module)


def find_activations(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every activation module in ``model``, with its dotted path, in definition order."""
    return [(path, m) for path, m in model.named_modules() if path and catalog_entry(m) is not None]


Old = type | str | Callable[[nn.Module], bool]
New = str | type | Callable[[nn.Module], nn.Module]


def _matcher(old: Old) -> Callable[[nn.Module], bool]:
    if isinstance(old, type):
        return lambda m: isinstance(m, old)
    if isinstance(old, str):
        target = registry.spec(old).name
        return lambda m: (entry := catalog_entry(m)) is not None and entry[0] == target
    if callable(old):
        return old
    raise TypeError(f"old must be a module class, an activation name or a predicate; got {old!r}")


def _maker(new: New) -> Callable[[nn.Module], nn.Module]:
    if isinstance(new, str):
        registry.spec(new)  # fail now, with a suggestion, on an unknown name
        return lambda _old: Activation(new)
    if isinstance(new, type) and issubclass(new, nn.Module):
        return lambda _old: new()
    if callable(new):
        return new
    raise TypeError(f"new must be an activation name, a module class or a factory; got {new!r}")


def replace_activations(model: nn.Module, old: Old, new: New) -> list[tuple[str, nn.Module, nn.Module]]:
    """Replace every activation module matching ``old`` by one made from ``new``, in place.

    ``old``: a module class, a catalog name (matches actlab and torch.nn modules computing
    it, e.g. "relu" matches ``nn.ReLU``) or a predicate on modules.  ``new``: a catalog
    name, a module class (called with no arguments) or a factory called with the old
    module.  Returns the (path, old module, new module) triples replaced.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    >>> [(p, type(o).__name__, n.name) for p, o, n in replace_activations(net, "relu", "gelu")]
    [('1', 'ReLU', 'gelu')]
    """
    match, make = _matcher(old), _maker(new)
    replaced = []
    for path, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child is not None and catalog_entry(child) is not None and match(child):
                fresh = make(child)
                setattr(module, child_name, fresh)
                replaced.append((f"{path}.{child_name}" if path else child_name, child, fresh))
    return replaced
