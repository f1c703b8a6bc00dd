"""Faults the client survives, each ending in documented recovery or a specific error, with
no partial file and no leaked session (counted through QPS).

QPS slow and failing (reads retried with capped pauses, tickets never), the proxy session
expiring mid-work, the emulator restarted, websockets dropped mid-call, downloads cut at
random offsets, and clocks that disagree about a JWT.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_support import emulator_site, new_user, sessions_of

from qlikauth.auth.header import HeaderAuth
from qlikauth.auth.jwt import JwtAuth
from qlikauth.client import QlikClient
from qlikauth.errors import (
    ApiError,
    EngineClosedError,
    HandshakeError,
    IncompleteDownloadError,
    JwtError,
    TransportError,
)
from qlikauth.identity import QlikUser
from qlikauth.qps import QpsClient
from qlikauth.testing.clock import ManualClock
from qlikauth.testing.emulator import EmulatorInfo, running_emulator
from qlikauth.testing.hostile import SeenRequest
from qlikauth.testing.relay import Fault, FaultyRelay, random_plan

#: Seeds of the replayable fault plans: each replays the same faults on every run.
SEEDS = range(4)
#: Download runs, each cut at another offset drawn from one seeded generator.
CUT_RUNS = 40


# --------------------------------------------------------------------------- QPS


def _reads(request: SeenRequest) -> bool:
    return request.method in ("GET", "DELETE")


@pytest.mark.parametrize("seed", SEEDS)
def test_qps_slow_and_failing_reads_recover_and_tickets_are_never_sent_twice(
    qlik_emulator_fresh: EmulatorInfo, seed: int
) -> None:
    info = qlik_emulator_fresh
    read_faults = {Fault("fail"): 0.08, Fault("cut-before"): 0.04, Fault("delay", 0.05): 0.2}
    ticket_faults = {Fault("fail"): 0.2, Fault("cut-after"): 0.2, Fault("delay", 0.05): 0.2}
    reads = random_plan(seed, read_faults, only=_reads)
    tickets = random_plan(seed + 1000, ticket_faults, only=lambda r: not _reads(r))

    def plan(index: int, request: SeenRequest) -> Fault:
        if index == 0:
            return Fault("cut-before")  # at least one read fault, whatever the seed draws
        return (reads if _reads(request) else tickets)(index, request)

    users = [QlikUser("QLIKEMU", new_user()) for _ in range(10)]
    issued = failed = 0
    with FaultyRelay(info["ports"]["qps"], info.certs_dir, mutual=True, plan=plan) as relay:
        site = emulator_site(info, "hdr", qps_port=relay.port)
        with QpsClient(site) as qps:
            for user in users:
                assert qps.user_sessions(user) == []  # a read: it recovers
                try:
                    qps.issue_ticket(user)
                    issued += 1
                except (TransportError, HandshakeError, ApiError):
                    failed += 1  # a ticket is never retried: the failure is the answer
                assert qps.list_sessions() is not None
        log = relay.log
    posts = [fault for request, fault in log if request.method == "POST"]
    assert len(posts) == len(users)  # one try per ticket, whatever happened to it
    made = sum(fault.server_acts for fault in posts)
    assert info.counters()["tickets_issued"] == made  # no ticket issued twice
    assert issued == sum(fault.kind in ("pass", "delay") for fault in posts)
    assert failed == len(users) - issued
    assert log[0][1].kind == "cut-before" and log[1][0].path == log[0][0].path  # retried


# --------------------------------------------------------------------------- the session


def test_a_session_that_expires_mid_work_is_replaced_once(
    qlik_emulator_factory: Callable[..., EmulatorInfo], manual_clock: ManualClock
) -> None:
    info = qlik_emulator_factory(session_timeout=60.0, clock=manual_clock)
    user = QlikUser("QLIKEMU", new_user())
    with QlikClient(emulator_site(info, "hdr"), HeaderAuth(user.user_id)) as client:
        doc = client.open_app(info.app_id("Sales"))
        assert doc.evaluate("Sum(Amount)")
        manual_clock.advance(61)  # the proxy's inactivity timeout passes: the session ends
        assert sessions_of(info, "hdr", user) == 0
        assert client.get("qrs/about").status == 200
        assert client.whoami() == user
        assert client.login_count == 2
        assert sessions_of(info, "hdr", user) == 1
    assert sessions_of(info, "hdr", user) == 0


def test_the_emulator_restarted_under_the_client(
    qlik_emulator_template: Path, tmp_path: Path
) -> None:
    user = QlikUser("QLIKEMU", new_user())
    with running_emulator(tmp_path / "first", qlik_emulator_template) as first:
        ports = {f"{name}_port": port for name, port in first["ports"].items()}
        site = emulator_site(first, "hdr")
        client = QlikClient(site, HeaderAuth(user.user_id))
        assert client.whoami() == user
    with pytest.raises(TransportError):
        client.whoami()  # down: a specific error, not a hang
    with running_emulator(tmp_path / "second", qlik_emulator_template, **ports) as second:
        assert client.whoami() == user  # the old session is gone: one fresh login
        assert client.login_count == 2
        assert sessions_of(second, "hdr", user) == 1
        client.close()
        assert sessions_of(second, "hdr", user) == 0


def test_a_websocket_dropped_mid_call_fails_the_call_and_the_next_one_works(
    qlik_emulator_fresh: EmulatorInfo,
) -> None:
    info = qlik_emulator_fresh
    user = QlikUser("QLIKEMU", new_user())
    with QlikClient(emulator_site(info, "hdr"), HeaderAuth(user.user_id)) as client:
        connection = client.engine(info.app_id("Sales"))
        doc = connection.open_doc(info.app_id("Sales"))
        expected = doc.evaluate("Sum(Amount)")
        pending = connection.send(doc.handle, "Evaluate", {"qExpression": "Count(OrderId)"})
        info.set_faults(drop_websockets=True)
        with pytest.raises(EngineClosedError):
            _answer_then_another(pending, doc)
        info.set_faults(drop_websockets=False)
        again = client.open_app(info.app_id("Sales"))
        assert again.evaluate("Sum(Amount)") == expected
        assert client.login_count == 1  # the session outlived its socket
        assert sessions_of(info, "hdr", user) == 1
    assert sessions_of(info, "hdr", user) == 0


def _answer_then_another(pending: Any, doc: Any) -> None:
    pending.result(10)
    doc.evaluate("Count(OrderId)")  # if the answer won the race with the drop, this one cannot


# --------------------------------------------------------------------------- downloads


def test_downloads_cut_at_random_offsets_keep_nothing_and_say_how_far_they_got(
    qlik_emulator_factory: Callable[..., EmulatorInfo], tmp_path: Path
) -> None:
    info = qlik_emulator_factory(large_app_rows=20_000)
    cuts: list[int] = []

    def plan(index: int, request: SeenRequest) -> Fault:
        if "/tempcontent/" in request.path and cuts:
            return Fault("truncate", at=cuts.pop())
        return Fault()

    user = QlikUser("QLIKEMU", new_user())
    with FaultyRelay(info["ports"]["proxy"], info.certs_dir, plan=plan) as relay:
        site = emulator_site(info, "hdr", proxy_port=relay.port)
        with QlikClient(site, HeaderAuth(user.user_id)) as client:
            cube = client.open_app(info.app_id("Large")).create_hypercube(["OrderId"], [])
            q_url = cube.export_data("CSV_C")
            whole = client.download(q_url, tmp_path / "whole.csv")
            assert whole.size > 100_000
            offsets = random.Random(20240).sample(range(whole.size), CUT_RUNS)
            folder = tmp_path / "cut"
            folder.mkdir()
            for offset in offsets:
                cuts.append(offset)
                with pytest.raises(IncompleteDownloadError) as error:
                    client.download(q_url, folder / "sales.csv")
                assert (error.value.received, error.value.expected) == (offset, whole.size)
                assert f"after {offset} of {whole.size} bytes" in error.value.message
                assert list(folder.iterdir()) == []  # neither the target nor a temporary
            again = client.download(q_url, folder / "sales.csv")
            assert again.sha256 == whole.sha256
            assert hashlib.sha256((folder / "sales.csv").read_bytes()).hexdigest() == whole.sha256
            assert client.login_count == 1
    truncated = [f for r, f in relay.log if f.kind == "truncate"]
    assert len(truncated) == CUT_RUNS
    assert sessions_of(info, "hdr", user) == 0


# --------------------------------------------------------------------------- clocks


@pytest.mark.parametrize(("offset", "seen"), [(600, "ahead of"), (-600, "behind")])
def test_a_jwt_refused_for_clock_skew_says_clock_skew(
    qlik_emulator: EmulatorInfo, offset: float, seen: str
) -> None:
    key = Path(qlik_emulator.virtual_proxy("jwt")["jwt_private_key"])
    user = new_user()
    # This machine's clock, as the login sees it, is ten minutes off the server's.
    auth = JwtAuth(user, "QLIKEMU", key=key, clock=lambda: time.time() + offset)
    with (
        QlikClient(emulator_site(qlik_emulator, "jwt"), auth) as client,
        pytest.raises(JwtError, match="clock skew") as error,
    ):
        client.whoami()
    assert f"{seen} the server's" in error.value.message
    assert "NTP" in (error.value.hint or "")
    assert sessions_of(qlik_emulator, "jwt", QlikUser("QLIKEMU", user)) == 0
