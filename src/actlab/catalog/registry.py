"""The catalog: every spec by canonical name, and the lookup that resolves aliases.

Names are matched case-insensitively and ignoring ``_``, ``-`` and spaces, so
``LeakyReLU``, ``leaky-relu`` and ``leaky_relu`` are one name.  Third-party packages
add entries through the ``actlab.activations`` entry-point group (each entry point
names a module, or a callable returning specs, that registers them), and
:func:`load_plugin` loads a module by name or a Python file by path.  The catalog remembers
where each user entry came from (:func:`plugin_sources`), so that worker processes can load
the same plugins again and see the same catalog (:func:`load_sources`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import keyword
import math
import re
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterError, PluginError, RegistrationError, UnknownActivationError, suggest
from .spec import Elementwise, Formula, Gated, Params, Spec

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


def _check(spec: Spec, *, numeric: bool = True) -> None:
    """Raise :class:`RegistrationError` unless ``spec`` can join the catalog (``numeric``: its derivatives
    are also checked against its forward, :func:`check_derivatives`)."""
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
    if isinstance(spec, Elementwise):
        _check_param_derivative_keys(spec)
        if numeric:
            check_derivatives(spec)


def _check_param_derivative_keys(spec: Elementwise) -> None:
    """Each ``param_derivatives`` key must be a learnable parameter: the PyTorch backend reads ∂f/∂θ only
    for the parameters it learns, and it learns only those marked ``learnable``."""
    by_name = {q.name: q for q in spec.params}
    for key in spec.param_derivatives:
        q = by_name.get(key)
        if q is None:
            have = ", ".join(by_name) or "none"
            raise RegistrationError(
                f"{spec.name}: param_derivatives names {key!r}, which is not one of its parameters (they are: {have})"
            )
        if not q.learnable:
            raise RegistrationError(
                f"{spec.name}: param_derivatives names {key!r}, which is not learnable "
                f"(declare it Param(..., learnable=True), or drop its derivative)"
            )


CHECK_POINTS = 48
"""Points on [-8, 8] where :func:`check_derivatives` compares f' with a difference quotient of f."""
CHECK_TOLERANCE = 1e-6
"""Allowed |f' - difference quotient|, relative to the largest |f'| on those points (at least 1)."""


def _check_grid(spec: Elementwise, p: Params) -> Any:
    import numpy as np

    # off the round numbers where kinks sit (0, ±1, ±3, ±0.5 ...): π/100 is no ratio of small integers
    x = np.linspace(-8.0, 8.0, CHECK_POINTS) + math.pi / 100
    kinks = np.array([k.x for k in spec.kink_points(p)], dtype=float)
    if kinks.size:
        x = x[np.min(np.abs(x[:, None] - kinks[None, :]), axis=1) > 1e-3]
    return x


def _quotient(g: Callable[[Any], Any], x: Any, h: Any, side: int = 0) -> Any:
    """(g(x + h) - g(x - h)) / 2h (``side=0``), or the one-sided quotient towards ``side``."""
    lo, hi = (x - h, x + h) if side == 0 else ((x, x + h) if side > 0 else (x - h, x))
    return (g(hi) - g(lo)) / (hi - lo)


def _worst_gap(claimed: Any, estimate: Any, excused: Callable[[int, float], bool]) -> int | None:
    """The index where ``claimed`` is farthest from a finite ``estimate`` beyond the tolerance (None: nowhere).

    The tolerance is :data:`CHECK_TOLERANCE` × max(1, max |estimate|); ``excused(i, tol)`` may
    clear a point on a closer look.
    """
    import numpy as np

    finite = np.isfinite(estimate)
    tol = CHECK_TOLERANCE * max(1.0, float(np.max(np.abs(estimate[finite]), initial=0.0)))
    with np.errstate(invalid="ignore"):  # an infinite claim: inf - inf is NaN, counted as the worst gap
        gap = np.abs(claimed - estimate)
    gap[np.isnan(gap)] = np.inf
    off = finite & (gap > tol)
    for i in np.flatnonzero(off):
        off[i] = not excused(int(i), tol)
    if not off.any():
        return None
    return int(np.argmax(np.where(off, gap, -1.0)))


