"""The user catalog: formula activations a user has named (``actlab define NAME "formula"``), kept in one
small JSON file so that later commands and worker processes see them.

The file is ``$ACTLAB_FORMULAS`` when set, else ``$XDG_CONFIG_HOME/actlab/formulas.json`` (by default
``~/.config/actlab/formulas.json``).  It is written atomically (a reader sees the old file or the new
one), holds plain data only (the formula's text, its parameters' defaults, the learnable ones) and is
read again whenever it changes, so another process's ``define`` is seen at its next lookup.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._io import write_text
from ..errors import FormulaError
from .source import FormulaSource

VERSION = 1


def path() -> Path:
    """Where the user catalog lives (see the module's docstring)."""
    explicit = os.environ.get("ACTLAB_FORMULAS")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "actlab" / "formulas.json"


_cache: dict[str, Any] = {"key": None, "entries": {}}


def saved() -> dict[str, FormulaSource]:
    """The named formulas of the user catalog (empty when there is no file)."""
    file = path()
    try:
        st = file.stat()
    except OSError:
        return {}
    key = (str(file), st.st_mtime_ns, st.st_size)
    if _cache["key"] != key:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            entries = {
                str(name): FormulaSource(
                    str(d["formula"]),
                    tuple(sorted((str(k), float(v)) for k, v in d.get("params", {}).items())),
                    tuple(str(k) for k in d.get("learnable", ())),
                    bool(d.get("stabilise", True)),
                )
                for name, d in data.get("formulas", {}).items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise FormulaError(
                f"the user catalog {file} cannot be read ({type(exc).__name__}: {exc}); fix or remove it"
            ) from None
        _cache.update(key=key, entries=entries)
    return dict(_cache["entries"])


def _write(entries: dict[str, FormulaSource]) -> Path:
    file = path()
    if not file.parent.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "version": VERSION,
        "formulas": {
            name: {
                "formula": s.text,
                "params": dict(s.params),
                "learnable": list(s.learnable),
                "stabilise": s.stabilise,
            }
            for name, s in sorted(entries.items())
        },
    }
    write_text(file, json.dumps(data, indent=2) + "\n")
    return file


def save(name: str, source: FormulaSource) -> Path:
    """Keep ``name`` = ``source`` in the user catalog (replacing an older definition of that name)."""
    entries = saved()
    entries[name] = source
    return _write(entries)


def remove(name: str) -> Path:
    """Drop ``name`` from the user catalog."""
    entries = saved()
    if name not in entries:
        from ..errors import suggest

        raise FormulaError(f"the user catalog has no formula {name!r}{suggest(name, entries)}")
    del entries[name]
    return _write(entries)
