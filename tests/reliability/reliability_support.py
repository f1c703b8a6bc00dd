"""What the reliability tests share: sites on the emulator, sessions counted through QPS,
hostile servers trusted like the emulator, and a guard against a call that hangs.

A plain module (not conftest.py) so that tests import it by a name no other folder uses.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

import requests

from qlikauth.identity import QlikUser
from qlikauth.site import Site
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.emulator_info import site_from_emulator

T = TypeVar("T")
#: How long a call may run before a test calls it hung. Not a speed limit: every call under
#: test has its own deadline of a few seconds at most; this only keeps a hang from stalling
#: the suite.
HANG_GUARD = 20.0


def emulator_site(
    info: EmulatorInfo, prefix: str, *, certificate: bool = True, **ports: int
) -> Site:
    """The emulator through one virtual proxy (``ports`` replace some, e.g. a relay's)."""
    site = site_from_emulator(info.raw, prefix, client_certificate=certificate)
    return replace(site, **ports) if ports else site


def new_user(stem: str = "r") -> str:
    """A user id nobody else in the run uses, so session counts belong to one test."""
    return f"{stem}{uuid.uuid4().hex[:10]}"


def qps(info: EmulatorInfo, method: str, path: str, body: Any = None) -> requests.Response:
    """A QPS call with the client certificate (what an administrator's script does)."""
    return info.qps(method, path, body)


def sessions_of(info: EmulatorInfo, prefix: str, user: QlikUser) -> int:
    """How many proxy sessions QPS lists for ``user`` on virtual proxy ``prefix``."""
    return info.proxy_session_count(prefix, user.directory, user.user_id)


def all_sessions(info: EmulatorInfo, prefix: str) -> list[dict[str, Any]]:
    """Every proxy session QPS lists on virtual proxy ``prefix``."""
    answer = qps(info, "GET", f"{prefix}/session" if prefix else "session")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


@contextmanager
def hang_guard(
    release: Callable[[], object], limit: float = HANG_GUARD
) -> Iterator[Callable[[Callable[[], T]], T]]:
    """Run calls in a thread; one still running after ``limit`` seconds fails the test as
    hung, after ``release()`` (closing a server, say) unblocked it."""

    def run(call: Callable[[], T]) -> T:
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = call()
            except BaseException as exc:  # handed to the test below
                box["error"] = exc

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        worker.join(limit)
        if worker.is_alive():
            release()
            worker.join(HANG_GUARD)
            raise AssertionError(f"the call hung: still running after {limit:g} s")
        if "error" in box:
            raise box["error"]
        return box["value"]  # type: ignore[no-any-return]

    yield run
