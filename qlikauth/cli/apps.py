"""``qlikauth doclist`` / ``eval APP EXPR`` / ``export APP ...``: the engine, one session.

Each command opens the engine websocket through the proxy with the profile's cached
session, so two runs in a row are one Qlik proxy session. ``export`` makes a session
hypercube, calls ``ExportData`` and downloads the file with the same session, through the
same virtual proxy - the chain that fails when the parts are authenticated separately.
APP is an app id or an app name.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from qlikauth.cli._common import EXIT_OK, common_options, emit
from qlikauth.cli._context import app_id_of, command, connected, doc_list
from qlikauth.cli._progress import Status
from qlikauth.errors import ConfigurationError

__all__ = ["register"]

#: ``--format`` of ``export`` to Qlik's ExportData file types.
EXPORT_TYPES = {"csv": "CSV_C", "tsv": "CSV_T", "xlsx": "OOXML"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth doclist``, ``eval`` and ``export``."""
    doclist = subparsers.add_parser(
        "doclist",
        parents=[common_options()],
        help="list the apps the profile's user can open",
        description="GetDocList through the proxy with the profile's session.",
    )
    doclist.set_defaults(handler=_doclist)

    evaluate = subparsers.add_parser(
        "eval",
        parents=[common_options()],
        help="evaluate an expression in an app",
        description='Open APP and evaluate EXPR (e.g. "Sum(Amount)").',
    )
    evaluate.add_argument("app", metavar="APP", help="app id or name")
    evaluate.add_argument("expression", metavar="EXPR", help="a Qlik expression")
    evaluate.set_defaults(handler=_eval)

    export = subparsers.add_parser(
        "export",
        parents=[common_options()],
        help="export a table of an app to a file (ExportData + download, one session)",
        description="Make a table of --dims and --measures in APP, export it with "
        "ExportData and download the file to -o FILE with the same session.",
    )
    export.add_argument("app", metavar="APP", help="app id or name")
    export.add_argument("--dims", nargs="+", default=[], metavar="FIELD", help="dimensions")
    export.add_argument(
        "--measures", nargs="+", default=[], metavar="EXPR", help="measures, e.g. Sum(Amount)"
    )
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="target file")
    export.add_argument(
        "--format",
        choices=sorted(EXPORT_TYPES),
        help="file type (default: from FILE's suffix, else csv)",
    )
    export.set_defaults(handler=_export)


@command
def _doclist(args: argparse.Namespace) -> int:
    with connected(args) as session:
        docs = doc_list(session)
    rows = [
        {"id": d.doc_id, "name": d.name, "title": d.title, "last_reload": d.last_reload_time}
        for d in docs
    ]
    lines = [f"{r['id']}  {r['title']}" for r in rows] or ["no apps"]
    emit(args, {"ok": True, "count": len(rows), "apps": rows}, "\n".join(lines))
    return EXIT_OK


@command
def _eval(args: argparse.Namespace) -> int:
    with connected(args) as session:
        app_id = app_id_of(session, args.app)
        # open_app attaches when this user's engine session already has the app open.
        doc = session.client.open_app(app_id, **session.engine_options)
        result = doc.evaluate_ex(args.expression)
    data: dict[str, Any] = {"ok": True, "app": app_id, "expression": args.expression}
    data["value"] = result.value
    data["text"] = result.text
    # The engine's own text is what Qlik shows (7, not 7.0); the number is in --json.
    emit(args, data, result.text)
    return EXIT_OK


def _file_type(args: argparse.Namespace, target: Path) -> str:
    if args.format:
        return EXPORT_TYPES[args.format]
    suffix = target.suffix.lower().lstrip(".")
    return EXPORT_TYPES.get(suffix, "CSV_C")


@command
def _export(args: argparse.Namespace) -> int:
    if not args.dims and not args.measures:
        raise ConfigurationError(
            "export needs at least one --dims field or --measures expression",
            hint='For example --dims Country --measures "Sum(Amount)"',
        )
    target = Path(args.output).expanduser()
    file_type = _file_type(args, target)
    with Status() as status:
        status.show("logging in")
        with connected(args) as session:
            status.show(f"opening {args.app}")
            app_id = app_id_of(session, args.app)
            doc = session.client.open_app(app_id, **session.engine_options)
            status.show("exporting")
            url = doc.create_hypercube(args.dims, args.measures).export_data(file_type)
            status.show("downloading")
            # Downloaded while the engine session is open: the file belongs to it. The bar
            # (on a terminal) replaces the spinner once the server answers.
            result = session.client.download(url, target, callback=status.on_bytes)
    data = {
        "ok": True,
        "app": app_id,
        "file": str(result.path),
        "size": result.size,
        "sha256": result.sha256,
        "file_type": file_type,
    }
    emit(args, data, f"wrote {result.path} ({result.size} bytes)")
    return EXIT_OK
