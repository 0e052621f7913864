"""A durable, ordered spool of reports (logs, finish, video) kept on disk until the node has them.

One JSON file per entry, named by a sequence number, so order survives a restart of the executor
and an entry is never half-written (written to a temp file, then renamed).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One spooled report: a protocol action and its body."""

    id: str
    action: str
    body: dict[str, Any]


class Spool:
    """Append-only queue on disk; :meth:`ack` deletes an entry once it is delivered."""

    SUFFIX = ".json"

    def __init__(self, directory: str | os.PathLike[str], fsync: bool = False) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._lock = threading.Lock()
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        names = [p.stem for p in self.dir.glob("*" + self.SUFFIX)]
        self._seq = max((int(n) for n in names if n.isdigit()), default=0)

    def append(self, action: str, body: dict[str, Any]) -> str:
        """Store a report; returns its entry id."""
        data = json.dumps({"action": action, "body": body}, ensure_ascii=False).encode()
        with self._lock:
            self._seq += 1
            entry_id = f"{self._seq:012d}"
            tmp = self.dir / f"{entry_id}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
                if self.fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, self.dir / f"{entry_id}{self.SUFFIX}")
        return entry_id

    def pending(self, limit: int | None = None) -> list[Entry]:
        """Entries not yet acknowledged, oldest first. Unreadable files are set aside, not fatal."""
        out: list[Entry] = []
        for path in sorted(self.dir.glob("*" + self.SUFFIX)):
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                out.append(Entry(path.stem, str(raw["action"]), dict(raw["body"])))
            except FileNotFoundError:
                continue  # acknowledged meanwhile
            except (ValueError, KeyError, TypeError):
                log.error("Spool %s: entry %s is unreadable; moved aside", self.dir, path.name)
                path.rename(path.with_suffix(".bad"))
                continue
            if limit is not None and len(out) >= limit:
                break
        return out

    def ack(self, entry_id: str) -> None:
        """Forget a delivered entry."""
        (self.dir / f"{entry_id}{self.SUFFIX}").unlink(missing_ok=True)

    def __len__(self) -> int:
        return sum(1 for _ in self.dir.glob("*" + self.SUFFIX))
