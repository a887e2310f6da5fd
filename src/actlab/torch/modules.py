"""Modules: any catalog activation (with learnable parameters if asked), the gated and
pooled layers, softmax with a temperature, and the gated feed-forward block."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import learnable as learnable_rule
from ..catalog import registry
from ..catalog.spec import Param, Spec
from ..errors import InvalidParameterError, UnknownActivationError
from . import _ops
from .native import native_for


class Activation(nn.Module):
    """A catalog activation as a module.

    Parameters
    ----------
    name : the catalog name or an alias (``actlab list`` shows them).
    learnable : False (default), True for every parameter the catalog marks learnable,
        or the names of the parameters to learn.
    num_parameters : with ``learnable``, 1 shares each parameter over the input; C gives one
        per channel, channels being dim 1 of the input (as ``torch.nn.PReLU``).
    exact : use the catalog's formulas even where PyTorch has a native kernel (exact at
        ±inf and in the far tails; see :mod:`actlab.torch.native`), evaluated in float64 for
        float16/bfloat16/float32 input and rounded once: f, f' and the parameters' gradients
        within the NumPy reference's bounds (1 ulp for f and f').
    **params : the activation's parameters (the initial values of learnable ones).

    Learnable parameters are ``nn.Parameter``s that keep their domain: a parameter
    that must be positive (swish_beta's β, elu/celu/snake's α, xielu's α_p) is stored
    as the parameter ``<name>_raw`` with value softplus(raw); xielu's α_n as β +
    softplus(raw); unconstrained ones (prelu's weight, star_relu's scale and bias) as
    they are, under their own name.  The attribute of the parameter's own name
    (``act.beta``) and ``values()`` give the constrained values, what the formula sees;
    the repr shows them as they are now, after training.

    Shape: any, for elementwise activations; along ``dim`` the gated family halves the
    size, maxout divides it by ``pieces``.

    >>> act = Activation("swish_beta", learnable=True, beta=1.5)
    >>> act
    Activation(name='swish_beta', beta=1.5, learnable=('beta',))
    >>> [name for name, _ in act.named_parameters()], round(act.beta.item(), 6)
    (['beta_raw'], 1.5)
    """

    def __init__(
        self,
        name: str,
        *,
        learnable: bool | tuple[str, ...] | list[str] = False,
        num_parameters: int = 1,
        exact: bool = False,
        **params: Any,
    ) -> None:
        super().__init__()
        spec = registry.spec(name)
        self.spec: Spec = spec
        bound = vars(spec.bind(params))
        self.exact = bool(exact)
        names = self._learnable_names(spec, learnable)
        if num_parameters < 1 or int(num_parameters) != num_parameters:
            raise InvalidParameterError(
                f"{spec.name}: num_parameters must be a positive integer; got {num_parameters!r}"
            )
        self.num_parameters = int(num_parameters)
        self.learned: tuple[str, ...] = names
        self._check_derivatives()
        self._static = {k: v for k, v in bound.items() if k not in names}
        self._init = {k: bound[k] for k in names}
        for key in names:
            raw = self._to_raw(spec.param(key), bound[key], bound)
            self.register_parameter(self._stored(key), nn.Parameter(torch.full((self.num_parameters,), raw)))
        self._encoded = _ops.encode(spec, bound)
        self._resolve()

    def _resolve(self) -> None:
        """The bound parameters and the native kernel (if any), from the spec and the values kept."""
        self._bound = self.spec.bind({**self._static, **self._init})
        use_native = not (self.exact or set(self.learned) - {"weight"})
        self._native = native_for(self.spec.name, self._bound) if use_native else None

    # -- pickling: by reference to the catalog ----------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The module's state with the spec and the native kernel replaced by the catalog name: a
        spec holds its formulas as functions (lambdas among them) that do not pickle, and the catalog
        of the loading process has them.  Parameters, buffers, hooks and the rest pickle as usual."""
        state = dict(self.__dict__)
        for key in ("spec", "_native", "_bound"):
            state.pop(key, None)
        state["_spec_name"] = self.spec.name
        source = getattr(self.spec, "formula_source", None)
        if source is not None:  # a formula activation: the loading process defines it again from its text
            state["_formula"] = source.as_json()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        name = state.pop("_spec_name")
        formula = state.pop("_formula", None)
        if formula is not None:
            from ..formula import ensure

            ensure(name, formula)
        try:
            spec = registry.spec(name)
        except UnknownActivationError:
            raise UnknownActivationError(
                f"unknown activation {name!r}; load its plugin first (register the entry in this process "
                "before loading a model that holds it)"
            ) from None
        super().__setstate__(state)
        self.spec = spec
        self._resolve()

    def __prepare_scriptable__(self) -> nn.Module:
        """TorchScript cannot compile the catalog's formulas (Python functions of a namespace): refuse
        with the way that works instead of the compiler's error deep inside a formula."""
        raise TypeError(
            f"actlab activations do not support TorchScript ({self.spec.name}); use torch.compile or torch.export"
        )

    @staticmethod
    def _learnable_names(spec: Spec, learnable: bool | tuple[str, ...] | list[str]) -> tuple[str, ...]:
        return learnable_rule.names(spec, learnable)

    def _check_derivatives(self) -> None:
        learnable_rule.names(self.spec, self.learned)

    # -- constrained parameterisation (actlab.learnable) ------------------------------------

    def _floor(self, q: Param, bound: dict[str, Any]) -> float | None:
        """The lower bound a learnable parameter is kept above (None: unconstrained)."""
        return learnable_rule.floor(self.spec, q.name, bound)

    def _stored(self, key: str) -> str:
        """The name the ``nn.Parameter`` of ``key`` is registered under (see :func:`actlab.learnable.stored_name`)."""
        return learnable_rule.stored_name(self.spec, key, {**self._static, **self._init})

    def __getattr__(self, name: str) -> Any:
        # ``act.beta`` of a learnable β stored as ``beta_raw``: the constrained value, not the raw one
        learned = self.__dict__.get("learned", ())
        if name in learned and self._stored(name) != name:
            return self.values()[name]
        return super().__getattr__(name)

    def _to_raw(self, q: Param, value: float, bound: dict[str, Any]) -> float:
        return learnable_rule.to_raw(self.spec, q.name, value, bound)

    def values(self) -> dict[str, torch.Tensor]:
        """The learnable parameters' constrained values (what the formula sees)."""
        out = {}
        bound = {**self._static, **self._init}
        for key in self.learned:
            raw = self._parameters[self._stored(key)]
            floor = learnable_rule.floor(self.spec, key, bound)
            if floor is None:
                out[key] = raw
            else:
                value = floor + F.softplus(raw)
                # an open bound: softplus can underflow to 0 in floating point, 1/α must stay finite
                keep = learnable_rule.open_floor(self.spec, key)
                out[key] = value.clamp_min(torch.finfo(raw.dtype).tiny) if keep else value
        return out

    # -- evaluation ---------------------------------------------------------------------

    def _shaped(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if w.numel() == 1:
            return w.reshape(())
        if x.ndim < 2 or x.shape[1] != w.numel():
            raise ValueError(
                f"{self.spec.name}: {w.numel()} parameters need the input's dim 1 to have that size; got shape "
                f"{tuple(x.shape)}"
            )
        return w.reshape((1, -1) + (1,) * (x.ndim - 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._native is not None:
            p = SimpleNamespace(**{**vars(self._bound), "weight": self.weight}) if self.learned else self._bound
            return self._native.fn(x, p)  # prelu's learnable weight goes to F.prelu as it is
        if not self.learned:
            return _ops.apply_op(x, [], self.spec.name, self._encoded, "", self.exact)
        weights = [self._shaped(v, x) for v in self.values().values()]
        return _ops.apply_op(x, weights, self.spec.name, self._encoded, ",".join(self.learned), self.exact)

    def extra_repr(self) -> str:
        parts = [f"name={self.spec.name!r}"] + [f"{k}={v!r}" for k, v in self._current().items()]
        if self.learned:
            parts.append(f"learnable={self.learned!r}")
            if self.num_parameters > 1:
                parts.append(f"num_parameters={self.num_parameters}")
        if self.exact:
            parts.append("exact=True")
        return ", ".join(parts)

    def _current(self) -> dict[str, Any]:
        """Every parameter's value now: the learnable ones as trained so far (a float when shared,
        a list of floats when one per channel)."""
        now: dict[str, Any] = {**self._static, **self._init}
        with torch.no_grad():
            for key, v in self.values().items():
                flat = [float(f"{t:.7g}") for t in v.detach().reshape(-1).tolist()]  # float32: 7 digits
                now[key] = flat[0] if len(flat) == 1 else flat
        return now

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def params(self) -> dict[str, Any]:
        """The parameter values (learnable ones at their initial values; see ``values()``)."""
        return {**self._static, **self._init}

    @property
    def path(self) -> str:
        """'native' when a PyTorch kernel computes it, 'generic' when the catalog's formulas do."""
        return "native" if self._native is not None else "generic"


def get(name: str, /, **kwargs: Any) -> Activation:
    """The module for the activation ``name`` (any alias, any case); see :class:`Activation`."""
    return Activation(name, **kwargs)


def _split_class(entry: str) -> type[Activation]:
    """A module class for a gated catalog entry, named by its title (GLU, SwiGLU, ...)."""
    spec = registry.spec(entry)

    def __init__(self: Activation, dim: int = -1, **kwargs: Any) -> None:
        Activation.__init__(self, entry, dim=dim, **kwargs)

    doc = f"{spec.title}: {spec.summary} Shape: (..., 2n, ...) -> (..., n, ...) along ``dim``."
    return type(spec.title, (Activation,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


GLU = _split_class("glu")
ReGLU = _split_class("reglu")
GeGLU = _split_class("geglu")
SwiGLU = _split_class("swiglu")
Bilinear = _split_class("bilinear")


class Softmax(Activation):
    """softmax(x / T) along ``dim``; T > 0 (T -> 0: argmax, large T: uniform)."""

    def __init__(self, dim: int = -1, temperature: float = 1.0, **kwargs: Any) -> None:
        super().__init__("softmax", dim=dim, temperature=temperature, **kwargs)


class LogSoftmax(Activation):
    """log_softmax(x / T) along ``dim``; T > 0."""

    def __init__(self, dim: int = -1, temperature: float = 1.0, **kwargs: Any) -> None:
        super().__init__("log_softmax", dim=dim, temperature=temperature, **kwargs)


class Maxout(nn.Module):
    """A maxout layer: y_j = max_k (W_{jk} x + b_{jk}), k = 1..pieces.

    Shape: (..., in_features) -> (..., out_features).  Ties send the gradient to the
    first maximal piece.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True) -> None:
        super().__init__()
        if pieces < 1 or int(pieces) != pieces:
            raise InvalidParameterError(f"maxout: pieces must be a positive integer; got {pieces!r}")
        self.pieces = int(pieces)
        self.linear = nn.Linear(in_features, out_features * self.pieces, bias=bias)
        self.pool = Activation("maxout", pieces=self.pieces, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.linear(x))

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


class GatedFFN(nn.Module):
    """The gated feed-forward block of LLaMA-style transformers.

    y = W_down (act(W_gate x) ⊙ W_up x), with ``activation`` the gate: an elementwise
    name (``"silu"`` makes SwiGLU, ``"gelu"`` GeGLU) or a gated entry (``"swiglu"``,
    ``"geglu"``, ``"reglu"``, ``"glu"``, ``"bilinear"``).  W_up and W_gate are one
    fused linear layer of 2·d_hidden outputs, [up | gate], split by the gated activation.

    Shape: (..., d_model) -> (..., d_model).
    """

    def __init__(self, d_model: int, d_hidden: int, activation: str = "silu", bias: bool = False) -> None:
        super().__init__()
        gated, self.gate_name = registry.gated_pair(activation)
        self.up_gate = nn.Linear(d_model, 2 * d_hidden, bias=bias)
        self.down = nn.Linear(d_hidden, d_model, bias=bias)
        self.act: nn.Module = Activation(gated) if gated is not None else _GateWith(self.gate_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up_gate(x)))


class _GateWith(nn.Module):
    """a ⊙ act(b) for an elementwise gate that has no gated catalog entry of its own."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.gate = Activation(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=-1)
        return a * self.gate(b)


def warm_up(
    activation: nn.Module | str,
    *shapes: tuple[int, ...],
    dtype: torch.dtype = torch.float32,
    backward: bool = True,
    **kwargs: Any,
) -> float:
    """Compile now the fused kernels that ``activation`` runs at each of ``shapes``; returns the seconds taken.

    A generic-path activation compiles its fused kernel (``torch.compile``) on its first call at a new
    shape of at least ``FUSE_MIN_NUMEL`` float32/float16/bfloat16 elements, which stalls that call for
    seconds; calling this before training moves the stall to a moment of your choosing.  ``activation``
    is a module (any module: its forward and backward run once per shape) or a catalog name, with
    ``kwargs`` as :func:`get` takes them.  ``backward``: compile the gradient's kernel too.  Gradients are
    computed with ``torch.autograd.grad``: no parameter's ``.grad`` changes.  A native kernel or a small
    shape compiles nothing and returns at once.

    >>> import torch, actlab.torch as at
    >>> seconds = at.warm_up("squareplus", (4, 8))   # 32 elements: op by op, nothing to compile
    """
    act = get(activation, **kwargs) if isinstance(activation, str) else activation
    if kwargs and not isinstance(activation, str):
        raise TypeError("warm_up takes keyword parameters only with an activation's name")
    start = time.perf_counter()
    with _ops.compiling_expected():
        for shape in shapes:
            x = torch.full(tuple(shape), 0.5, dtype=dtype, requires_grad=backward)
            y = act(x)
            if backward:
                inputs = [x, *(p for p in act.parameters() if p.requires_grad)]
                torch.autograd.grad(y, inputs, torch.ones_like(y))
    return time.perf_counter() - start
