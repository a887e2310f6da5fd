"""Byte-level text that every machine with Python has offline: the source of the standard library.

:func:`pystdlib` cuts the source files of a fixed list of pure-Python standard-library modules
(:data:`MODULES`) of the running interpreter into windows of bytes for language modelling.  The
text differs between Python versions (the modules change), so :func:`pystdlib_identity` names the
selection: the interpreter's version, the files read and a SHA-256 of their bytes.  Two results on
``pystdlib`` compare only where that hash is the same.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import sysconfig
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ActlabError

if TYPE_CHECKING:
    import torch

MODULES: tuple[str, ...] = (
    "abc", "argparse", "ast", "base64", "bisect", "calendar", "cmd", "code", "codecs", "colorsys",
    "configparser", "contextlib", "copy", "csv", "dataclasses", "difflib", "dis", "enum", "filecmp", "fnmatch",
    "fractions", "functools", "getopt", "gettext", "glob", "gzip", "heapq", "hmac", "inspect", "ipaddress",
    "linecache", "mimetypes", "netrc", "numbers", "operator", "optparse", "os", "pickle", "platform", "plistlib",
    "pprint", "py_compile", "queue", "quopri", "random", "reprlib", "sched", "secrets", "selectors", "shelve",
    "shlex", "shutil", "socket", "socketserver", "statistics", "string", "subprocess", "symtable", "tabnanny",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "traceback", "tracemalloc", "types", "typing",
    "uuid", "wave", "weakref", "zipapp",
)  # fmt: skip
"""72 single-file pure-Python modules present in every CPython from 3.10 to 3.13, sorted: general
library code (parsing, containers, text, files, processes, concurrency), without modules that are
mostly data tables (``locale``, ``stringprep``), that were removed in 3.12–3.13 (``asyncore``,
``imghdr``, …) or that became packages or thin wrappers (``pathlib``, ``zipfile``, ``datetime``)."""

VALIDATION_EVERY = 10
"""Every 10th module of :data:`MODULES` (the 10th, 20th, …) is validation text; the rest is training text."""


def stdlib_dir() -> str:
    """The directory of the running interpreter's standard library sources."""
    return sysconfig.get_paths()["stdlib"]


@functools.lru_cache(maxsize=1)
def _read() -> tuple[tuple[str, ...], tuple[str, ...], bytes, bytes]:
    """(files read, modules missing, training bytes, validation bytes), read once per process."""
    root = stdlib_dir()
    found: list[str] = []
    missing: list[str] = []
    train: list[bytes] = []
    valid: list[bytes] = []
    for i, name in enumerate(MODULES, 1):
        path = os.path.join(root, name + ".py")
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError:
            missing.append(name)
            continue
        found.append(name)
        (valid if i % VALIDATION_EVERY == 0 else train).append(text)
    if not train or not valid:
        raise ActlabError(
            f"the pystdlib dataset reads the standard library's .py sources in {root}; this Python has "
            f"{len(found)} of the {len(MODULES)} modules it reads (an install without sources, or a "
            "different layout): choose another dataset"
        )
    return tuple(found), tuple(missing), b"".join(train), b"".join(valid)


def pystdlib_identity() -> dict[str, Any]:
    """What the pystdlib text is on this interpreter: its version, where the sources were read, the
    modules read and missing, the training and validation sizes in bytes, and ``sha256`` of the
    training bytes followed by the validation bytes (the selection's identity)."""
    found, missing, train, valid = _read()
    return {
        "python": ".".join(map(str, sys.version_info[:3])),
        "implementation": sys.implementation.name,
        "stdlib": stdlib_dir(),
        "modules": list(found),
        "missing": list(missing),
        "train_bytes": len(train),
        "validation_bytes": len(valid),
        "sha256": hashlib.sha256(train + valid).hexdigest(),
    }


def _windows(data: bytes, context: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    size = context + 1
    a = np.frombuffer(data, dtype=np.uint8)[offset:]
    n = len(a) // size
    w = torch.from_numpy(a[: n * size].reshape(n, size).astype(np.int64))
    return w[:, :-1].contiguous(), w[:, 1:].contiguous()


@functools.lru_cache(maxsize=8)
def pystdlib(seed: int = 0, context: int = 128) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Byte-level language modelling of Python standard-library source: (x_train, y_train, x_test, y_test).

    The text is the files of :data:`MODULES` in the running interpreter's standard library, in that
    order; every 10th file is validation text (split by file, so no function is seen in both).  Each
    split is concatenated and cut into non-overlapping windows of ``context + 1`` bytes: x is a
    window's first ``context`` bytes, y the last ``context`` (the next byte at every position), both
    int64 tokens 0–255 of shape (N, context).  On CPython 3.11.7 the training text is 1,980,260
    bytes (15,350 windows of 129) and the validation text 250,099 bytes (1,938 windows); other
    versions differ by some percent, and :func:`pystdlib_identity` says by how much.

    ``seed`` moves where the windows start (at byte ``seed % (context + 1)`` of each split), so that
    another seed sees the same text cut elsewhere; the split by file never changes.  Cached per
    process: a second call returns the same tensors.
    """
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise ActlabError(f"pystdlib: context must be a positive number of bytes; got {context!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ActlabError(f"pystdlib: seed must be an integer; got {seed!r}")
    _, _, train, valid = _read()
    offset = seed % (context + 1)
    if len(valid) - offset < context + 1:
        raise ActlabError(
            f"pystdlib: a context of {context} bytes is longer than the validation text ({len(valid)} bytes)"
        )
    return (*_windows(train, context, offset), *_windows(valid, context, offset))
