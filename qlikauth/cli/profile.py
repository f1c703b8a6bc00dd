"""``qlikauth profile add/list/show/use/remove``: the profiles in the configuration file.

``add`` takes the site from the common options (``--server``, ``--prefix``, ``--certs``)
and anything else as ``--set KEY=VALUE`` (``auth.user=alice`` for authenticator settings).
Secrets are refused unless they are references (``keyring:NAME``, ``env:VAR``): a secret
never lands in the file, nor on the command line. ``show`` redacts. ``add``, ``use`` and
``remove`` change only the profile's tables (or the ``default_profile`` line): the file's
comments and layout stay.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qlikauth.auth.base import get_authenticator
from qlikauth.cli._common import EXIT_OK, common_options, emit, show_help
from qlikauth.cli._context import command, load_config
from qlikauth.config import (
    PROFILE_ENV,
    ConfigFile,
    is_reference,
    is_secret_key,
    profile_from_settings,
    profile_toml,
)
from qlikauth.config.schema import KEYS
from qlikauth.errors import ConfigurationError
from qlikauth.site import VirtualProxy, check_host
from qlikauth.testing.emulator_info import emulator_profile_settings, read_info_file

__all__ = ["parse_setting", "register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth profile add|list|show|use|remove``."""
    profile = subparsers.add_parser(
        "profile",
        help="manage profiles in the configuration file",
        description="Profiles name a Qlik site and how to log in to it. Secrets are "
        "references (keyring:NAME or env:VAR), never values.",
    )
    profile.set_defaults(handler=show_help(profile))
    commands = profile.add_subparsers(title="profile commands", metavar="COMMAND")

    add = commands.add_parser(
        "add",
        parents=[common_options(profile=False)],
        help="add or replace a profile",
        description="Add a profile from --server, --prefix, --certs and --set KEY=VALUE "
        "pairs. Keys: " + ", ".join(sorted(KEYS)) + ", and auth.SETTING for the "
        "authenticator's settings. Values are TOML literals or plain text.",
    )
    add.add_argument("name", metavar="NAME", help="profile name (letters, digits, - and _)")
    add.add_argument("--cookie-name", help="the virtual proxy's session cookie name")
    add.add_argument("--authenticator", metavar="NAME", help="authenticator (header, jwt, ...)")
    add.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other key, e.g. qps_port=4243, auth.user=alice, "
        "auth.password=keyring:qlik-prod (repeatable)",
    )
    add.add_argument(
        "--prompt-secret",
        dest="prompt_secrets",
        action="append",
        default=[],
        metavar="KEY",
        help="ask for KEY's secret (e.g. auth.password, certs_password) without echo, store "
        "it in the OS keyring and write the keyring: reference (repeatable)",
    )
    add.add_argument(
        "--from-emulator",
        metavar="INFO_FILE",
        help="take server, ports, certs (and, with --prefix, the cookie name) from the info "
        "file of a running qlikauth emulator; other options override them",
    )
    add.add_argument("--default", action="store_true", help="make it the default profile")
    add.add_argument("--force", action="store_true", help="replace an existing profile")
    add.set_defaults(handler=_add)

    listing = commands.add_parser(
        "list",
        parents=[common_options(scope="config")],
        help="list the profiles",
        description="List profiles.",
    )
    listing.set_defaults(handler=_list)

    show = commands.add_parser(
        "show",
        parents=[common_options(scope="config")],
        help="show a profile (secrets redacted)",
        description="Show a profile as stored; references are shown, secret values never.",
    )
    show.add_argument("name", nargs="?", metavar="NAME", help="profile (default: the default)")
    show.set_defaults(handler=_show)

    use = commands.add_parser(
        "use",
        parents=[common_options(scope="config")],
        help="make a profile the default",
        description="Make a profile the default (default_profile in the configuration "
        "file); the rest of the file stays as it is.",
    )
    use.add_argument("name", metavar="NAME", help="profile to use by default")
    use.set_defaults(handler=_use)

    remove = commands.add_parser(
        "remove",
        parents=[common_options(scope="config")],
        help="remove a profile",
        description="Remove a profile from the configuration file.",
    )
    remove.add_argument("name", metavar="NAME", help="profile to remove")
    remove.set_defaults(handler=_remove)


#: Profile keys to the keystore's kinds of secret (others are stored under their own name).
_SECRET_KINDS = {
    "auth.password": "password",
    "certs_password": "pfx-password",
    "auth.passphrase": "key-passphrase",
}


