"""Point 3 (REST and downloads) and point 7 (what an incomplete download reports): nothing a
server sends grows without bound, and nothing the client did not ask for is decoded.

Every test talks to a :class:`HostileServer` over real TLS, logged in as on a Qlik proxy.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qlikauth.auth.header import HeaderAuth
from qlikauth.client import QlikClient
from qlikauth.errors import DownloadError, IncompleteDownloadError, TransportError
from qlikauth.http import HttpTransport
from qlikauth.testing.hostile import HostileServer

MIB = 1 << 20


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def _client(server: HostileServer, **transport: Any) -> QlikClient:
    site = server.site()
    return QlikClient(site, HeaderAuth("mallory"), transport=HttpTransport(site, **transport))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_gzip_bomb_is_stopped_at_the_cap_without_inflating_it(hostile: HostileServer) -> None:
    with _client(hostile, timeout=10, max_body=MIB) as client:
        client.whoami()
        tracemalloc.start()
        try:
            with pytest.raises(TransportError, match="larger than 1048576 bytes"):
                client.get(f"bomb?bytes={256 * MIB}")  # 256 MiB of zeros, 250 KB on the wire
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 16 * MIB, f"reading the bomb held {peak} bytes at once"


def test_an_endless_body_is_stopped_at_the_cap(hostile: HostileServer) -> None:
    with (
        _client(hostile, timeout=10, max_body=2 * MIB) as client,
        pytest.raises(TransportError, match="larger than") as error,
    ):
        client.get("endless")
    assert "max_body" in str(error.value)


def test_a_trickling_answer_ends_at_the_deadline(hostile: HostileServer) -> None:
    # Each byte comes well within the read timeout: only a deadline ends this.
    with (
        _client(hostile, timeout=5, deadline=1) as client,
        pytest.raises(TransportError, match="did not arrive whole within 1 s"),
    ):
        client.get("trickle?bytes=100&interval=0.2")


def test_rest_still_decodes_the_gzip_it_asks_for(hostile: HostileServer) -> None:
    with _client(hostile, timeout=10) as client:
        answer = client.get(f"bomb?bytes={MIB}")
    assert answer.body == bytes(MIB)


def test_a_download_keeps_gzip_it_did_not_ask_for_as_sent(
    hostile: HostileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _client(hostile, timeout=10) as client:
        result = client.download(f"/hdr/bomb?bytes={64 * MIB}", tmp_path / "bomb.csv")
    sent = hostile._bomb(64 * MIB)  # what went over the wire
    assert result.size == len(sent) < MIB
    assert result.sha256 == hashlib.sha256(sent).hexdigest()
    assert "Content-Encoding 'gzip' though identity was asked" in caplog.text


def test_a_download_larger_than_max_bytes_is_refused_before_it_starts(
    hostile: HostileServer, tmp_path: Path
) -> None:
    with (
        _client(hostile, timeout=10) as client,
        pytest.raises(DownloadError, match="announces 10485760 bytes, more than max_bytes"),
    ):
        client.download(f"/hdr/huge?bytes={10 * MIB}", tmp_path / "x.csv", max_bytes=MIB)
    assert _leftovers(tmp_path) == []


def test_a_download_without_a_length_stops_at_max_bytes(
    hostile: HostileServer, tmp_path: Path
) -> None:
    with (
        _client(hostile, timeout=10) as client,
        pytest.raises(DownloadError, match="more than max_bytes"),
    ):
        client.download("/hdr/endless", tmp_path / "x.csv", max_bytes=3 * MIB)
    assert _leftovers(tmp_path) == []


def test_a_trickling_download_ends_at_its_deadline(hostile: HostileServer, tmp_path: Path) -> None:
    with (
        _client(hostile, timeout=5) as client,
        pytest.raises(DownloadError, match="within the deadline of 1 s") as error,
    ):
        client.download("/hdr/trickle?bytes=100&interval=0.2", tmp_path / "x.csv", deadline=1.0)
    assert not isinstance(error.value, IncompleteDownloadError)
    assert _leftovers(tmp_path) == []


def test_a_cut_download_says_how_much_arrived(hostile: HostileServer, tmp_path: Path) -> None:
    with _client(hostile, timeout=10) as client, pytest.raises(IncompleteDownloadError) as error:
        client.download("/hdr/cut?bytes=400000&at=200000", tmp_path / "x.csv")
    assert (error.value.received, error.value.expected) == (200000, 400000)
    assert "after 200000 of 400000 bytes" in error.value.message
    assert _leftovers(tmp_path) == []
