"""``qlikauth download QURL -o FILE``: fetch a ``qUrl`` another tool got, with the profile's
session.

The ``qUrl`` (``/tempcontent/{id}/{file}?serverNodeId=...`` from ``ExportData`` or a QRS
app export) is resolved under the profile's virtual proxy and fetched with its session, by
the same downloader as ``export``: URLs away from the site refused, no redirect followed (a
login redirect is explained), streamed into a temporary file beside FILE and renamed only
when whole. An existing FILE is kept unless ``--force``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

from qlikauth.cli._common import EXIT_OK, common_options, emit
from qlikauth.cli._context import command, connected
from qlikauth.cli._progress import Status
from qlikauth.errors import ConfigurationError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth download``."""
    parser = subparsers.add_parser(
        "download",
        parents=[common_options()],
        help="download a qUrl (ExportData, QRS export) with the profile's session",
        description="Download QURL, a path such as /tempcontent/{id}/{file}?serverNodeId=... "
        "(or an absolute URL on the site's proxy), through the profile's virtual proxy with "
        "its session, into a temporary file renamed to FILE when complete.",
    )
    parser.add_argument("qurl", metavar="QURL", help="the qUrl an engine or QRS call returned")
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="target file, or a folder"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing FILE")
    parser.set_defaults(handler=_download)


def _target(args: argparse.Namespace) -> Path:
    """FILE, or the qUrl's file name in a folder; refused when it exists without --force."""
    target = Path(args.output).expanduser()
    name = Path(urlsplit(args.qurl).path).name
    if target.is_dir() and name:  # without a name the downloader says what is wrong
        target = target / name
    if target.exists() and not args.force:
        raise ConfigurationError(
            f"{target} already exists; nothing was downloaded",
            hint="Pass --force to replace it, or choose another -o FILE.",
        )
    return target


@command
def _download(args: argparse.Namespace) -> int:
    target = _target(args)
    with Status() as status:
        status.show("logging in")
        with connected(args) as session:
            status.show("downloading")
            result = session.client.download(args.qurl, target, callback=status.on_bytes)
    data = {"ok": True, "file": str(result.path), "size": result.size, "sha256": result.sha256}
    emit(args, data, f"wrote {result.path} ({result.size} bytes)")
    return EXIT_OK