def check_derivatives(spec: Elementwise) -> None:
    """Raise :class:`RegistrationError` when f' (or a ∂f/∂θ) disagrees with a difference quotient of f.

    At default parameters, on :data:`CHECK_POINTS` points of [-8, 8] away from the declared kinks,
    f'(x) must be within :data:`CHECK_TOLERANCE` × max(1, max |f'|) of (f(x + h) - f(x - h)) / 2h,
    h = 2^-17 max(1, |x|); likewise each ∂f/∂θ against a quotient in θ.  A kink the spec does not
    declare is allowed: there a 1024 times shorter step, or a one-sided one, agrees.  It costs a few
    evaluations on 48 points: a slip in a hand-written derivative is caught when it is registered,
    not after a training run.
    """
    import numpy as np

    from ..namespaces import numpy_ns as ns

    p = spec.defaults()
    x = _check_grid(spec, p)

    def run(fn: Formula, what: str, q: Params, v: Any) -> Any:
        try:
            with np.errstate(all="ignore"):  # a user's formula may overflow at a check point
                return np.asarray(fn(v, q, ns), dtype=float) * np.ones_like(v)
        except Exception as exc:
            raise RegistrationError(f"{spec.name}: evaluating {what} on an array failed: {exc}") from exc

    def f(v: Any) -> Any:
        return run(spec.forward, "forward", p, v)

    h = 2.0**-17 * np.maximum(1.0, np.abs(x))  # a power of two: x ± h is exact
    claimed = run(spec.derivative, "derivative", p, x)
    with np.errstate(all="ignore"):
        estimate = _quotient(f, x, h)

    def at_a_kink(i: int, tol: float) -> bool:
        # a kink between x - h and x + h that the spec does not declare (a user's relu may not):
        # a step 2^10 times shorter misses it, and at the kink itself f' is one of the one-sided slopes
        xi, small = x[i : i + 1], h[i : i + 1] / 1024
        with np.errstate(all="ignore"):
            near = [float(_quotient(f, xi, small, side)[0]) for side in (0, 1, -1)]
        return any(abs(claimed[i] - v) <= 1024 * tol for v in near)

    i = _worst_gap(claimed, estimate, at_a_kink)
    if i is not None:
        raise RegistrationError(
            f"{spec.name}: its derivative disagrees with its forward: at x = {x[i]:.6g} derivative gives "
            f"{claimed[i]:.6g}, a difference quotient of forward {estimate[i]:.6g}"
        )
    for key, formula in spec.param_derivatives.items():
        theta = float(getattr(p, key))
        step = 2.0**-17 * max(1.0, abs(theta))
        ends = [t for t in (theta - step, theta + step) if _valid(spec, p, key, t)] or [theta]
        lo, hi = (ends[0], ends[-1]) if len(ends) == 2 else (theta, ends[0])  # one-sided at a domain's end
        if lo == hi:
            continue
        with np.errstate(all="ignore"):
            by_theta = (
                run(spec.forward, "forward", spec.bind({**vars(p), key: hi}), x)
                - run(spec.forward, "forward", spec.bind({**vars(p), key: lo}), x)
            ) / (hi - lo)
        claimed = run(formula, f"param_derivatives[{key!r}]", p, x)
        i = _worst_gap(claimed, by_theta, lambda i, tol: False)
        if i is not None:
            raise RegistrationError(
                f"{spec.name}: param_derivatives[{key!r}] disagrees with its forward: at x = {x[i]:.6g}, "
                f"{key} = {theta:g} it gives {claimed[i]:.6g}, a difference quotient in {key} {by_theta[i]:.6g}"
            )


def _valid(spec: Elementwise, p: Params, key: str, value: float) -> bool:
    try:
        spec.bind({**vars(p), key: value})
    except Exception:
        return False
    return True


