"""The catalog: every spec by canonical name, and the lookup that resolves aliases.

Names are matched case-insensitively and ignoring ``_``, ``-`` and spaces, so
``LeakyReLU``, ``leaky-relu`` and ``leaky_relu`` are one name.  Third-party packages
add entries through the ``actlab.activations`` entry-point group (each entry point
names a module, or a callable returning specs, that registers them).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from ..errors import RegistrationError, UnknownActivationError, suggest
from .spec import Elementwise, Gated, Spec

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_specs: dict[str, Spec] = {}
_keys: dict[str, str] = {}  # normalised name or alias -> canonical name
_builtin: set[str] = set()
_lock = threading.Lock()
_plugins_loaded = False

ENTRY_POINT_GROUP = "actlab.activations"


def normalise(name: str) -> str:
    """The matching key of a name: lower case, without ``_``, ``-`` or spaces."""
    return re.sub(r"[\s_\-]", "", name).lower()


def _check(spec: Spec) -> None:
    if not isinstance(spec, Spec):
        raise RegistrationError(f"expected a Spec (Elementwise, AlongAxis, Gated, Pooled), got {type(spec).__name__}")
    if not _NAME.match(spec.name):
        raise RegistrationError(
            f"activation name {spec.name!r} must be lower case letters, digits and '_', starting with a letter"
        )
    seen = set()
    for q in spec.params:
        if q.name in seen:
            raise RegistrationError(f"{spec.name}: parameter {q.name!r} is declared twice")
        seen.add(q.name)
    try:
        spec.bind()
    except Exception as exc:  # the defaults themselves must be valid
        raise RegistrationError(f"{spec.name}: default parameters are invalid: {exc}") from exc
    if spec.kind != "elementwise" and "dim" not in seen:
        raise RegistrationError(f"{spec.name}: a {spec.kind} activation needs a 'dim' parameter")
    if isinstance(spec, Gated):
        gate = _specs.get(_keys.get(normalise(spec.gate), ""))
        if not isinstance(gate, Elementwise):
            raise RegistrationError(f"{spec.name}: its gate {spec.gate!r} must be a registered elementwise activation")


def register(spec: Spec, *, replace: bool = False) -> Spec:
    """Add ``spec`` to the catalog, so that every tool serves it; return it.

    A name or alias that is already taken raises :class:`RegistrationError` unless
    ``replace=True`` (which replaces an earlier user entry; built-in entries stay).
    """
    _check(spec)
    keys = [normalise(n) for n in (spec.name, *spec.aliases)]
    with _lock:
        for key, label in zip(keys, (spec.name, *spec.aliases)):
            owner = _keys.get(key)
            if owner is None or (owner == spec.name and replace):
                continue
            if owner in _builtin or not replace:
                raise RegistrationError(
                    f"the name {label!r} is already taken by the activation {owner!r}"
                    + ("" if owner in _builtin else "; pass replace=True to replace it")
                )
        if replace and spec.name in _specs:
            _drop(spec.name)
        _specs[spec.name] = spec
        for key in keys:
            _keys[key] = spec.name
    return spec


def _drop(name: str) -> None:
    old = _specs.pop(name)
    for n in (old.name, *old.aliases):
        _keys.pop(normalise(n), None)


def unregister(name: str) -> None:
    """Remove a user-registered activation (built-in entries cannot be removed)."""
    canonical = spec(name).name
    if canonical in _builtin:
        raise RegistrationError(f"{canonical!r} is built in and cannot be removed")
    with _lock:
        _drop(canonical)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        if callable(loaded):
            for s in loaded() or ():
                register(s)


def spec(name: str) -> Spec:
    """The spec called ``name`` (or one of its aliases); suggests close names when unknown."""
    if not isinstance(name, str):
        raise TypeError(f"an activation name must be a string, not {type(name).__name__}")
    key = normalise(name)
    if key not in _keys:
        _load_plugins()
    if key not in _keys:
        labels = {n: n for n in names(aliases=True)}
        hint = suggest(name.lower(), labels) or suggest(key, {normalise(n): n for n in labels})
        raise UnknownActivationError(f"unknown activation {name!r}{hint}; `actlab list` shows them all")
    return _specs[_keys[key]]


def names(*, kind: str | None = None, aliases: bool = False) -> list[str]:
    """Canonical names in catalog order (optionally one kind; optionally with aliases)."""
    _load_plugins()
    out: list[str] = []
    for s in _specs.values():
        if kind is None or s.kind == kind:
            out.append(s.name)
            if aliases:
                out.extend(s.aliases)
    return out


def specs(kind: str | None = None) -> list[Spec]:
    return [_specs[n] for n in names(kind=kind)]


def _register_builtins(entries: Iterable[Spec]) -> None:
    for s in entries:
        register(s)
        _builtin.add(s.name)
