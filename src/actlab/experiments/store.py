"""The results store: one embedded SQLite file, one row per finished run.

Two tables: ``runs`` (key, configuration, result, status, time) and ``comparisons`` (what a
comparison asked for: its activations in order and its baseline, by the setting its runs share).
A run's status is ``ok``, ``diverged`` (finished: its loss became NaN) or ``failed`` (it raised;
kept with its error, and run again by the next sweep).

Each run is written in its own transaction when it finishes, so a sweep killed at any
moment (SIGKILL included) keeps every run it had finished; running the sweep again skips
them.  A file that is not an actlab results database (or not a database at all) is refused
with a clear error and never overwritten.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._io import OutputError, check_file, file_mode
from ..errors import ActlabError, Interrupted

SCHEMA_VERSION = 2
APPLICATION_ID = 0x61637462  # "actb": marks the file as an actlab results database
DEFAULT_PATH = "actlab-results.sqlite"


class StoreError(ActlabError):
    """A results file that cannot be used (corrupt, foreign, or from a newer actlab)."""


class ResultsStore:
    """Finished runs keyed by the hash of their configuration."""

    def __init__(self, path: str | Path = DEFAULT_PATH) -> None:
        self.path = Path(path)
        in_memory = str(path) == ":memory:"
        fresh = in_memory or not self.path.exists() or self.path.stat().st_size == 0
        created = not in_memory and not self.path.exists()
        if in_memory:
            pass
        elif created:  # SQLite would say only "unable to open database file"
            check_file(self.path, "the results file")
        elif self.path.is_dir():
            raise StoreError(f"{self.path} is a folder; name a results file (--db FILE)")
        try:
            self._db = sqlite3.connect(":memory:" if in_memory else self.path, timeout=30)
            app = self._db.execute("PRAGMA application_id").fetchone()[0]
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} is not a usable results database ({exc}); move it aside or pass another --db"
            ) from None
        if not (fresh or (app == 0 and not tables)):
            if app != APPLICATION_ID:
                self._db.close()
                raise StoreError(f"{self.path} is an SQLite database of something else; actlab will not write to it")
            if version > SCHEMA_VERSION:
                self._db.close()
                raise StoreError(f"{self.path} was written by a newer actlab (schema {version} > {SCHEMA_VERSION})")
        with self._writing():
            if fresh or (app == 0 and not tables):
                with self._db:
                    self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    self._db.execute(
                        "CREATE TABLE IF NOT EXISTS runs (key TEXT PRIMARY KEY, config TEXT NOT NULL, "
                        "result TEXT NOT NULL, finished REAL NOT NULL, status TEXT NOT NULL DEFAULT 'ok')"
                    )
                if created:  # SQLite creates its files 0o644 whatever the umask; give it what open() would
                    os.chmod(self.path, file_mode())
            self._db.execute("PRAGMA journal_mode = WAL")
            self._upgrade()

    def _upgrade(self) -> None:
        """Bring a file of an earlier schema to this one, keeping its runs (schema 1 had no status
        column and no comparisons table)."""
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(runs)")}
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "status" in columns and "comparisons" in tables:
            return
        with self._db:
            if "status" not in columns:
                self._db.execute("ALTER TABLE runs ADD COLUMN status TEXT NOT NULL DEFAULT 'ok'")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS comparisons (setting TEXT PRIMARY KEY, activations TEXT NOT NULL, "
                "baseline TEXT NOT NULL, updated REAL NOT NULL)"
            )
            if self._db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @classmethod
    def memory(cls) -> ResultsStore:
        """A store that lives in memory only, for a comparison not worth keeping."""
        return cls(":memory:")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """SQLite's write failures (a read-only file or folder, a full disk) as one line naming the file."""
        try:
            yield
        except (sqlite3.OperationalError, OSError) as exc:
            raise OutputError(f"cannot write {self.path}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        """Close; a Ctrl-C inside the block leaves as :class:`actlab.errors.Interrupted`, saying how many
        finished runs the file keeps (every run is committed as it finishes)."""
        if not isinstance(exc, KeyboardInterrupt) or isinstance(exc, Interrupted):
            self.close()
            return
        try:
            kept = len(self.finished())
        except sqlite3.Error:
            kept = None
        self.close()
        if kept is None:
            raise Interrupted() from None
        runs = {0: "no finished runs are", 1: "1 finished run is"}.get(kept, f"{kept} finished runs are")
        raise Interrupted(f"{runs} kept in {self.path}; the same command resumes") from None

    def finished(self) -> set[str]:
        """Keys of the runs a sweep skips: every run but those that failed."""
        return {r[0] for r in self._db.execute("SELECT key FROM runs WHERE status != 'failed'")}

    def add(self, key: str, config: dict[str, Any], result: dict[str, Any]) -> None:
        """Record one run, atomically (a failed run of the same key is replaced)."""
        status = str(result.get("status", "ok"))
        with self._writing(), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO runs (key, config, result, finished, status) VALUES (?, ?, ?, ?, ?)",
                (key, json.dumps(config, sort_keys=True), json.dumps(result), time.time(), status),
            )

    def runs(self) -> Iterator[dict[str, Any]]:
        for key, config, result, finished, status in self._db.execute(
            "SELECT key, config, result, finished, status FROM runs ORDER BY finished"
        ):
            yield {
                "key": key,
                "config": json.loads(config),
                "result": json.loads(result),
                "finished": finished,
                "status": status,
            }

    def record_comparison(self, setting: str, activations: list[str], baseline: str) -> None:
        """What a comparison asked for: its activations in order and the baseline the others are tested against."""
        with self._writing(), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO comparisons (setting, activations, baseline, updated) VALUES (?, ?, ?, ?)",
                (setting, json.dumps(activations), baseline, time.time()),
            )

    def comparisons(self) -> dict[str, dict[str, Any]]:
        """The recorded comparisons by setting: ``{"activations": [...], "baseline": name}``."""
        return {
            setting: {"activations": json.loads(acts), "baseline": baseline}
            for setting, acts, baseline in self._db.execute(
                "SELECT setting, activations, baseline FROM comparisons ORDER BY updated"
            )
        }
