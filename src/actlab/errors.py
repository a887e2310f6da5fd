"""The errors actlab raises for bad input, each with a message a user can act on."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ActlabError(Exception):
    """Base class of every error actlab raises on purpose for bad input."""


class UnknownActivationError(ActlabError, KeyError):
    """An activation name that is neither a canonical name nor an alias."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidParameterError(ActlabError, ValueError):
    """A parameter that does not exist or whose value lies outside its domain."""


class RegistrationError(ActlabError, ValueError):
    """A spec that cannot join the catalog (a clash of names, a missing field)."""


class PluginError(ActlabError):
    """A plugin that cannot be loaded, or an entry that worker processes cannot load again."""


def suggest(word: str, choices: Iterable[str], *, n: int = 3) -> str:
    """Return ``" (did you mean 'a' or 'b'?)"`` for the closest choices, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    if not close:
        return ""
    quoted = [f"'{c}'" for c in close]
    joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" (did you mean {joined}?)"


class FormulaError(ActlabError, ValueError):
    """A formula activation that cannot be read, is outside the vocabulary, or is not an activation."""


class ShapeError(ActlabError, ValueError):
    """An input whose shape the activation cannot take (an odd size to split in halves ...)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what was kept: the message says what a user finds afterwards (finished runs, an
    unchanged report); ``actlab`` prints it on one line and exits 130."""
