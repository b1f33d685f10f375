"""``predict --output FILE [--resume]``: results appended to a file, and a killed run taken up again.

Why a second file beside FILE (``FILE.resume``, JSON lines): FILE stays exactly what standard
output would have held (the same bytes as ``> FILE``, in any format, CSV rows of a timeline
included), and the ledger says which files FILE holds and where each record ends.  After a
record is written and flushed, a ledger line names the file (absolute path, size,
modification time in ns) and FILE's length after it.  A run killed at any instant leaves at
most one record in FILE without its ledger line (whole or cut short); ``--resume`` cuts FILE
back to the last length the ledger vouches for and analyses that file again, so every
record is in FILE exactly once.  The ledger's first line holds what the records depend on
(format, options, label set, the model file's sha256): resuming with other options or
another model is refused rather than mixing two kinds of record in one file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

LEDGER_SUFFIX = ".resume"


class ResumeError(Exception):
    """FILE cannot be written or resumed as asked; the message says why and what to do."""


def file_key(path: str | Path) -> tuple[str, int, int] | None:
    """``(absolute path, size, mtime in ns)``: what says a file is the one analysed before; None if
    it cannot be stat'ed (it is then analysed, and gets its error line)."""
    p = Path(path).absolute()
    try:
        st = p.stat()
    except OSError:
        return None
    return str(p), st.st_size, st.st_mtime_ns


def _format_from(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return {".jsonl": "json", ".json": "json", ".ndjson": "json", ".csv": "csv"}.get(suffix, "text")


def output_format(given: str | None, output: str | None) -> str:
    """``--format`` as given, else from ``--output``'s suffix, else text."""
    if given is not None:
        return given
    return _format_from(output) if output else "text"


@dataclass
class ResultsFile:
    """FILE opened for appending, with its ledger; :meth:`done` tells which inputs it already holds."""

    path: Path
    settings: dict[str, Any]
    stream: TextIO | None = None
    #: keys (see :func:`file_key`) of the files whose records FILE holds
    keys: set[tuple[str, int, int]] = field(default_factory=set)
    #: FILE held no record when opened (its preamble was written)
    fresh: bool = True
    _ledger: TextIO | None = None

    @property
    def ledger_path(self) -> Path:
        return self.path.with_name(self.path.name + LEDGER_SUFFIX)

    def open(self, resume: bool, preamble: str = "") -> None:
        """Open for appending; with ``resume``, read the ledger and cut FILE back to what it vouches for.

        ``preamble`` (a CSV header) starts a fresh FILE; the ledger records where it ends.
        """
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists and not resume:
            raise ResumeError(
                f"{self.path} exists: add --resume to go on with it, or name a new --output file"
            )
        end = 0
        lines: list[str] = []
        if exists or (resume and self.ledger_path.exists()):
            end, lines = self._read_ledger()
            size = self.path.stat().st_size if self.path.exists() else 0
            if size < end and len(lines) > 1:
                raise ResumeError(
                    f"{self.path} is shorter ({size} bytes) than its ledger {self.ledger_path.name} says "
                    f"({end}): was it edited? Name a new --output file"
                )
            if len(lines) <= 1:  # no record vouched for: start afresh (a preamble may be cut short)
                end, lines = 0, []
            if size > end:  # the last record's ledger line was never written: that file runs again
                with open(self.path, "r+b") as f:
                    f.truncate(end)
        self.fresh = end == 0
        if self.fresh:
            start = len(preamble.encode("utf-8"))
            lines = [json.dumps({"serlive_ledger": 1, **self.settings, "start": start}) + "\n"]
        try:
            # the ledger first, whole, by rename: a kill now leaves the old ledger or the new one
            tmp = self.ledger_path.with_name(self.ledger_path.name + ".tmp")
            tmp.write_text("".join(lines), encoding="utf-8")
            os.replace(tmp, self.ledger_path)
            # kept open for the run, closed by close(): a context manager would close them too soon
            self._ledger = open(self.ledger_path, "a", encoding="utf-8")  # noqa: SIM115
            self.stream = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            raise ResumeError(f"cannot write {exc.filename}: {exc.strerror}") from exc
        if self.fresh and preamble:
            self.stream.write(preamble)
            self.stream.flush()

    def _read_ledger(self) -> tuple[int, list[str]]:
        """(FILE's length the ledger vouches for, the ledger's complete lines); fills :attr:`keys`."""
        try:
            text = self.ledger_path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ResumeError(
                f"{self.path} has no ledger ({self.ledger_path.name}), so which files it holds is "
                "unknown: name a new --output file"
            ) from exc
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines.pop()  # cut short by a kill: its record is cut from FILE too
        if not lines:
            return 0, []
        try:
            head = json.loads(lines[0])
            entries = [json.loads(line) for line in lines[1:]]
        except json.JSONDecodeError as exc:
            raise ResumeError(f"{self.ledger_path} is not a serlive ledger ({exc})") from exc
        differs = [k for k, v in self.settings.items() if head.get(k) != v]
        if differs:
            was = ", ".join(f"{k}={head.get(k)!r}" for k in differs)
            raise ResumeError(
                f"{self.path} was written with {was}; resuming with other settings or another model "
                "would mix two kinds of record: use the same options, or name a new --output file"
            )
        end = int(head.get("start", 0))
        for e in entries:
            self.keys.add((e["path"], int(e["size"]), int(e["mtime_ns"])))
            end = int(e["end"])
        return end, lines

    def done(self, path: str | Path) -> None:
        """``path``'s record is written: flush FILE, then vouch for it in the ledger."""
        assert self.stream is not None and self._ledger is not None
        self.stream.flush()
        key = file_key(path)
        if key is None:
            return
        end = os.fstat(self.stream.fileno()).st_size
        entry = {"path": key[0], "size": key[1], "mtime_ns": key[2], "end": end}
        self._ledger.write(json.dumps(entry) + "\n")
        self._ledger.flush()
        self.keys.add(key)

    def close(self) -> None:
        for f in (self.stream, self._ledger):
            if f is not None:
                f.close()
