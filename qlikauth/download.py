"""The tempcontent downloader: fetch what ``ExportData`` produced, with the engine's session.

The ``qUrl`` is resolved under the same virtual proxy (``serverNodeId`` kept), sent with the
same credentials the engine used, and never followed through redirects: a login redirect,
a 401/403 or an HTML page where a file was expected raises :class:`LoginRedirectError`
with the likely cause (``qlik-protocol.md`` §2.10). The body streams in chunks to a
temporary file beside the target, goes out to disk as it arrives, is checked against
``Content-Length``, fsynced and renamed, so a failed download leaves nothing at the target
path. The body is saved as the server sent it (the request asks for ``identity``; nothing
is decoded), and a download can be bounded in size (``max_bytes``) and time (``deadline``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from qlikauth.credentials import Credentials, Route
from qlikauth.destination import url_authority
from qlikauth.errors import (
    DownloadError,
    ForeignHostError,
    IncompleteDownloadError,
    LoginRedirectError,
    QlikAuthError,
    TransportError,
    redact_url,
)
from qlikauth.http.transport import HttpTransport
from qlikauth.http.values import HttpRequest, HttpResponse
from qlikauth.identity import QlikUser
from qlikauth.sessions import personal_api_user
from qlikauth.site import Site

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "WRITEBACK_WINDOW",
    "DownloadResult",
    "ProgressCallback",
    "download",
    "resolve_url",
]

log = logging.getLogger("qlikauth.download")

#: Bytes read and written per step; memory use stays near this, whatever the file size.
DEFAULT_CHUNK_SIZE = 1 << 20
#: Called with (bytes received so far, total bytes or None) after every chunk.
ProgressCallback = Callable[[int, int | None], None]
#: Bytes per writeback step of a large download: each window goes to the disk as soon as it
#: is written and its cache pages are freed once it is there, so the file does not pile up
#: as dirty memory and the closing fsync has little left to wait for.
WRITEBACK_WINDOW = 32 << 20
_fadvise = getattr(os, "posix_fadvise", None)
_HTML_SUFFIXES = (".htm", ".html", ".xhtml")
#: Part of a refusal's message when the personal API says the session has ended; the
#: client logs in again only then (a refusal of a live session is a wrong user or prefix).
_SESSION_ENDED = "the personal API says the session is no longer valid"


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: where it is, how big, and its SHA-256 (hex)."""

    path: Path
    size: int
    sha256: str
    url: str

    def __repr__(self) -> str:
        return (
            f"DownloadResult(path={str(self.path)!r}, size={self.size}, "
            f"sha256={self.sha256!r}, url={redact_url(self.url)!r})"
        )


def resolve_url(site: Site, url: str, *, allow_hosts: Collection[str] = ()) -> tuple[str, bool]:
    """The absolute URL to fetch and whether credentials may go with it.

    A relative ``qUrl`` and an absolute one on the site's proxy are resolved under the
    site's virtual proxy. Another host is refused unless listed in ``allow_hosts`` (then it
    is fetched as is, without credentials).
    """
    where = url_authority(url)
    if where is not None and not site.owns(url) and where.host in {h.lower() for h in allow_hosts}:
        if where.scheme not in ("https", "http"):
            raise ForeignHostError(
                f"refusing the scheme {where.scheme!r}", url=url, hint="Use https."
            )
        return url, False
    return site.resolve(url), True


def _session_state(
    transport: HttpTransport, site: Site, credentials: Credentials
) -> tuple[bool | None, QlikUser | None]:
    """(session still valid?, its user) per the personal API; (None, None) if unknown."""
    if credentials.route is Route.DIRECT or not credentials.cookies:
        return None, None
    request = HttpRequest("GET", site.personal_url("user"), credentials.http_headers())
    try:
        answer = transport.send(request)
    except QlikAuthError:
        return None, None
    if answer.status != 200:
        return False, None
    user = personal_api_user(answer, include_anonymous=True)
    return user is not None, user


