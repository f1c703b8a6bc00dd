"""The tempcontent downloader against the emulator: right and wrong user or prefix, refusals
explained, truncation leaves nothing behind, memory does not grow with the file."""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from qlikauth import download as downloads
from qlikauth.auth.header import HeaderAuth
from qlikauth.auth.jwt import JwtAuth
from qlikauth.client import QlikClient
from qlikauth.credentials import Credentials
from qlikauth.download import download, resolve_url
from qlikauth.errors import (
    DownloadError,
    ForeignHostError,
    IncompleteDownloadError,
    LoginRedirectError,
)
from qlikauth.http import HttpTransport
from qlikauth.site import Site
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.emulator_info import site_from_emulator


def make_site(info: EmulatorInfo, prefix: str) -> Site:
    """The emulator through one virtual proxy, trusting its root (no client certificate)."""
    return site_from_emulator(info.raw, prefix, client_certificate=False)


def new_user() -> str:
    return f"d{uuid.uuid4().hex[:10]}"


def export(client: QlikClient, info: EmulatorInfo, app: str = "Sales", **kwargs: Any) -> str:
    doc = client.open_app(info.app_id(app))
    cube = doc.create_hypercube(
        kwargs.pop("dims", ["Region"]), kwargs.pop("measures", ["Sum(Amount)"])
    )
    return cube.export_data("CSV_C", **kwargs)


def wait_sockets_closed(info: EmulatorInfo) -> None:
    """Let the emulator finish closing sockets before it is stopped."""
    deadline = time.monotonic() + 5
    while info.counters()["websockets_open"] and time.monotonic() < deadline:
        time.sleep(0.02)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def alice(qlik_emulator: EmulatorInfo) -> Iterator[QlikClient]:
    with QlikClient(make_site(qlik_emulator, "hdr"), HeaderAuth(user=new_user())) as client:
        yield client


def test_download_with_the_exporting_session(
    qlik_emulator: EmulatorInfo, alice: QlikClient, tmp_path: Path
) -> None:
    q_url = export(alice, qlik_emulator)
    assert q_url.startswith("/tempcontent/") and "serverNodeId=" in q_url
    seen: list[tuple[int, int | None]] = []
    result = alice.download(
        q_url, tmp_path / "sales.csv", callback=lambda n, t: seen.append((n, t))
    )
    data = (tmp_path / "sales.csv").read_bytes()
    assert result.path == tmp_path / "sales.csv"
    assert result.size == len(data) > 0
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert data.startswith(b"Region,Sum(Amount)")
    assert "/hdr/tempcontent/" in result.url and "serverNodeId=" in result.url
    assert seen and seen[-1] == (len(data), len(data))
    assert leftovers(tmp_path) == ["sales.csv"]
    # the same file by its absolute URL on the site, into a folder (keeps the server's name)
    absolute = f"{alice.site.origin}{q_url}"
    again = alice.download(absolute, tmp_path)
    assert again.sha256 == result.sha256
    assert again.path.name == Path(urlsplit(q_url).path).name


