"""actlab: the laboratory for neural-network activation functions.

One catalog of activations, each defined once with its derivative, served by an
exact NumPy reference backend.

>>> import actlab
>>> actlab.get("gelu")(1.0)
np.float64(0.8413447460685429)
>>> "swish_beta" in actlab.names()
True
"""

from __future__ import annotations

from .catalog import (
    AlongAxis,
    Elementwise,
    Gated,
    Interval,
    Kink,
    Paper,
    Param,
    Pooled,
    Spec,
    load_plugin,
    names,
    register,
    spec,
    specs,
    unregister,
)
from .errors import (
    ActlabError,
    InvalidParameterError,
    PluginError,
    RegistrationError,
    ShapeError,
    UnknownActivationError,
)
from .numpy import Activation, get

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "ActlabError",
    "AlongAxis",
    "Elementwise",
    "Gated",
    "Interval",
    "InvalidParameterError",
    "Kink",
    "Paper",
    "Param",
    "PluginError",
    "Pooled",
    "RegistrationError",
    "ShapeError",
    "Spec",
    "UnknownActivationError",
    "__version__",
    "get",
    "load_plugin",
    "names",
    "register",
    "spec",
    "specs",
    "unregister",
]
