"""The broker: logins per second with LDAP validation against Samba, and what it adds.

Baseline: :class:`~qlikauth.validators.LdapValidator` alone checking the same password
against the same Samba domain controller (LDAPS bind, nested-group search), in the same
run. A broker login is what a browser does: ``GET`` the form, ``POST`` it; the broker
checks the CSRF token and the limits, validates (the same LDAP work), asks the emulator's
QPS for a ticket and answers ``303`` to the hub. Rows alternate in rounds. The broker and
the emulator each run in a process of their own (``qlikauth broker``, ``qlikauth
emulator``); Samba is the test fixture's domain controller (needs root and Samba).

Also measured: how long a failed login takes for an unknown user and for a wrong password,
with the validator alone (the difference an attacker could time) and through the broker
(which answers every failure no sooner than ``answer_time``).

Run: ``python benchmarks/bench_broker.py [--logins 60] [--rounds 3] [--clients 4]``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from qlikauth.config import ConfigFile, Profile
from qlikauth.testing.emulator import EmulatorInfo, emulator_process
from qlikauth.testing.emulator_info import emulator_profile_settings
from qlikauth.testing.samba import (
    SambaDomainController,
    running_domain_controller,
    samba_unavailable_reason,
)
from qlikauth.validators import LdapValidator

SECRET_ENV = "QLIKAUTH_BENCH_BROKER_SECRET"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
ANSWER_TIME = 0.5


def write_config(folder: Path, info: EmulatorInfo, dc: SambaDomainController) -> Path:
    table: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "certificate": str(info.certs_dir / "server.pem"),
        "key": str(info.certs_dir / "server_key.pem"),
        "csrf_secret": f"env:{SECRET_ENV}",
        "audit_log": str(folder / "audit.jsonl"),
        "answer_time": ANSWER_TIME,
        "workers": 8,
        # Far above the default: this benchmark fails on purpose, from one address.
        "limits": {"per_user": 1_000_000, "per_address": 1_000_000},
        "validator": validator_settings(dc),
        "virtual_proxies": [{"profile": "emu"}],
    }
    profile = Profile(name="emu", **emulator_profile_settings(info.raw, "ticket"))
    path = folder / "config.toml"
    ConfigFile(path, {"emu": profile}, tables={"broker": table}).save()
    return path


def validator_settings(dc: SambaDomainController) -> dict[str, Any]:
    return {
        "kind": "ldap",
        "url": dc.ldaps_url,
        "ca_file": str(dc.ca_file),
        "tls_server_name": dc.server_name,
    }


@contextmanager
def broker_process(config: Path) -> Iterator[str]:
    """``qlikauth broker`` in a child process; yields its URL."""
    env = {**os.environ, SECRET_ENV: "bench-" + "x" * 40}
    child = subprocess.Popen(
        [sys.executable, "-m", "qlikauth", "broker", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("qlikauth broker ready: "):
            raise RuntimeError(f"the broker did not start: {line!r}")
        yield line.split(": ", 1)[1].strip()
    finally:
        child.terminate()
        child.wait(timeout=30)


class Browser:
    """A login as a browser makes it: GET the form, POST it, no redirect followed."""

    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = str(root)
        self.http = requests.Session()
        self.http.trust_env = False

    def login(self, user: str, password: str) -> int:
        page = self.http.get(self.url, verify=self.root, timeout=30)
        form = dict(_HIDDEN.findall(page.text))
        answer = self.http.post(
            self.url,
            data={**form, "user": user, "password": password},
            verify=self.root,
            allow_redirects=False,
            timeout=30,
        )
        return answer.status_code


def timed(work: Callable[[], object], count: int) -> list[float]:
    out = []
    for _ in range(count):
        start = time.perf_counter()
        work()
        out.append(time.perf_counter() - start)
    return out


def concurrent_rate(work: Callable[[], object], clients: int, per_client: int) -> float:
    """Calls per second with ``clients`` threads making ``per_client`` calls each."""

    def loop() -> None:
        for _ in range(per_client):
            work()

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return clients * per_client / (time.perf_counter() - start)


def expect(status: int, wanted: int) -> None:
    if status != wanted:
        raise RuntimeError(f"expected HTTP {wanted}, got {status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=60, help="logins per row and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--clients", type=int, default=4, help="threads of the concurrent rows")
    parser.add_argument("--failures", type=int, default=10, help="failed logins per row")
    args = parser.parse_args(argv)
    reason = samba_unavailable_reason()
    if reason:
        print(f"cannot run: no Samba Active Directory ({reason})", file=sys.stderr)
        return 2

    with (
        tempfile.TemporaryDirectory() as folder,
        running_domain_controller() as dc,
        emulator_process(Path(folder) / "emulator") as info,
    ):
        alice = dc.user("alice")
        validator = LdapValidator(dc.ldaps_url, ca_file=dc.ca_file, tls_server_name=dc.server_name)
        with broker_process(write_config(Path(folder), info, dc)) as url:
            browser = Browser(url, info.root)
            expect(browser.login(alice.down_level, alice.password), 303)  # warm up
            validator.validate(alice.down_level, alice.password)
            rows: dict[str, Callable[[], object]] = {
                "LdapValidator.validate alone (baseline)": lambda: validator.validate(
                    alice.down_level, alice.password
                ),
                "broker login (GET form, POST, 303)": lambda: expect(
                    browser.login(alice.down_level, alice.password), 303
                ),
            }
            samples: dict[str, list[float]] = {name: [] for name in rows}
            for _ in range(args.rounds):
                for name, work in rows.items():
                    samples[name] += timed(work, args.logins)
            per_client = max(1, args.logins // args.clients)
            browsers = threading.local()

            def one_login() -> None:
                if not hasattr(browsers, "b"):
                    browsers.b = Browser(url, info.root)
                expect(browsers.b.login(alice.down_level, alice.password), 303)

            parallel = {
                "LdapValidator.validate alone (baseline)": concurrent_rate(
                    rows["LdapValidator.validate alone (baseline)"], args.clients, per_client
                ),
                "broker login (GET form, POST, 303)": concurrent_rate(
                    one_login, args.clients, per_client
                ),
            }
            failures = failure_times(validator, browser, args.failures)

    print(f"{'sequential':<42} {'per s':>7} {'median ms':>10} {'p95 ms':>8}")
    medians = {}
    for name, values in samples.items():
        medians[name] = statistics.median(values)
        p95 = statistics.quantiles(values, n=20)[-1]
        print(
            f"{name:<42} {len(values) / sum(values):>7.1f} {medians[name] * 1000:>10.1f} "
            f"{p95 * 1000:>8.1f}"
        )
    print(f"\n{args.clients} concurrent clients{'':<22} {'per s':>7}")
    for name, rate in parallel.items():
        print(f"{name:<42} {rate:>7.1f}")
    base, login = medians.values()
    added = (login - base) * 1000
    share = base / login
    print(
        f"\na broker login adds {added:.1f} ms to the validator's {base * 1000:.1f} ms (median); "
        f"validation is {share:.0%} of a login (target >= 50%)"
    )
    print(f"\nfailed logins (median ms, {args.failures} each; broker answer_time {ANSWER_TIME} s)")
    for name, values in failures.items():
        print(f"{name:<42} {statistics.median(values) * 1000:>10.1f}")
    return 0 if share >= 0.5 else 1


def failure_times(validator: LdapValidator, browser: Browser, count: int) -> dict[str, list[float]]:
    """Answer times of failed logins: unknown user and wrong password, alone and via broker."""
    from qlikauth.errors import InvalidCredentialsError

    def refused(user: str) -> Callable[[], object]:
        def work() -> None:
            try:
                validator.validate(user, "Not-The-Password-1")
            except InvalidCredentialsError:
                return
            raise RuntimeError("a wrong password was accepted")

        return work

    rows: dict[str, Callable[[], object]] = {
        "validator, unknown user": refused("CORP\\nobody-at-all"),
        "validator, wrong password (alice)": refused("CORP\\alice"),
        "broker, unknown user": lambda: expect(
            browser.login("CORP\\nobody-at-all", "Not-The-Password-1"), 401
        ),
        "broker, wrong password (alice)": lambda: expect(
            browser.login("CORP\\alice", "Not-The-Password-1"), 401
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(count):
        for name, work in rows.items():
            samples[name] += timed(work, 1)
    return samples


if __name__ == "__main__":
    raise SystemExit(main())
