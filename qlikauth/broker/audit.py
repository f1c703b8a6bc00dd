"""The audit log: one JSON object per line for every login and every refused request.

Each entry has ``time`` (UTC, ISO 8601), ``user`` (as typed, or ``null`` when none was
given), ``result``, ``client`` (the client address), ``virtual_proxy`` and, where they
apply, ``node`` (the proxy node that sent the browser), ``reason`` and ``ref`` (the
reference shown on a refusal page, to find its entry). Never a password, ticket, session id
or form token: the writer takes none of them.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

from qlikauth.errors import ConfigurationError

__all__ = ["AuditLog", "Result"]

Result = Literal[
    "success",
    "invalid_credentials",
    "account_restricted",
    "rate_limited",
    "unavailable",
    "refused",
]


class AuditLog:
    """Appends entries to ``destination``: a file path, or ``-`` for standard output.

    The file is opened for appending (created 0600), so several instances on one host may
    share it: each entry is one ``write`` of one line.
    """

    def __init__(self, destination: str | Path = "-") -> None:
        self.destination = str(destination)
        self._lock = threading.Lock()
        if self.destination == "-":
            self._stream: IO[str] = sys.stdout
            self._own = False
            return
        path = Path(self.destination).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot open the audit log {path}: {exc.strerror or exc}",
                hint="audit_log is a file the broker may append to (or - for standard output)",
            ) from None
        self._stream = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        self._own = True

    def __repr__(self) -> str:
        return f"AuditLog({self.destination!r})"

    def record(
        self,
        result: Result,
        *,
        user: str | None,
        client: str,
        virtual_proxy: str | None,
        node: str | None = None,
        reason: str | None = None,
        ref: str | None = None,
    ) -> None:
        """Write one entry."""
        entry: dict[str, str | None] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "user": user,
            "result": result,
            "client": client,
            "virtual_proxy": virtual_proxy,
        }
        for name, value in (("node", node), ("reason", reason), ("ref", ref)):
            if value is not None:
                entry[name] = value
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self._stream.write(line)
            self._stream.flush()

    def close(self) -> None:
        """Close the file (standard output stays open)."""
        if self._own:
            self._stream.close()
