"""Small file helpers: atomic writes with tight permissions, and checking one can happen."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from qlikauth.errors import ConfigurationError

__all__ = ["atomic_write", "check_writable"]


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The temporary file is created with ``mode`` before any byte is written, so a secret is
    never readable by others, not even briefly.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_writable(path: Path, option: str) -> None:
    """Refuse ``path`` before any work when :func:`atomic_write` could not write it there.

    The nearest existing folder above it must be a writable folder (missing folders are
    made), and ``path`` itself must not be a folder.
    """
    if path.is_dir():
        raise ConfigurationError(
            f"{option} {path} is a folder, not a file", hint="Give a file name in that folder."
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"{option} {path} cannot be written: {folder} is not a writable folder",
            hint="Give a file in a folder you can write to.",
        )