def _diagnose(
    transport: HttpTransport,
    site: Site,
    credentials: Credentials,
    request: HttpRequest,
    response: HttpResponse,
    exporter: QlikUser | None,
) -> LoginRedirectError:
    where = site.virtual_proxy_label
    if response.is_redirect:
        what = f"a redirect ({response.status}) to {redact_url(response.location or '')}"
    elif response.status in (401, 403):
        what = f"HTTP {response.status}"
    else:
        what = "an HTML page where a file was expected"
    sent = sorted(credentials.cookies) if request.headers.get("Cookie") else []
    if not sent:
        facts = [f"no session cookie was sent to {where}"]
    else:
        facts = [f"the cookie {', '.join(sent)} was sent to {where}"]
        if site.cookie_name and site.cookie_name not in sent:
            facts.append(f"but that virtual proxy expects {site.cookie_name}")
    valid, user = _session_state(transport, site, credentials)
    if valid is True:
        facts.append(f"the session is still valid for {user} per the personal API")
    elif valid is False:
        facts.append(_SESSION_ENDED)
    if credentials.route is Route.DIRECT:
        facts.append("certificate (direct) credentials make no proxy session")
        hint = (
            "Temporary content is served by the proxy, to a proxy session: for a file "
            "exported over the direct engine port, download with a proxy session of the same "
            "user (SessionAuth, which QPS creates with the same client certificate)."
        )
    elif exporter is not None and user is not None and not _same_user(exporter, user):
        facts.append(f"the file was exported by {exporter}, not by {user}")
        hint = (
            "Exported files belong to the user who exported them: download with the "
            "credentials of the engine session that called ExportData."
        )
    elif valid is False:
        hint = (
            "Log in again (QlikClient does this once by itself) and download with the new "
            "session; sessions end after the virtual proxy's inactivity timeout."
        )
    elif valid is True:
        hint = (
            "The session works, so the file is not this user's on this virtual proxy, or it "
            "was served once already: export again and download with the same session, "
            "through the same virtual proxy prefix, as the same user."
        )
    else:
        hint = (
            "Fetch it with the session cookie (not an X-Qlik-Session header) of the engine "
            "session that exported it, through the same virtual proxy prefix."
        )
    return LoginRedirectError(
        f"GET {redact_url(request.url)} was answered with {what}: " + "; ".join(facts),
        location=response.location,
        url=request.url,
        status=response.status,
        hint=hint,
        session_valid=valid,
    )


def _refusal(
    transport: HttpTransport,
    site: Site,
    credentials: Credentials,
    request: HttpRequest,
    response: HttpResponse,
    exporter: QlikUser | None,
    with_credentials: bool,
) -> DownloadError:
    """The error for any other non-2xx answer, with what the session check tells."""
    message = f"GET {redact_url(request.url)} answered HTTP {response.status}"
    if response.content_type:
        message += f" ({response.content_type})"
    hint = None
    if response.status == 404:
        facts = []
        if with_credentials:
            where = site.virtual_proxy_label
            valid, user = _session_state(transport, site, credentials)
            if valid is True:
                facts.append(f"the session of {user} on {where} is valid")
            elif valid is False:
                facts.append(_SESSION_ENDED)
            if exporter is not None and user is not None and not _same_user(exporter, user):
                facts.append(f"the file was exported by {exporter}, not by {user}")
        if facts:
            message += ": " + "; ".join(facts)
        hint = (
            "Qlik answers 404 for temporary content that is not this user's on this virtual "
            "proxy, already served once, or expired: download as the user who exported it, "
            "through the virtual proxy the export came through, or export again."
        )
    return DownloadError(message, url=request.url, status=response.status, hint=hint)


def _same_user(a: QlikUser, b: QlikUser) -> bool:
    return (a.directory.upper(), a.user_id.upper()) == (b.directory.upper(), b.user_id.upper())


