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
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import PluginError, RegistrationError, UnknownActivationError, suggest
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
    if source in _loaded or (source.path is not None and any(s.path == source.path for s in _loaded)):
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
        if name not in _builtin and _origins.get(name) is None:
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