def register(spec: Spec, *, replace: bool = False) -> Spec:
    """Add ``spec`` to the catalog, so that every tool serves it; return it.

    A name or alias that is already taken raises :class:`RegistrationError` unless
    ``replace=True`` (which replaces an earlier user entry; built-in entries stay).
    An elementwise entry's derivative (and each ∂f/∂θ) must agree with its forward
    (:func:`check_derivatives`), and ``param_derivatives`` may name only learnable parameters.
    """
    return _register(spec, replace=replace)


def _register(spec: Spec, *, replace: bool = False, numeric: bool = True) -> Spec:
    _check(spec, numeric=numeric)
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
    _note_origin(spec.name)
    return spec


def _drop(name: str) -> None:
    old = _specs.pop(name)
    _origins.pop(name, None)
    for n in (old.name, *old.aliases):
        _keys.pop(normalise(n), None)


def unregister(name: str) -> None:
    """Remove a user-registered activation (built-in entries cannot be removed)."""
    canonical = spec(name).name
    if canonical in _builtin:
        raise RegistrationError(f"{canonical!r} is built in and cannot be removed")
    with _lock:
        _drop(canonical)


# --- plugins: where user entries come from, so that another process can load them again ---


@dataclass(frozen=True)
class PluginSource:
    """What another process loads to register the same user entries again.

    A module: ``module`` is its name and ``path``, when known, the file it came from (a file
    that is not importable under that name is loaded by path).  Or an entry point of the
    ``actlab.activations`` group: ``entry_point`` is its name and ``module`` its value
    (``package.module`` or ``package.module:callable``).  Plain data, so it pickles to workers.
    """

    module: str
    path: str | None = None
    entry_point: str | None = None

    def __str__(self) -> str:
        if self.entry_point is not None:
            return f"entry point {self.entry_point} = {self.module}"
        return self.path or self.module


_origins: dict[str, PluginSource | None] = {}  # user entry -> what registered it (None: nothing loadable)
_loaded: dict[PluginSource, None] = {}  # sources loaded in this process, in order
_loading: list[PluginSource] = []  # the sources being loaded now, innermost last (plugins may load plugins)


def _note_origin(name: str) -> None:
    """Remember what registered ``name``: the plugin being loaded, else the module whose import ran the call."""
    _origins[name] = _loading[-1] if _loading else _importing_module()


def _importing_module() -> PluginSource | None:
    """The module whose top-level code (its import) is running this call, if that module can be imported again.

    The innermost ``<module>`` frame on the stack decides: a module of ``sys.modules`` running
    its own namespace registers again when another process imports it.  ``__main__`` (a
    script, a notebook cell, ``python -c``, a test runner calling a function), a namespace that
    is no module's (doctest's copies) and a thread without any ``<module>`` frame do not.
    """
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    if frame is None:
        return None
    name = frame.f_globals.get("__name__")
    module = sys.modules.get(name) if isinstance(name, str) else None
    if name in ("__main__", "__mp_main__") or getattr(module, "__dict__", None) is not frame.f_globals:
        return None
    file = frame.f_globals.get("__file__")
    return PluginSource(name, str(Path(file).resolve()) if isinstance(file, str) else None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _find(name: str) -> importlib.machinery.ModuleSpec | None:
    """Where the import system finds ``name`` (None when nowhere; parents of a dotted name are imported)."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _found_at(name: str, path: str | Path) -> bool:
    """True when importing ``name`` finds the file ``path``."""
    found = _find(name)
    return found is not None and found.origin is not None and _same_file(found.origin, path)


def _file_source(path: Path) -> PluginSource:
    """A Python file as a source, under a stable module name: its stem when no other module has that name,
    else one derived from the file's absolute path (``actlab_plugin_<stem>_<hash>``)."""
    stem = path.parent.name if path.name == "__init__.py" else path.stem
    if stem.isidentifier() and not keyword.iskeyword(stem):
        existing = sys.modules.get(stem)
        if existing is not None:
            free = isinstance(getattr(existing, "__file__", None), str) and _same_file(existing.__file__, path)
        else:
            free = _find(stem) is None or _found_at(stem, path)
        if free:
            return PluginSource(stem, str(path))
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    safe = re.sub(r"\W", "_", stem)
    return PluginSource(f"actlab_plugin_{safe}_{digest}", str(path))


def _resolve(target: str) -> PluginSource:
    """The source a ``--plugin`` value names: a file path (it ends in ``.py`` or has a folder
    separator), else a module name — the ``NAME.py`` in the current folder when there is one,
    else the module ``NAME`` of the import path."""
    if not target.strip():
        raise PluginError("a plugin is a module name or the path of a .py file; got an empty name")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target).expanduser()
        if path.is_dir():
            raise PluginError(f"cannot import plugin {target!r}: it is a folder; name a .py file or a module")
        if not path.is_file():
            raise PluginError(f"cannot import plugin {target!r}: no such file {str(path.absolute())!r}")
        return _file_source(path.resolve())
    local = Path.cwd() / f"{target}.py"
    if not (target.isidentifier() and local.is_file()):
        return PluginSource(target)
    found = _find(target)
    if found is not None and not _found_at(target, local):
        raise PluginError(
            f"plugin {target!r} is ambiguous: the module {target} ({found.origin}) and the file {local}; "
            f"pass --plugin ./{target}.py for the file"
        )
    return _file_source(local.resolve())