def _progress_bar(total: int | None, name: str, show: bool | None) -> Any:
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, leave=False)


@contextlib.contextmanager
def _temporary_beside(target: Path) -> Iterator[tuple[IO[bytes], Path]]:
    """A temporary file in the target's folder, removed unless renamed into place."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle, temp
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def download(
    transport: HttpTransport,
    credentials: Credentials,
    url: str,
    path: Path | str,
    *,
    allow_hosts: Collection[str] = (),
    exporter: QlikUser | None = None,
    progress: bool | None = None,
    callback: ProgressCallback | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_bytes: int | None = None,
    deadline: float | None = None,
) -> DownloadResult:
    """Download ``url`` (a ``qUrl``) to ``path`` with ``credentials``; return what arrived.

    ``exporter`` (the user whose engine session exported the file, when known) sharpens the
    diagnosis of a refusal. ``progress`` shows a bar (default: only on a TTY); ``callback``
    is called after each chunk. ``path`` may be a folder: the file keeps its server name.
    ``max_bytes`` refuses a larger file (announced or arriving); ``deadline`` is the time in
    seconds the whole download may take (each read still waits at most the transport's
    ``timeout``). Either failure raises :class:`DownloadError` and keeps nothing.
    """
    until = None if deadline is None else time.monotonic() + deadline
    site = transport.site
    full_url, with_credentials = resolve_url(site, url, allow_hosts=allow_hosts)
    target = Path(path).expanduser()
    if target.is_dir():
        name = Path(urlsplit(full_url).path).name
        if not name or name in (".", ".."):
            raise DownloadError(
                f"cannot name a file after {redact_url(full_url)}",
                hint="Pass a file path instead of a folder.",
            )
        target = target / name
    if not target.parent.is_dir():
        raise DownloadError(
            f"the folder {target.parent} does not exist", hint="Create it or pick another path."
        )
    headers = {"Accept-Encoding": "identity"}
    if with_credentials:
        headers.update(credentials.http_headers())
    request = HttpRequest("GET", full_url, headers)
    with transport.open_stream(request) as stream:
        head = stream.head()
        if not 200 <= head.status < 300 or (
            "html" in head.content_type and not target.name.lower().endswith(_HTML_SUFFIXES)
        ):
            if with_credentials and (
                head.is_redirect or head.status in (401, 403) or "html" in head.content_type
            ):
                if head.status < 300:
                    head = stream.head(peek=2048)
                raise _diagnose(transport, site, credentials, request, head, exporter)
            raise _refusal(transport, site, credentials, request, head, exporter, with_credentials)
        length = head.header("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if max_bytes is not None and total is not None and total > max_bytes:
            raise DownloadError(
                f"{redact_url(full_url)} announces {total} bytes, more than max_bytes "
                f"({max_bytes}); nothing was downloaded",
                url=full_url,
                hint="Raise max_bytes if a file this large is expected.",
            )
        encoding = (head.header("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":
            log.warning(
                "the server sent %s with Content-Encoding %r though identity was asked: "
                "saved as sent, not decoded",
                redact_url(full_url),
                encoding,
            )
        limits = _Limits(max_bytes, deadline, until)
        return _stream_to(stream, target, full_url, total, progress, callback, chunk_size, limits)


@dataclass(frozen=True)
class _Limits:
    """How large a download may grow and until when (``time.monotonic``) it may run."""

    max_bytes: int | None
    deadline: float | None
    until: float | None

    def check(self, received: int, url: str) -> None:
        if self.max_bytes is not None and received > self.max_bytes:
            raise DownloadError(
                f"{redact_url(url)} sent more than max_bytes ({self.max_bytes}); the download "
                "was stopped and nothing was kept",
                url=url,
                hint="Raise max_bytes if a file this large is expected.",
            )
        if self.until is not None and time.monotonic() > self.until:
            raise DownloadError(
                f"{redact_url(url)} did not arrive within the deadline of {self.deadline:g} s "
                f"({received} bytes had arrived); nothing was kept",
                url=url,
                hint="The server sends slowly; raise the deadline if that is expected.",
            )


def _stream_to(
    stream: Any,
    target: Path,
    url: str,
    total: int | None,
    progress: bool | None,
    callback: ProgressCallback | None,
    chunk_size: int,
    limits: _Limits,
) -> DownloadResult:
    received = 0
    bar = _progress_bar(total, target.name, progress)
    try:
        with _temporary_beside(target) as (handle, temp), _Sink(handle) as sink:
            try:
                for chunk in stream.iter_bytes(chunk_size):
                    received += len(chunk)
                    limits.check(received, url)
                    sink.put(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
                    if callback is not None:
                        callback(received, total)
            except TransportError as exc:
                raise IncompleteDownloadError(
                    f"the connection broke after {received} of "
                    f"{total if total is not None else 'an unknown number of'} bytes",
                    expected=total if total is not None else -1,
                    received=received,
                    url=url,
                ) from exc
            if total is not None and received != total:
                raise IncompleteDownloadError(
                    f"{received} bytes arrived but the server announced {total}",
                    expected=total,
                    received=received,
                    url=url,
                )
            digest = sink.finish()
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(temp, target)
    finally:
        if bar is not None:
            bar.close()
    _fsync_dir(target.parent)
    return DownloadResult(target, received, digest, url)


class _Sink:
    """Writes and hashes chunks on a worker thread while the next chunk is being received.

    ``hashlib`` and file writes release the GIL for large buffers, so this overlaps with
    the TLS reads of the caller; the bounded queue keeps at most a few chunks in memory.
    """

    def __init__(self, handle: IO[bytes], depth: int = 4) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()
        self._writeback = _Writeback(handle.fileno(), WRITEBACK_WINDOW)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="qlikauth-download", daemon=True)

    def __enter__(self) -> _Sink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._stop()

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if self._error is None:
                try:
                    self._handle.write(chunk)
                    self._digest.update(chunk)
                except BaseException as exc:
                    self._error = exc
                else:
                    self._writeback.wrote(len(chunk))

    def _stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def put(self, chunk: bytes) -> None:
        """Queue one chunk (waits while the worker is a few chunks behind)."""
        if self._error is not None:
            raise self._error
        if chunk:
            self._queue.put(chunk)

    def finish(self) -> str:
        """Wait for every chunk to be written; the SHA-256 of all of them (hex)."""
        self._stop()
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()


class _Writeback:
    """Writes a large download out to disk while it is still arriving.

    At the end of each window of ``window`` bytes the kernel is told
    (``POSIX_FADV_DONTNEED``) that the windows since the last advice, and the one before
    them, will not be read again: it starts writing out the new ones and frees the cache
    pages of the older one, on disk by then. Otherwise a 1 GB download sits in memory as
    dirty pages until the closing fsync writes it all at once. The advice is only advice:
    where ``posix_fadvise`` is missing (Windows, macOS) or fails, the closing fsync alone
    writes the file out.
    """

    def __init__(self, fd: int, window: int) -> None:
        self._fd = fd
        self._window = window
        self._written = 0
        self._windows = 0
        self._advise = _fadvise

    def wrote(self, size: int) -> None:
        """Count ``size`` more bytes written to the file; advise the kernel as windows end."""
        self._written += size
        windows = self._written // self._window
        if windows == self._windows or self._advise is None:
            return
        start = max(self._windows - 1, 0) * self._window
        self._windows = windows
        try:
            self._advise(self._fd, start, windows * self._window - start, os.POSIX_FADV_DONTNEED)
        except OSError as exc:
            log.debug("no writeback advice for this download (%s); fsync will do", exc)
            self._advise = None
