"""A real Samba Active Directory domain controller for tests, on loopback.

:class:`SambaDomainController` provisions a fresh domain ``CORP`` (``corp.example.com``)
into a temporary folder, starts ``samba`` bound to the loopback interface, waits until
LDAPS answers, and fills the directory with users in every state a login can meet:

========  ===========================================================  ================
user      state                                                        expected error
========  ===========================================================  ================
alice     active; in ``Sales``, which is nested in ``Europe``          (none)
dora      disabled                                                     ``disabled``
pete      password expired (set 100 days ago; the domain allows 42)    ``password_expired``
mike      must change password at next logon                           ``must_change_password``
ada       account expired                                              ``expired``
lucy      locked out (a password policy locks her after 2 failures)    ``locked``
========  ===========================================================  ================

Passwords are random per run and reach ``samba-tool`` on its standard input, never on a
command line. LDAPS uses the certificate Samba generates at start-up under
``private/tls/``: :attr:`SambaDomainController.ca_file` verifies it for the name
:attr:`SambaDomainController.server_name`. Samba's LDAP ports are fixed (389, 636), so each
domain controller binds an address of its own in ``127.0.0.0/8`` (the first one whose LDAP
ports are free): several test sessions on one machine do not collide.

The session-scoped pytest fixture :func:`samba_ad` skips, saying how to install Samba,
when ``samba-tool`` is missing. It needs root (Samba binds ports below 1024).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

__all__ = [
    "INSTALL_HINT",
    "AdUser",
    "SambaDomainController",
    "samba_ad",
    "samba_unavailable_reason",
]

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install Samba: apt-get install samba samba-ad-dc krb5-user ldap-utils winbind (Debian/Ubuntu)"
)

REALM = "CORP.EXAMPLE.COM"
NETBIOS_DOMAIN = "CORP"
HOST_NAME = "DC1"
LDAP_PORT = 389
LDAPS_PORT = 636
#: Candidate addresses: Linux answers for all of 127.0.0.0/8 on the loopback interface.
_LOOPBACK_ADDRESSES = tuple(f"127.0.0.{n}" for n in range(10, 250))
_START_TIMEOUT = 60.0
_COMMAND_TIMEOUT = 120.0
_LOCKOUT_THRESHOLD = 2
_PASSWORD_AGE_DAYS = 100
_HUNDRED_NS_PER_DAY = 864_000_000_000
# Sets pwdLastSet in the past: LDAP accepts only 0 or -1 there, so this runs in-process
# against sam.ldb with the control that bypasses the password_hash module (system session).
_BACKDATE_SCRIPT = """
import sys, ldb
from samba.samdb import SamDB
from samba.auth import system_session
from samba.param import LoadParm
conf, user, days = sys.argv[1], sys.argv[2], int(sys.argv[3])
lp = LoadParm(); lp.load(conf)
db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
res = db.search(db.domain_dn(), expression="(sAMAccountName=%s)" % user, attrs=["pwdLastSet"])
msg = ldb.Message(); msg.dn = res[0].dn
value = str(int(res[0]["pwdLastSet"][0]) - days * 864000000000)
msg["pwdLastSet"] = ldb.MessageElement(value, ldb.FLAG_MOD_REPLACE, "pwdLastSet")
db.modify(msg, controls=["local_oid:1.3.6.1.4.1.7165.4.3.12:0"])
"""

# Sets a user's userPrincipalName (samba-tool has no option for it).
_SET_UPN_SCRIPT = """
import sys, ldb
from samba.samdb import SamDB
from samba.auth import system_session
from samba.param import LoadParm
conf, user, upn = sys.argv[1], sys.argv[2], sys.argv[3]
lp = LoadParm(); lp.load(conf)
db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
res = db.search(db.domain_dn(), expression="(sAMAccountName=%s)" % user, attrs=["dn"])
msg = ldb.Message(); msg.dn = res[0].dn
msg["userPrincipalName"] = ldb.MessageElement(upn, ldb.FLAG_MOD_REPLACE, "userPrincipalName")
db.modify(msg)
"""


def _new_password() -> str:
    # Random, and always meets AD's complexity rule (three character classes).
    return f"{secrets.token_urlsafe(12)}aA1!"


@dataclass(frozen=True)
class AdUser:
    """A user of the test domain, the state it was put in and the groups it should have."""

    name: str
    password: str = field(repr=False)
    state: str = "active"
    groups: tuple[str, ...] = ()

    @property
    def upn(self) -> str:
        """``alice@corp.example.com``."""
        return f"{self.name}@{REALM.lower()}"

    @property
    def down_level(self) -> str:
        """``CORP\\alice``."""
        return f"{NETBIOS_DOMAIN}\\{self.name}"


def samba_unavailable_reason() -> str | None:
    """Why a Samba domain controller cannot run here, or ``None`` when it can."""
    missing = [tool for tool in ("samba-tool", "samba") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found; {INSTALL_HINT}"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "a Samba domain controller must run as root (it binds ports 389 and 636)"
    if free_loopback_address() is None:
        return "every candidate loopback address already has LDAP ports in use"
    return None


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def free_loopback_address() -> str | None:
    """A loopback address whose LDAP and LDAPS ports nobody holds (wildcard binds included)."""
    for address in _LOOPBACK_ADDRESSES:
        if all(_port_free(address, port) for port in (LDAP_PORT, LDAPS_PORT)):
            return address
    return None


class SambaDomainController:
    """A throw-away Active Directory domain controller in ``directory`` (see module doc)."""

    realm = REALM
    netbios_domain = NETBIOS_DOMAIN
    dns_domain = REALM.lower()
    base_dn = ",".join(f"DC={label}" for label in REALM.lower().split("."))
    server_name = f"{HOST_NAME}.{REALM}".lower()

    def __init__(self, directory: Path | str, host: str | None = None) -> None:
        self.directory = Path(directory)
        #: The loopback address this controller binds (chosen at start when not given).
        self.host = host or ""
        self.conf = self.directory / "etc" / "smb.conf"
        self.log_file = self.directory / "samba.log"
        self.users: dict[str, AdUser] = {}
        self.groups: dict[str, tuple[str, ...]] = {"Sales": (), "Europe": ("Sales",)}
        self.timings: dict[str, float] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: int | None = None

    def __repr__(self) -> str:
        running = self._process is not None and self._process.poll() is None
        return f"SambaDomainController({str(self.directory)!r}, running={running})"

    def __enter__(self) -> SambaDomainController:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def ldaps_url(self) -> str:
        """``ldaps://address:636`` of this controller."""
        return f"ldaps://{self.host}:{LDAPS_PORT}"

    @property
    def starttls_url(self) -> str:
        """``ldap://address:389`` of this controller (for StartTLS)."""
        return f"ldap://{self.host}:{LDAP_PORT}"

    @property
    def ca_file(self) -> Path:
        """The CA certificate Samba generated; it verifies the LDAPS certificate."""
        return self.directory / "private" / "tls" / "ca.pem"

    def user(self, name: str) -> AdUser:
        """The user called ``name``."""
        return self.users[name]

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Provision, populate, start and wait for LDAPS; stop again on any failure."""
        if not self.host:
            self.host = free_loopback_address() or ""
            if not self.host:
                raise RuntimeError("no loopback address with free LDAP ports")
        try:
            self._timed("provision", self._provision)
            self._timed("populate", self._populate)
            self._timed("start", self._start_server)
            self._timed("lockout", lambda: self._lock_out("lucy"))
        except BaseException:
            self.stop()
            raise
        log.info("Samba AD ready in %s: %s", self.directory, self.timings)

    def stop(self) -> None:
        """Stop every Samba process of this controller (the whole process group)."""
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                # ``samba -i`` leaves when its standard input closes.
                with contextlib.suppress(OSError):
                    process.stdin.close()
            for sig, wait in ((None, 5.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                if sig is not None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, sig)
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            # Workers may outlive the master for a moment; take the group down for good.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._log_handle is not None:
            os.close(self._log_handle)
            self._log_handle = None

    def _timed(self, what: str, step: Callable[[], None]) -> None:
        started = time.monotonic()
        step()
        self.timings[what] = round(time.monotonic() - started, 2)

    # -- steps -----------------------------------------------------------------------------

    def _run(self, args: Sequence[str], *, stdin: str | None = None) -> str:
        """Run a command without a terminal (so prompts read ``stdin``); fail loudly."""
        try:
            done = subprocess.run(
                list(args),
                input=(stdin or "").encode(),
                capture_output=True,
                timeout=_COMMAND_TIMEOUT,
                start_new_session=True,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{args[0]} {args[1:3]} timed out") from exc
        output = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0:
            tail = "\n".join(
                line for line in output.splitlines()[-15:] if "password" not in line.lower()
            )
            raise RuntimeError(f"{' '.join(args[:4])} failed ({done.returncode}):\n{tail}")
        return output

    def _samba_tool(self, *args: str, stdin: str | None = None) -> str:
        return self._run(["samba-tool", *args, "-s", str(self.conf)], stdin=stdin)

    def _provision(self) -> None:
        if self.directory.exists() and any(self.directory.iterdir()):
            raise RuntimeError(f"{self.directory} is not empty; provision needs a new folder")
        self.directory.mkdir(parents=True, exist_ok=True)
        # No --adminpass: the administrator gets a random password nobody needs; setup
        # goes through samba-tool on the database files.
        try:
            self._run(
                [
                    "samba-tool",
                    "domain",
                    "provision",
                    "--server-role=dc",
                    "--dns-backend=NONE",
                    "--use-rfc2307",
                    f"--realm={REALM}",
                    f"--domain={NETBIOS_DOMAIN}",
                    f"--host-name={HOST_NAME}",
                    f"--option=interfaces={self.host}/8",
                    "--option=bind interfaces only=yes",
                    "--option=server services=ldap",
                    "--option=prefork children=2",
                    f"--option=log file={self.directory}/log.%m",
                    f"--option=pid directory={self.directory}/run",
                    f"--option=ncalrpc dir={self.directory}/run/ncalrpc",
                    f"--targetdir={self.directory}",
                ]
            )
        except RuntimeError as exc:
            raise RuntimeError(
                f"{exc}\n(Debian installs the schema files provisioning reads with the "
                "package samba-ad-provision, which apt skips with --no-install-recommends)"
            ) from exc

    def _create_user(self, name: str, state: str, *extra: str) -> AdUser:
        password = _new_password()
        self._samba_tool("user", "create", name, *extra, stdin=f"{password}\n{password}\n")
        user = AdUser(name, password, state)
        self.users[name] = user
        return user

    def _populate(self) -> None:
        alice = self._create_user("alice", "active")
        self._create_user("dora", "disabled")
        self._samba_tool("user", "disable", "dora")
        self._create_user("pete", "password_expired")
        self._backdate_password("pete", _PASSWORD_AGE_DAYS)
        self._create_user("mike", "must_change_password", "--must-change-at-next-login")
        self._create_user("ada", "expired")
        self._samba_tool("user", "setexpiry", "ada", "--days=0")
        self._create_user("lucy", "locked")
        self._samba_tool(
            "domain",
            "passwordsettings",
            "pso",
            "create",
            "lockout",
            "1",
            f"--account-lockout-threshold={_LOCKOUT_THRESHOLD}",
            "--account-lockout-duration=600",
            "--reset-account-lockout-after=600",
        )
        self._samba_tool("domain", "passwordsettings", "pso", "apply", "lockout", "lucy")
        for group in self.groups:
            self._samba_tool("group", "add", group)
        for group, members in self.groups.items():
            if members:
                self._samba_tool("group", "addmembers", group, ",".join(members))
        self._samba_tool("group", "addmembers", "Sales", alice.name)
        self.users["alice"] = AdUser(alice.name, alice.password, "active", ("Europe", "Sales"))
        # A logon name that is not the account name, as in many real directories (Samba
        # refuses a UPN prefix that is another account's name; Windows AD may not).
        self._create_user("asmith", "active")
        self._set_upn("asmith", f"anna.smith@{REALM.lower()}")

    def _set_upn(self, name: str, upn: str) -> None:
        self._run([_samba_python(), "-c", _SET_UPN_SCRIPT, str(self.conf), name, upn])

    def _backdate_password(self, name: str, days: int) -> None:
        self._run([_samba_python(), "-c", _BACKDATE_SCRIPT, str(self.conf), name, str(days)])

    def _start_server(self) -> None:
        self._log_handle = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._process = subprocess.Popen(
            ["samba", "-i", "-s", str(self.conf), "--debug-stdout"],
            stdin=subprocess.PIPE,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"samba exited with {self._process.returncode}:\n{self._log()}")
            if self.ca_file.exists():
                try:
                    self._handshake()
                    return
                except (OSError, ssl.SSLError) as exc:
                    last_error = exc
            time.sleep(0.2)
        raise RuntimeError(
            f"LDAPS did not answer within {_START_TIMEOUT:.0f} s ({last_error}):\n{self._log()}"
        )

    def _handshake(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with (
            socket.create_connection((self.host, LDAPS_PORT), timeout=2.0) as raw,
            context.wrap_socket(raw, server_hostname=self.server_name),
        ):
            pass

    def _lock_out(self, name: str) -> None:
        """Lock ``name`` the way a real user gets locked: wrong passwords over LDAPS."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import ldap3

        context = ssl.create_default_context(cafile=str(self.ca_file))
        server_name = self.server_name

        class _Tls(ldap3.Tls):  # type: ignore[misc]
            def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
                connection.socket = context.wrap_socket(
                    connection.socket, server_hostname=server_name
                )

        user = self.users[name]
        for attempt in range(_LOCKOUT_THRESHOLD):
            server = ldap3.Server(self.host, port=LDAPS_PORT, use_ssl=True, tls=_Tls())
            conn = ldap3.Connection(server, user=user.upn, password=f"wrong-{attempt}")
            try:
                if conn.bind():
                    raise RuntimeError(f"a wrong password for {name} was accepted")
            finally:
                conn.unbind()

    def _log(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _samba_python() -> str:
    """The interpreter that runs samba-tool (it has Samba's Python bindings)."""
    tool = shutil.which("samba-tool")
    if tool:
        with contextlib.suppress(OSError), open(tool, "rb") as f:
            first = f.readline().decode(errors="replace").strip()
            if first.startswith("#!"):
                parts = first[2:].split()
                if parts and parts[0].endswith("env") and len(parts) > 1:
                    return shutil.which(parts[1]) or parts[1]
                if parts:
                    return parts[0]
    return "/usr/bin/python3"


@contextlib.contextmanager
def running_domain_controller() -> Iterator[SambaDomainController]:
    """Provision and run a domain controller in a new temporary folder; clean up after."""
    # A short path: Samba's Unix sockets live under it and socket paths are limited.
    folder = Path(tempfile.mkdtemp(prefix="qlikauth-samba-"))
    controller = SambaDomainController(folder / "dc")
    try:
        controller.start()
        yield controller
    finally:
        controller.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def samba_ad() -> Iterator[SambaDomainController]:
    """A running Samba AD domain controller for the whole test session (see module doc).

    Registered once, by :mod:`qlikauth.testing.plugin`: one controller per test session,
    on a loopback address of its own.
    """
    reason = samba_unavailable_reason()
    if reason:
        pytest.skip(f"no Samba Active Directory: {reason}")
    with running_domain_controller() as controller:
        yield controller