def test_progress_bar_on_request(
    qlik_emulator: EmulatorInfo,
    alice: QlikClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    alice.download(export(alice, qlik_emulator), tmp_path / "a.csv", progress=True)
    assert "B" in capsys.readouterr().err
    alice.download(export(alice, qlik_emulator), tmp_path / "b.csv")
    assert capsys.readouterr().err == ""  # not a TTY: silent


def test_another_user_gets_a_diagnosis_not_the_file(
    qlik_emulator: EmulatorInfo, alice: QlikClient, tmp_path: Path
) -> None:
    q_url = export(alice, qlik_emulator)
    owner = alice.whoami()
    site = make_site(qlik_emulator, "hdr")
    with QlikClient(site, HeaderAuth(user=new_user())) as bob:
        with pytest.raises(DownloadError) as refused:
            bob.download(q_url, tmp_path / "x.csv", exporter=owner)
        message = str(refused.value)
        assert f"exported by {owner}" in message
        assert "not by QLIKEMU\\" in message
        assert "as the user who exported it" in message
        assert bob.login_count == 1
    assert leftovers(tmp_path) == []


def test_another_virtual_proxy_gets_a_diagnosis_not_the_file(
    qlik_emulator: EmulatorInfo, alice: QlikClient, tmp_path: Path
) -> None:
    q_url = export(alice, qlik_emulator)
    owner = alice.whoami()
    key = qlik_emulator.virtual_proxy("jwt")["jwt_private_key"]
    jwt = JwtAuth(user=owner.user_id, directory=owner.directory, key=key)
    with QlikClient(make_site(qlik_emulator, "jwt"), jwt) as same_user_other_proxy:
        with pytest.raises(DownloadError) as refused:
            same_user_other_proxy.download(q_url, tmp_path / "x.csv", exporter=owner)
        assert "virtual proxy 'jwt' is valid" in str(refused.value)
        assert "/jwt/tempcontent/" in (refused.value.url or "")
    assert leftovers(tmp_path) == []


def test_ended_session_logs_in_again_and_downloads(
    qlik_emulator: EmulatorInfo, alice: QlikClient, tmp_path: Path
) -> None:
    q_url = export(alice, qlik_emulator)
    alice.transport.send(  # end the session behind the client's back (personal API logout)
        __import__("qlikauth.http", fromlist=["HttpRequest"]).HttpRequest(
            "DELETE", alice.site.personal_url("user"), alice.credentials().http_headers()
        )
    )
    result = alice.download(q_url, tmp_path / "x.csv")
    assert result.size > 0
    assert alice.login_count == 2


def test_login_redirect_explains_cookie_proxy_and_session(
    qlik_emulator: EmulatorInfo, tmp_path: Path
) -> None:
    site = make_site(qlik_emulator, "")  # the Windows virtual proxy redirects to its login
    stale = Credentials(cookies={"X-Qlik-Session": str(uuid.uuid4())}, cookie_name="X-Qlik-Session")
    with HttpTransport(site) as transport, pytest.raises(LoginRedirectError) as refused:
        download(transport, stale, "/tempcontent/a/b.csv?serverNodeId=n", tmp_path / "b.csv")
    message = str(refused.value)
    assert "redirect (302)" in message
    assert "cookie X-Qlik-Session was sent to the default virtual proxy" in message
    assert "no longer valid" in message
    assert refused.value.session_valid is False
    assert refused.value.location and "internal_windows_authentication" in refused.value.location
    assert leftovers(tmp_path) == []


def test_session_header_instead_of_cookie_is_refused_with_the_cause(
    qlik_emulator: EmulatorInfo, tmp_path: Path
) -> None:
    site = make_site(qlik_emulator, "hdr")
    seed_article = Credentials(headers={"X-Qlik-Session": "11111111"})
    with HttpTransport(site) as transport, pytest.raises(LoginRedirectError) as refused:
        download(transport, seed_article, "/tempcontent/a/b.csv", tmp_path / "b.csv")
    assert refused.value.status == 401
    assert "no session cookie was sent to virtual proxy 'hdr'" in str(refused.value)
    assert "not an X-Qlik-Session header" in str(refused.value)


def test_html_page_where_a_file_was_expected(alice: QlikClient, tmp_path: Path) -> None:
    with pytest.raises(LoginRedirectError, match="HTML page where a file was expected"):
        alice.download("/hub/", tmp_path / "export.csv")
    assert leftovers(tmp_path) == []


def test_foreign_hosts_are_refused_unless_allowed(alice: QlikClient, tmp_path: Path) -> None:
    with pytest.raises(ForeignHostError):
        alice.download("https://files.example.net/tempcontent/a/b.csv", tmp_path / "b.csv")
    with pytest.raises(ForeignHostError):
        alice.download(f"http://{alice.site.host}:{alice.site.proxy_port}/x.csv", tmp_path)
    url, with_credentials = resolve_url(
        alice.site, "https://files.example.net/a/b.csv", allow_hosts=["files.example.net"]
    )
    assert (url, with_credentials) == ("https://files.example.net/a/b.csv", False)
    assert resolve_url(alice.site, "/tempcontent/a/b.csv?serverNodeId=n")[1] is True
    assert leftovers(tmp_path) == []


def test_truncated_download_leaves_no_file(
    qlik_emulator_fresh: EmulatorInfo, tmp_path: Path
) -> None:
    info = qlik_emulator_fresh
    with QlikClient(make_site(info, "hdr"), HeaderAuth(user=new_user())) as client:
        q_url = export(client, info, "Sales", dims=["Country", "Product"])
        info.set_faults(truncate_downloads=True)
        target = tmp_path / "cut.csv"
        with pytest.raises(IncompleteDownloadError) as cut:
            client.download(q_url, target)
        assert 0 <= cut.value.received < cut.value.expected
        assert "Nothing was kept at the target path" in (cut.value.hint or "")
        assert leftovers(tmp_path) == []
        info.set_faults(truncate_downloads=False)
        whole = client.download(q_url, target)
        assert whole.size == cut.value.expected
        assert leftovers(tmp_path) == ["cut.csv"]
    wait_sockets_closed(info)


def _grow(path: Path, factor: int) -> None:
    """Append the file's data rows to it until it is ``factor`` times as large."""
    with path.open("rb") as f:
        f.readline()
        rows = f.read()
    with path.open("ab") as f:
        for _ in range(factor - 1):
            f.write(rows)


def _peak_while(download: Any) -> int:
    tracemalloc.start()
    try:
        download()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_file(qlik_emulator_factory: Any, tmp_path: Path) -> None:
    info = qlik_emulator_factory(large_app_rows=200_000)
    chunk = 64 * 1024
    with QlikClient(make_site(info, "hdr"), HeaderAuth(user=new_user())) as client:
        q_url = export(client, info, "Large", dims=["OrderId", "Customer"])
        client.credentials()
        target = tmp_path / "large.csv"
        small = _peak_while(lambda: client.download(q_url, target, chunk_size=chunk))
        size = target.stat().st_size
        # The emulator serves the exported file from disk: make it four times as large.
        _grow(next(info.certs_dir.parent.rglob(Path(urlsplit(q_url).path).name)), 4)
        large = _peak_while(lambda: client.download(q_url, target, chunk_size=chunk))
        assert target.stat().st_size > 3 * size > 12 * 1024 * 1024
    wait_sockets_closed(info)
    # tracemalloc also sees the in-process emulator, so allow it 1 MiB of noise: a download
    # that held the file would need 3 x size (over 12 MiB) more for the larger one.
    assert small < size / 4, (small, size)
    assert large < small + (1 << 20), (small, large)


@pytest.fixture
def grown_export(qlik_emulator: EmulatorInfo) -> Iterator[tuple[QlikClient, str, Path]]:
    """A client and the ``qUrl`` of a Sales export grown on disk to about 1 MiB."""
    with QlikClient(make_site(qlik_emulator, "hdr"), HeaderAuth(user=new_user())) as client:
        q_url = export(client, qlik_emulator, "Sales", dims=["Country", "Region"])
        served = next(qlik_emulator.certs_dir.parent.rglob(Path(urlsplit(q_url).path).name))
        _grow(served, (1 << 20) // served.stat().st_size + 1)
        assert served.stat().st_size > 1 << 19  # there were data rows to copy: it grew
        yield client, q_url, served


@pytest.mark.parametrize("chunk_size", [16 << 10, 256 << 10], ids=["4-per-window", "4-windows"])
def test_writeback_advice_covers_the_file_window_by_window(
    grown_export: tuple[QlikClient, str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk_size: int,
) -> None:
    advised: list[tuple[int, int]] = []
    real = getattr(os, "posix_fadvise", None)

    def recording(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_DONTNEED
        advised.append((offset, offset + length))
        if real is not None:
            real(fd, offset, length, advice)  # the kernel still gets the advice

    window = 64 << 10
    monkeypatch.setattr(downloads, "WRITEBACK_WINDOW", window)
    monkeypatch.setattr(downloads, "_fadvise", recording)
    client, q_url, served = grown_export
    result = client.download(q_url, tmp_path / "sales.csv", chunk_size=chunk_size)
    assert result.sha256 == hashlib.sha256(served.read_bytes()).hexdigest()
    whole_windows = result.size // window * window
    # Every range ends on a window boundary, each starts where the window before the last
    # advice began (so that window's pages are freed), and together they cover every
    # whole window from the first byte.
    assert advised[0][0] == 0
    assert advised[-1][1] == whole_windows
    for (_, end), (start, _) in itertools.pairwise(advised):
        assert start == max(end - window, 0)
    assert all(end % window == 0 for _, end in advised)


def test_failing_writeback_advice_costs_nothing_but_the_advice(
    grown_export: tuple[QlikClient, str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []

    def refusing(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append(offset)
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(downloads, "WRITEBACK_WINDOW", 64 << 10)
    monkeypatch.setattr(downloads, "_fadvise", refusing)
    client, q_url, served = grown_export
    result = client.download(q_url, tmp_path / "sales.csv")
    assert result.sha256 == hashlib.sha256(served.read_bytes()).hexdigest()
    assert result.path.read_bytes() == served.read_bytes()
    assert calls == [0]  # given up after the first refusal, not retried per window


def test_certificate_credentials_are_told_to_download_with_a_proxy_session(
    qlik_emulator: EmulatorInfo, tmp_path: Path
) -> None:
    from qlikauth.auth.certificate import CertificateAuth

    site = site_from_emulator(qlik_emulator.raw, "")
    with QlikClient(site, CertificateAuth(user=new_user(), directory="CORP")) as client:
        q_url = export(client, qlik_emulator)
        with pytest.raises(LoginRedirectError) as refused:
            client.download(q_url, tmp_path / "direct.csv")
    assert "certificate (direct) credentials make no proxy session" in str(refused.value)
    assert "SessionAuth" in (refused.value.hint or "")
    assert leftovers(tmp_path) == []