def _exec_file(name: str, path: Path) -> None:
    """Load the Python file ``path`` as the module ``name`` (in ``sys.modules``, so pickling finds its functions)."""
    package = [str(path.parent)] if path.name == "__init__.py" else None
    found = importlib.util.spec_from_file_location(name, path, submodule_search_locations=package)
    if found is None or found.loader is None:
        raise PluginError(f"cannot import plugin {str(path)!r}: not a Python source file")
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module
    try:
        found.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise


def _load(source: PluginSource) -> None:
    if source.entry_point is not None:
        from importlib.metadata import EntryPoint

        loaded = EntryPoint(source.entry_point, source.module, ENTRY_POINT_GROUP).load()
        if callable(loaded):  # a callable returns specs; a module registered them on import
            for s in loaded() or ():
                register(s)
    elif source.module in sys.modules:
        return  # imported already: its registrations have run in this process
    elif source.path is not None and not _found_at(source.module, source.path):
        _exec_file(source.module, Path(source.path))
    else:
        importlib.import_module(source.module)


def _load_source(source: PluginSource, label: str) -> None:
    """Load ``source`` once per process; any failure becomes a one-line :class:`PluginError` naming ``label``."""
    done = [s for s in _loaded if s == source or (source.path is not None and s.path == source.path)]
    # a module dropped from sys.modules since (a reload, a test's clean-up) is loaded again
    if any(s.entry_point is not None or s.module in sys.modules for s in done):
        return
    _loading.append(source)
    try:
        _load(source)
    except PluginError:
        raise
    except RegistrationError as exc:
        raise PluginError(f"plugin {label} cannot register its activations: {_first_line(exc)}") from exc
    except ModuleNotFoundError as exc:
        where = f" (nor is there a {source.module}.py in this folder)" if exc.name == source.module else ""
        raise PluginError(f"cannot import plugin {label}: {_first_line(exc)}{where}") from exc
    except Exception as exc:  # the plugin's own error, whatever it is, with its type and message
        raise PluginError(f"cannot import plugin {label}: {_first_line(exc)}") from exc
    finally:
        _loading.pop()
    _loaded[source] = None


def load_plugin(target: str) -> PluginSource:
    """Load a plugin and return its source (loading one twice does nothing the second time).

    ``target`` is a module name — importable, or a ``NAME.py`` in the current folder — or
    the path of a Python file, relative or absolute, loaded by path under a stable module
    name.  The activations it registers are remembered as coming from it
    (:func:`plugin_sources`).  Raises :class:`PluginError` (one line naming the plugin and
    its own error: a ``SyntaxError`` with its line, a ``RegistrationError``, ...).
    """
    source = _resolve(str(target))
    _load_source(source, repr(str(target)))
    return source


