"""Load: 200 concurrent logins for distinct users, on threads and on asyncio tasks.

Each user gets exactly one proxy session (QPS lists them), every ticket is issued once and
redeemed once, and closing the clients leaves no session behind. (1,000 concurrent engine
sessions on one event loop live in ``benchmarks/bench_engine_sessions.py``: they measure.)
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from reliability_support import all_sessions, emulator_site, new_user

from qlikauth.auth.ticket import TicketAuth
from qlikauth.client import AsyncQlikClient, QlikClient
from qlikauth.identity import QlikUser
from qlikauth.testing.emulator import EmulatorInfo

LOGINS = 200


def _check_one_session_each(info: EmulatorInfo, users: list[str]) -> None:
    sessions = all_sessions(info, "ticket")
    per_user = Counter(s["UserId"] for s in sessions)
    assert per_user == Counter(users), "not exactly one session per user"
    assert len({s["SessionId"] for s in sessions}) == LOGINS
    counters = info.counters()
    assert counters["tickets_issued"] == LOGINS  # no ticket asked for twice
    assert counters["tickets_consumed"] == LOGINS  # each redeemed once, none reused
    assert counters["sessions_created"] == LOGINS


def test_200_concurrent_logins_on_threads(qlik_emulator_fresh: EmulatorInfo) -> None:
    info = qlik_emulator_fresh
    site = emulator_site(info, "ticket")
    users = [new_user("t") for _ in range(LOGINS)]
    clients = [QlikClient(site, TicketAuth(user, "QLIKEMU")) for user in users]
    start = threading.Barrier(LOGINS)

    def login(client: QlikClient) -> QlikUser:
        start.wait()  # all at once
        return client.whoami()

    try:
        with ThreadPoolExecutor(max_workers=LOGINS) as pool:
            who = list(pool.map(login, clients))
        assert who == [QlikUser("QLIKEMU", user) for user in users]
        assert all(client.login_count == 1 for client in clients)
        _check_one_session_each(info, users)
    finally:
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(QlikClient.close, clients))
    assert all_sessions(info, "ticket") == []


def test_200_concurrent_logins_on_asyncio_tasks(qlik_emulator_fresh: EmulatorInfo) -> None:
    info = qlik_emulator_fresh
    site = emulator_site(info, "ticket")
    users = [new_user("a") for _ in range(LOGINS)]

    async def main() -> list[QlikUser]:
        clients = [AsyncQlikClient(site, TicketAuth(user, "QLIKEMU")) for user in users]
        try:
            who = await asyncio.gather(*(client.whoami() for client in clients))
            assert all(client.login_count == 1 for client in clients)
            _check_one_session_each(info, users)
            return list(who)
        finally:
            await asyncio.gather(*(client.close() for client in clients))

    assert asyncio.run(main()) == [QlikUser("QLIKEMU", user) for user in users]
    assert all_sessions(info, "ticket") == []