def _store_prompted(profile: str, key: str) -> str:
    """Ask for the secret of ``key``, keep it in the keyring; return the reference."""
    from qlikauth import keystore

    if key not in KEYS and not key.startswith("auth."):
        raise ConfigurationError(
            f"--prompt-secret: unknown key {key!r}",
            hint="For example --prompt-secret auth.password or --prompt-secret certs_password",
        )
    if not is_secret_key(key):
        raise ConfigurationError(
            f"--prompt-secret: {key!r} is not a secret setting",
            hint="Give ordinary values with --set KEY=VALUE.",
        )
    kind = _SECRET_KINDS.get(key)
    name = keystore.secret_name(profile, kind) if kind else f"{profile}:{key.removeprefix('auth.')}"
    secret = keystore.prompt_secret(f"{key} for profile {profile}: ", confirm=True)
    keystore.set_secret(name, secret)
    return f"keyring:{name}"


def parse_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as a key and a value: a TOML literal if it is one, else the text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigurationError(
            f"--set {text!r} is not KEY=VALUE", hint="For example --set auth.user=alice"
        )
    if key not in KEYS and not key.startswith("auth."):
        raise ConfigurationError(
            f"--set: unknown key {key!r}",
            hint=f"Keys: {', '.join(sorted(KEYS))}, or auth.SETTING.",
        )
    try:
        value: Any = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    if key in KEYS and KEYS[key].kind == "str":
        value = raw  # always text, even when it looks like a number
    return key, value


#: Settings that name a file or folder: stored absolute, so the profile works from anywhere.
_PATH_KEYS = ("certs", "root", "auth.key")


def _absolute(key: str, value: Any) -> Any:
    """``value`` as an absolute path when ``key`` names a file given relative to here."""
    if key not in _PATH_KEYS or not isinstance(value, str) or not value:
        return value
    if is_reference(value) or value.lstrip().startswith("-----BEGIN"):
        return value  # a secret reference, or the PEM text itself
    return str(Path.cwd() / Path(value).expanduser())


def _jwt_settings(info: dict[str, Any], prefix: str | None) -> list[tuple[str, Any]]:
    """The signing key and claim names of the emulator's JWT virtual proxy ``prefix``."""
    for proxy in info.get("virtual_proxies", []):
        if proxy.get("prefix") == prefix and proxy.get("jwt_private_key"):
            claims = proxy.get("jwt_claims", {})
            settings = [("auth.key", proxy["jwt_private_key"])]
            settings += [
                (f"auth.{k}_claim", claims[k]) for k in ("user", "directory") if k in claims
            ]
            return settings
    return []


def _emulator_settings(
    info_file: str,
    prefix: str | None,
    scheme: object,
    *,
    own_certs: bool,
    authenticator: object = None,
) -> list[tuple[str, Any]]:
    """The site settings of a running emulator, from its info file (``own_certs``: the
    command line names another certificate folder); for the ``jwt`` authenticator on a JWT
    virtual proxy, its signing key and claim names too."""
    path = Path(info_file).expanduser()
    try:
        info = read_info_file(path)
    except ConfigurationError as exc:
        raise ConfigurationError(f"--from-emulator: {exc.message}", hint=exc.hint) from None
    try:
        settings = emulator_profile_settings(info, prefix, http=scheme == "http")
    except ConfigurationError as exc:
        raise ConfigurationError(f"--from-emulator {path}: {exc.message}", hint=exc.hint) from None
    if not own_certs and not Path(settings["certs"]).is_dir():
        raise ConfigurationError(
            f"--from-emulator {path}: the emulator's certificate folder {settings['certs']} "
            "does not exist",
            hint="Run this in the folder the emulator was started from, or give --certs.",
        )
    jwt = _jwt_settings(info, prefix) if authenticator == "jwt" else []
    return [*settings.items(), *jwt]


def _certs_exist(value: str) -> None:
    if not Path(value).expanduser().exists():
        raise ConfigurationError(
            f"{value} does not exist",
            hint="Give the folder of the exported certificates (or a .pfx file).",
        )


#: What each site setting must be, checked as the site itself will check it.
_CHECKS: dict[str, Callable[[str], object]] = {
    "server": check_host,
    "prefix": lambda prefix: VirtualProxy(prefix),
    "cookie_name": lambda name: VirtualProxy("", name),
    "authenticator": get_authenticator,
    "certs": _certs_exist,
}


