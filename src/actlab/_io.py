"""Output files and folders: one rule for where they may go, one atomic writer for every command.

The rule (stated once in the README): an output *file*'s folder must already exist; an output *folder*
that a command is told to fill (``report -o DIR``, ``compare --figures DIR``) is created when its parent
exists, never its parents.  Commands check their outputs with :func:`check_file` and
:func:`check_folder` before any work, so that a long run never ends in an error about where its result
should go.

Every file is written by :func:`replacing`: to a temporary file in the target's own folder, flushed to
disk, given the mode ``open`` would give it (0o666 less the umask; ``tempfile.mkstemp`` alone makes
0o600 files) and renamed over the target with ``os.replace``.  A reader sees the old file or the new
one, never half of one; a failed write leaves no temporary file behind.  Every ``OSError`` on the way
becomes an :class:`OutputError`, one line naming the path and the reason.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import ActlabError


class OutputError(ActlabError):
    """An output path that cannot be written: the message names the path and the reason."""


def umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)  # elsewhere the only way to read it is to set it, and put it back at once
    os.umask(old)
    return old


def file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0o666 less the umask."""
    return 0o666 & ~umask()


def _for(path: Path, what: str | None) -> str:
    return f" (for {what} {path})" if what else f" (for {path})"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_writable(folder: Path, path: Path, what: str | None = None) -> None:
    """Create and delete a file in ``folder``: the one test that answers for permissions, read-only file
    systems and pseudo file systems alike (``os.access`` says yes to root on /sys).  ``path`` and ``what``
    (the output and its option) are named in the message."""
    try:
        fd, name = tempfile.mkstemp(prefix=".actlab-probe-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise OutputError(f"cannot write in folder '{folder}': {_reason(exc)}{_for(path, what)}") from None


def _target(path: str | os.PathLike[str]) -> Path:
    """The file to replace: a symbolic link is followed, so the file it points to is replaced, not the link."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_file(path: str | os.PathLike[str], what: str | None = None) -> Path:
    """Check, before any work, that a file can be written at ``path``: its folder exists and takes new
    files, the name is not too long, and nothing but a regular file stands there.  ``what`` names the option
    (``"--json"``) in the message.  Returns the path."""
    path = Path(path)
    target = _target(path)
    folder = target.parent
    if target.is_dir():
        raise OutputError(f"{path} is a folder, not a file{_for(path, what)}; name a file")
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        raise OutputError(f"{path} exists and is not a regular file; actlab replaces files whole{_for(path, what)}")
    if not folder.exists():
        raise OutputError(f"folder '{folder}' does not exist{_for(path, what)}; create it first")
    if not folder.is_dir():
        raise OutputError(f"'{folder}' is not a folder{_for(path, what)}")
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    if len(os.fsencode(target.name)) > longest:
        raise OutputError(f"the file name {target.name[:40]}... is longer than {longest} bytes{_for(path, what)}")
    check_writable(folder, path, what)
    return path


def check_folder(path: str | os.PathLike[str], what: str | None = None) -> Path:
    """Check, before any work, that a folder of output can be filled at ``path``: it is a folder that takes
    new files, or it does not exist and its parent does (:func:`make_folder` creates it; never its
    parents).  Returns the path."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputError(f"{path} exists and is not a folder{_for(path, what)}")
        check_writable(path, path, what)
        return path
    parent = path.absolute().parent if path.name else path.absolute()
    if not parent.exists():
        shown = path.parent if str(path.parent) not in ("", ".") else parent
        raise OutputError(
            f"folder '{shown}' does not exist{_for(path, what)}; create it first (actlab creates "
            f"'{path.name}' in it, never the folders above)"
        )
    if not parent.is_dir():
        raise OutputError(f"'{path.parent}' is not a folder{_for(path, what)}")
    check_writable(parent, path, what)
    return path


def make_folder(path: str | os.PathLike[str], what: str | None = None) -> Path:
    """Create the output folder ``path`` if it is not there (its parent must be; the mode follows the
    umask, as ``mkdir`` does)."""
    path = Path(path)
    if path.is_dir():
        return path
    check_folder(path, what)
    try:
        path.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {path}: {_reason(exc)}") from None
    return path


def _sync_folder(folder: Path) -> None:
    """Flush the rename itself to disk (a folder's entry); not every system lets a folder be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Write ``path`` atomically: yields a binary file to write; when the block ends without an error the
    file is flushed to disk, given the umask's mode and renamed over ``path``.  On any error the temporary
    file is removed and ``path`` is untouched; an ``OSError`` becomes an :class:`OutputError`.

    >>> with replacing("notes.txt") as fh:                         # doctest: +SKIP
    ...     fh.write(b"every byte or none")
    """
    target = _target(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".actlab-", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), file_mode())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
        raise
    _sync_folder(target.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`replacing`)."""
    with replacing(path) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` as UTF-8, atomically (:func:`replacing`)."""
    return write_bytes(path, text.encode("utf-8"))


def save_elsewhere(text: str, stem: str, suffix: str) -> Path | None:
    """Write ``text`` to a new file ``STEM-DATE-XXXX.SUFFIX`` in the current folder, else in the temporary
    folder, for results whose own path failed at the end of a run; None where neither takes it."""
    prefix = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        try:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
        except OSError:
            continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(text.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
                os.fchmod(fh.fileno(), file_mode())
        except OSError:
            try:
                os.unlink(name)
            except OSError:
                pass
            continue
        return Path(name)
    return None


def write_text_or_elsewhere(path: str | os.PathLike[str], text: str, stem: str, what: str = "the results") -> Path:
    """:func:`write_text`, and where that fails (a disk filled up, the folder went away during a long run)
    the text is kept by :func:`save_elsewhere` and the :class:`OutputError` says where."""
    try:
        return write_text(path, text)
    except OutputError as exc:
        saved = save_elsewhere(text, stem, Path(path).suffix or ".txt")
        where = f"{what} are saved in {saved} instead" if saved else f"{what} could not be saved elsewhere either"
        raise OutputError(f"{exc}; {where}") from None
