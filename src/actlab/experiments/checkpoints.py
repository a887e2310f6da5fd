"""Checkpoints of long runs: a run killed in its tenth hour resumes from its last finished epoch.

A run of at least :data:`MIN_EPOCHS` epochs that is given a folder (``<results file>.checkpoints``
beside the results store; a store in memory keeps none) saves after each epoch one file,
``<run key>.pt``: the model's and the optimizer's state, the gradient scaler's (float16 on CUDA),
PyTorch's global random state, the history so far and the epoch.  The file is written whole or
not at all (a temporary file, flushed to disk, renamed over it, as :func:`actlab._io.replacing`
does), so a kill at any moment leaves the previous epoch's checkpoint or the new one.  The
temporary file is named after the run (``.<run key>.pt.XXXX.tmp``), so that one left by a kill
is removed when the run resumes or finishes, and never piles up.

Resuming needs no more than this: every random stream of an epoch is seeded again at its start
from (seed, "epoch", e) and (seed, "order", e) (:mod:`actlab.experiments.seeds`), so a run that
restores model, optimizer and epoch trains the remaining epochs exactly as a run never
interrupted would, and ends with the same final metrics.  A run removes its checkpoint when it
finishes or diverges (a diverged run is a result, not retried); a run that raised keeps it, and
the next sweep, which retries failed runs, resumes from it.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from .._io import OutputError, _sync_folder, file_mode, make_folder

MIN_EPOCHS = 3
"""Runs of fewer epochs are quick to train again and save no checkpoint."""

FORMAT = 1
"""The checkpoint layout; a file of another format is not resumed from (the run starts afresh)."""


def folder_for(db: str | os.PathLike[str] | None) -> Path | None:
    """The checkpoint folder of a results file: ``<db>.checkpoints`` beside it; None for a store in memory."""
    if db is None or str(db) == ":memory:":
        return None
    return Path(f"{os.fspath(db)}.checkpoints")


def path(folder: str | os.PathLike[str], key: str) -> Path:
    """The checkpoint file of the run with this store key."""
    return Path(folder) / f"{key}.pt"


def save(file: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically, creating its folder (whose parent, the results file's, exists); a
    failure is an :class:`~actlab._io.OutputError` and leaves the previous checkpoint as it was."""
    import torch

    make_folder(file.parent, "the checkpoint folder")
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    except OSError as exc:
        raise OutputError(f"cannot write the checkpoint {file}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buffer.getbuffer())
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), file_mode())
        os.replace(tmp, file)
    except BaseException as exc:
        _unlink(Path(tmp))
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write the checkpoint {file}: {exc.strerror or exc}") from None
        raise
    _sync_folder(file.parent)


def load(file: Path, key: str, map_location: Any = "cpu") -> dict[str, Any] | None:
    """The checkpoint of run ``key`` in ``file``; None where there is none or it cannot be used (another
    format, another run's, unreadable: the run then starts from its first epoch and overwrites it).
    Temporary files a killed writer of this run left are removed."""
    import torch

    _remove_partial(file)
    if not file.is_file():
        return None
    try:
        state = torch.load(file, map_location=map_location, weights_only=True)
    except Exception:
        return None
    if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("key") != key:
        return None
    return state


def remove(file: Path) -> None:
    """Remove a checkpoint, and any temporary file of it, if they are there."""
    _unlink(file)
    _remove_partial(file)


def _remove_partial(file: Path) -> None:
    if file.parent.is_dir():
        for tmp in file.parent.glob(f".{file.name}.*.tmp"):
            _unlink(tmp)


def _unlink(file: Path) -> None:
    """Remove a file if it is there; one that cannot be removed is left (a finished run stays finished)."""
    try:
        file.unlink()
    except OSError:
        pass