def _check_settings(settings: list[tuple[str, Any]]) -> None:
    """Refuse a malformed site setting, naming it, before anything is written."""
    for key, value in dict(settings).items():  # the last value of a key is the one kept
        check = _CHECKS.get(key)
        if check is None or not isinstance(value, str):
            continue
        try:
            check(value)
        except ConfigurationError as exc:
            option = "--" + key.replace("_", "-")
            raise ConfigurationError(f"{option}: {exc.message}", hint=exc.hint) from None


@command
def _add(args: argparse.Namespace) -> int:
    config = load_config(args)
    if args.name in config.profiles and not args.force:
        raise ConfigurationError(
            f"{config.path}: profile {args.name!r} exists",
            hint="Pass --force to replace it, or choose another name.",
        )
    settings = [parse_setting(text) for text in args.settings]
    if args.from_emulator:
        set_here = dict(settings)
        own_certs = args.certs is not None or "certs" in set_here
        authenticator = args.authenticator or set_here.get("authenticator")
        emulator = _emulator_settings(
            args.from_emulator,
            args.prefix,
            set_here.get("scheme"),
            own_certs=own_certs,
            authenticator=authenticator,
        )
        settings = [*emulator, *settings]
    for key in ("server", "prefix", "certs", "cookie_name", "authenticator", "timeout"):
        given = getattr(args, key, None)
        if given is not None:
            settings.append((key, given))
    settings = [(key, _absolute(key, value)) for key, value in settings]
    _check_settings(settings)  # before a secret reaches the keyring or a line the file
    settings += [(key, _store_prompted(args.name, key)) for key in args.prompt_secrets]
    profile = profile_from_settings(args.name, settings)
    updated = config.with_profile(profile, make_default=args.default or not config.profiles)
    updated.save()
    stored = updated.profile(args.name)
    data = {
        "ok": True,
        "config": str(updated.path),
        "profile": args.name,
        "default": updated.default_profile == args.name,
        "settings": stored.redacted(),
    }
    emit(args, data, f"saved profile {args.name!r} in {updated.path}")
    return EXIT_OK


@command
def _list(args: argparse.Namespace) -> int:
    config = load_config(args)
    rows = []
    for name in sorted(config.profiles):
        profile = config.profiles[name]
        rows.append(
            {
                "name": name,
                "default": name == config.default_profile,
                "server": profile.server,
                "prefix": profile.prefix,
                "authenticator": profile.authenticator,
            }
        )
    lines = [f"{config.path}:" if config.exists else f"{config.path} (does not exist yet)"]
    for row in rows:
        mark = "*" if row["default"] else " "
        where = f"{row['server'] or '?'}/{row['prefix'] or ''}"
        lines.append(f" {mark} {row['name']:<16} {where:<40} {row['authenticator'] or ''}")
    if not rows:
        lines.append("  no profiles; add one with: qlikauth profile add NAME --server HOST")
    emit(
        args,
        {"config": str(config.path), "default": config.default_profile, "profiles": rows},
        "\n".join(lines),
    )
    return EXIT_OK


def _chosen(args: argparse.Namespace, config: ConfigFile) -> str:
    name: str | None = args.name or getattr(args, "profile", None) or os.environ.get(PROFILE_ENV)
    name = name or config.default_profile
    if name is None and len(config.profiles) == 1:
        name = next(iter(config.profiles))
    if name is None:
        raise ConfigurationError(
            f"{config.path}: which profile? none is the default",
            hint="Name it: qlikauth profile show NAME (qlikauth profile list shows them).",
        )
    return name


@command
def _show(args: argparse.Namespace) -> int:
    config = load_config(args)
    profile = config.profile(_chosen(args, config))
    shown = profile.redacted()
    lines = [f"# {config.path}", *profile_toml(profile.name, shown)]
    data = {
        "config": str(config.path),
        "profile": profile.name,
        "default": profile.name == config.default_profile,
        "settings": shown,
    }
    emit(args, data, "\n".join(lines))
    return EXIT_OK


@command
def _use(args: argparse.Namespace) -> int:
    config = load_config(args)
    updated = config.with_default(args.name)
    updated.save()
    emit(
        args,
        {"ok": True, "config": str(updated.path), "default": args.name},
        f"default profile is now {args.name!r} in {updated.path}",
    )
    return EXIT_OK


@command
def _remove(args: argparse.Namespace) -> int:
    config = load_config(args)
    updated = config.without_profile(args.name)
    updated.save()
    emit(
        args,
        {"ok": True, "config": str(updated.path), "removed": args.name},
        f"removed profile {args.name!r} from {updated.path}",
    )
    return EXIT_OK