def load_sources(sources: Iterable[PluginSource]) -> None:
    """Load, in order, the sources another process reported (:func:`plugin_sources`): run at
    the start of each worker, it gives the worker the catalog of the process that started it."""
    for source in sources:
        _load_source(source, repr(str(source)))


def plugin_sources() -> tuple[PluginSource, ...]:
    """What another process loads, in this order, to hold this process's user entries.

    Entries that no source registers again (see :func:`unshippable`) are not covered.
    """
    used = [o for n, o in _origins.items() if o is not None and n in _specs and n not in _builtin]
    return tuple(dict.fromkeys(used))


def unshippable(names: Iterable[str] | None = None) -> list[str]:
    """The user entries among ``names`` (default: all), and the gates they use, that no source
    registers again: registered by a script's ``__main__``, a notebook, or a function called
    after an import, so another process cannot load them by module name."""
    todo = [spec(n).name for n in names] if names is not None else [n for n in _specs if n not in _builtin]
    seen: set[str] = set()
    out: list[str] = []
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        entry = _specs[name]
        if isinstance(entry, Gated):
            todo.append(spec(entry.gate).name)
        shipped = getattr(entry, "formula_source", None) is not None  # a worker defines it again from its text
        if name not in _builtin and _origins.get(name) is None and not shipped:
            out.append(name)
    return out


def _load_plugins() -> None:
    """Load every entry point of the ``actlab.activations`` group, once (at the first lookup that needs them)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        source = PluginSource(ep.value, entry_point=ep.name)
        _load_source(source, repr(str(source)))


def spec(name: str) -> Spec:
    """The spec called ``name`` (or one of its aliases); suggests close names when unknown."""
    if not isinstance(name, str):
        raise TypeError(f"an activation name must be a string, not {type(name).__name__}")
    key = normalise(name)
    if key not in _keys:
        _load_plugins()
    if key not in _keys:
        found = _formula(name)
        if found is not None:
            return found
        labels = {n: n for n in names(aliases=True)}
        hint = suggest(name.lower(), labels) or suggest(key, {normalise(n): n for n in labels})
        raise UnknownActivationError(f"unknown activation {name!r}{hint}; `actlab list` shows them all")
    return _specs[_keys[key]]


def _formula(name: str) -> Spec | None:
    """The formula activation ``name`` stands for (formula text, or a name in the user catalog), defined
    on first use by :mod:`actlab.formula` (imported only then: it needs SymPy); else None."""
    from ..formula import user
    from ..formula.source import looks_like_formula

    if looks_like_formula(name) or name.strip().lower() in user.saved():
        from ..formula.core import lookup

        return lookup(name)
    return None


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


def gated_pair(activation: str) -> tuple[str | None, str]:
    """(the gated entry, its elementwise gate) for a gated feed-forward block built around ``activation``:
    an elementwise name finds the gated entry it gates (silu → swiglu; None when none has it), a gated
    name its gate (geglu → gelu).

    >>> gated_pair("silu"), gated_pair("geglu"), gated_pair("snake")
    (('swiglu', 'silu'), ('geglu', 'gelu'), (None, 'snake'))
    """
    s = spec(activation)
    if s.kind == "elementwise":
        gated = next((g.name for g in specs("gated") if isinstance(g, Gated) and spec(g.gate).name == s.name), None)
        return gated, s.name
    if isinstance(s, Gated):
        return s.name, spec(s.gate).name
    raise InvalidParameterError(
        f"a gated feed-forward block needs an elementwise or gated activation; {s.name} is {s.kind}"
    )


def _register_builtins(entries: Iterable[Spec]) -> None:
    # the built-in formulas are fixed code: tests/test_user_entries.py runs check_derivatives on each
    # of them, and skipping it here keeps the import from paying for it (with NumPy's first calls)
    for s in entries:
        _register(s, numeric=False)
        _builtin.add(s.name)


def is_builtin(name: str) -> bool:
    """True when ``name`` (or an alias) is one of actlab's own entries, False for a user's.

    Built-in entries' declared facts (range, monotonicity, accuracy bounds) are tested against
    computation; a user entry's are whatever its author wrote."""
    return spec(name).name in _builtin
