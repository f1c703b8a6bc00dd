"""Where the proxy listens: a loopback TCP port, or a Unix socket only its owner can open."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from pathlib import Path

from aiohttp import web

from qlikauth.errors import ConfigurationError, TransportError

__all__ = ["open_site", "remove_socket"]


def _unix_socket(path: Path) -> socket.socket:
    """A listening-ready Unix socket at ``path``, mode 0600 from the moment it appears.

    It is bound inside a private folder, given its mode, then moved into place: no other
    user can connect in between. A stale socket (nobody listening) is replaced; anything
    else at ``path`` is an error.
    """
    if path.is_symlink() or path.exists():
        if not path.is_socket():
            raise ConfigurationError(
                f"{path} exists and is not a socket", hint="Name a new path for the socket."
            )
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # nobody listens: a socket left by a proxy that did not stop cleanly
        else:
            raise ConfigurationError(
                f"another process listens on {path}", hint="Stop it, or name another path."
            )
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".qlikauth-proxy-") as folder:
            temporary = Path(folder) / "socket"
            sock.bind(str(temporary))
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
    except BaseException:
        sock.close()
        raise
    return sock


async def open_site(
    runner: web.AppRunner, *, host: str, port: int, unix_socket: Path | None
) -> web.BaseSite:
    """Start listening; a port in use or a folder without write access is a clear error."""
    try:
        if unix_socket is not None:
            site: web.BaseSite = web.SockSite(runner, _unix_socket(unix_socket))
        else:
            site = web.TCPSite(runner, host, port)
        await site.start()
    except OSError as exc:
        where = str(unix_socket) if unix_socket is not None else f"{host}:{port}"
        raise TransportError(
            f"cannot listen on {where}: {exc.strerror or exc}",
            hint="Pick another port (0 picks a free one) or another socket path.",
        ) from exc
    return site


def remove_socket(path: Path) -> None:
    """Remove the proxy's Unix socket file when it stops."""
    with contextlib.suppress(FileNotFoundError):
        if path.is_socket():
            path.unlink()
