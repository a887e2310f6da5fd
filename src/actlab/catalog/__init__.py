"""The catalog of activations: one spec per activation, and the lookup over them.

>>> from actlab.catalog import spec
>>> spec("SiLU").name, spec("swish").name
('silu', 'silu')
"""

from __future__ import annotations

from . import axis, elementwise, gated, pooled
from .registry import (
    ENTRY_POINT_GROUP,
    PluginSource,
    _register_builtins,
    load_plugin,
    names,
    normalise,
    plugin_sources,
    register,
    spec,
    specs,
    unregister,
)
from .spec import (
    DISCONTINUOUS,
    SMOOTH,
    AlongAxis,
    Elementwise,
    Gated,
    Interval,
    Kink,
    Paper,
    Param,
    Pooled,
    Spec,
)

_register_builtins(elementwise.ENTRIES + axis.ENTRIES + gated.ENTRIES + pooled.ENTRIES)

__all__ = [
    "DISCONTINUOUS",
    "ENTRY_POINT_GROUP",
    "SMOOTH",
    "AlongAxis",
    "Elementwise",
    "Gated",
    "Interval",
    "Kink",
    "Paper",
    "Param",
    "PluginSource",
    "Pooled",
    "Spec",
    "load_plugin",
    "names",
    "normalise",
    "plugin_sources",
    "register",
    "spec",
    "specs",
    "unregister",
]
