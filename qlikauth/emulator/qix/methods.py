"""The engine methods the emulator answers, with their schema ``In`` lists (enigma.js 12.2027).

Each handler takes the call (session state, caller, engine services), its target (Global,
doc or object) and the bound parameters, and returns a :class:`Reply` or raises
:class:`RpcError`. Results are named after the schema's ``Out`` lists (``qReturn`` when the
schema has none).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from qlikauth.emulator.qix.data import App
from qlikauth.emulator.qix.export import (
    CSV_COLUMN_LIMIT,
    OOXML,
    OOXML_COLUMN_LIMIT,
    TRUNCATED_WARNING,
    Export,
    file_type_delimiter,
    write_csv,
    write_xlsx,
)
from qlikauth.emulator.qix.expressions import (
    ExpressionError,
    check_expression,
    compile_expression,
)
from qlikauth.emulator.qix.hypercube import (
    CALC_PAGES_TOO_LARGE,
    MAX_PAGE_CELLS,
    DefinitionError,
    requested_cells,
)
from qlikauth.emulator.qix.objects import DocState, SessionObject, SessionState, new_object_id
from qlikauth.emulator.qix.rpc import (
    APP_ALREADY_OPEN,
    APP_INVALID,
    APP_NOT_FOUND,
    CSV_TOO_LARGE,
    INVALID_PARAMS,
    NOT_FOUND,
    NOT_IMPLEMENTED,
    Param,
    RpcError,
)
from qlikauth.emulator.qix.values import as_number, json_number, text_of

if TYPE_CHECKING:
    from qlikauth.emulator.qix.user import EngineUser

__all__ = ["ENGINE_VERSION", "METHODS", "Call", "EngineServices", "Method", "Reply"]

ENGINE_VERSION = "12.2027.0"
"""The enigma.js schema the model follows, and the engine version it reports by default."""


class EngineServices(Protocol):
    """What methods need from the engine beyond their session."""

    server_node_id: str
    export_dir: Path
    csv_cell_limit: int | None
    #: ``EngineVersion``'s ``qComponentVersion`` and ``ProductVersion``'s answer.
    engine_version: str
    product_version: str

    def all_apps(self) -> list[App]:
        """Every app, in a stable order."""
        ...

    def find_app(self, name: str) -> App | None:
        """An app by id or by name."""
        ...

    def add_export(self, export_id: str, file_name: str, export: Export) -> None:
        """Record an export for the proxy to serve."""
        ...


@dataclass
class Call:
    """One method call in context: the session, who called, through what, the engine."""

    state: SessionState
    user: EngineUser
    channel: str
    bound_app_id: str | None
    services: EngineServices


@dataclass
class Reply:
    """A method's result and the handles it reports as changed or closed."""

    result: dict[str, Any]
    change: list[int] = field(default_factory=list)
    close: list[int] = field(default_factory=list)


Handler = Callable[[Call, Any, dict[str, Any]], Reply]


@dataclass(frozen=True)
class Method:
    """A method's parameters and its handler."""

    params: tuple[Param, ...]
    handler: Handler


# Global.


def _doc_list_entry(app: App) -> dict[str, Any]:
    return {
        "qDocName": app.name,
        "qConnectedUsers": 0,
        "qFileTime": 0,
        "qFileSize": 0,
        "qDocId": app.app_id,
        "qMeta": _app_meta(app),
        "qLastReloadTime": app.last_reload_time,
        "qReadOnly": False,
        "qTitle": app.name,
        "qThumbnail": {"qUrl": ""},
    }


def _app_meta(app: App) -> dict[str, Any]:
    stream_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"qlikauth-stream:{app.stream}"))
    return {
        "createdDate": app.last_reload_time,
        "modifiedDate": app.last_reload_time,
        "published": True,
        "publishTime": app.last_reload_time,
        "privileges": ["read", "exportdata"],
        "description": app.description,
        "qFileSize": 0,
        "dynamicColor": "",
        "create": None,
        "stream": {"id": stream_id, "name": app.stream},
        "canCreateDataConnections": False,
    }


def _get_doc_list(call: Call, target: Any, args: dict[str, Any]) -> Reply:
    return Reply({"qDocList": [_doc_list_entry(app) for app in call.services.all_apps()]})


def _open_doc(call: Call, target: Any, args: dict[str, Any]) -> Reply:
    name: str = args["qDocName"]
    state = call.state
    if state.doc is not None:
        raise RpcError(APP_ALREADY_OPEN, state.doc.app.app_id)
    app = call.services.find_app(name)
    if app is not None and call.bound_app_id is not None:
        # A connection made for one app may open only that app (INFERRED; others are "not
        # found", as is everything when the connection named an app that does not exist).
        bound = call.services.find_app(call.bound_app_id)
        if bound is None or bound.app_id != app.app_id:
            app = None
    if app is None:
        raise RpcError(APP_NOT_FOUND, name)
    doc = DocState(app, 0)
    doc.handle = state.new_handle(doc)
    state.doc = doc
    return Reply({"qReturn": doc.interface()}, change=[doc.handle])


def _get_active_doc(call: Call, target: Any, args: dict[str, Any]) -> Reply:
    if call.state.doc is None:
        raise RpcError(APP_INVALID, "No active document")
    return Reply({"qReturn": call.state.doc.interface()})


def _engine_version(call: Call, target: Any, args: dict[str, Any]) -> Reply:
    return Reply({"qVersion": {"qComponentVersion": call.services.engine_version}})


def _get_authenticated_user(call: Call, target: Any, args: dict[str, Any]) -> Reply:
    user = call.user
    return Reply({"qReturn": f"UserDirectory={user.directory}; UserId={user.user_id}"})


def _product_version(call: Call, target: Any, args: dict[str, Any]) -> Reply:
    return Reply({"qReturn": call.services.product_version})


# Doc.


def _evaluate_value(app: App, expression: str) -> tuple[str, bool, int | float]:
    """(text, is numeric, number) of an expression; errors are text, as the engine shows."""
    try:
        value = compile_expression(expression, app.fields).evaluate(app.rows())
    except ExpressionError as exc:
        return f"Error: {exc}", False, 0
    number = as_number(value) if not isinstance(value, str) else None
    if number is None:
        return text_of(value), False, 0
    return text_of(value), True, json_number(number)


def _evaluate_ex(call: Call, doc: DocState, args: dict[str, Any]) -> Reply:
    text, numeric, number = _evaluate_value(doc.app, args["qExpression"])
    return Reply({"qValue": {"qText": text, "qIsNumeric": numeric, "qNumber": number}})


def _evaluate(call: Call, doc: DocState, args: dict[str, Any]) -> Reply:
    text, _numeric, _number = _evaluate_value(doc.app, args["qExpression"])
    return Reply({"qReturn": text})


def _check_expression(call: Call, doc: DocState, args: dict[str, Any]) -> Reply:
    # The expression is correct when all three are empty (the Engine API's CheckExpression).
    # INFERRED: a syntax error leaves the field lists empty; the emulator knows no dangerous
    # field names.
    message, bad = check_expression(args["qExpr"], doc.app.fields)
    ranges = [{"qFrom": start, "qCount": count} for start, count in bad]
    return Reply({"qErrorMsg": message, "qBadFieldNames": ranges, "qDangerousFieldNames": []})


def _create_session_object(call: Call, doc: DocState, args: dict[str, Any]) -> Reply:
    prop = copy.deepcopy(args["qProp"])
    info = prop.get("qInfo")
    if not isinstance(info, dict) or not isinstance(info.get("qType"), str) or not info["qType"]:
        raise RpcError(INVALID_PARAMS, "qProp.qInfo.qType: missing")
    object_id = info.get("qId")
    if not isinstance(object_id, str) or not object_id or object_id in doc.objects:
        # INFERRED: an empty or already used id gets a fresh one, as ids are engine-made.
        object_id = new_object_id()
    info["qId"] = object_id
    state = call.state
    handle = state.new_handle(None)
    try:
        obj = SessionObject(doc.app, prop, handle)
    except DefinitionError as exc:
        state.drop(handle)
        raise RpcError(INVALID_PARAMS, f"qProp: {exc}") from exc
    state.handles[handle] = obj
    doc.objects[object_id] = obj
    return Reply({"qReturn": obj.interface()}, change=[handle])


def _get_object(call: Call, doc: DocState, args: dict[str, Any]) -> Reply:
    obj = doc.objects.get(args["qId"])
    if obj is None:
        raise RpcError(NOT_FOUND, args["qId"], "Object not found")
    return Reply({"qReturn": obj.interface()})


def _destroy_session_object(call: Call, doc: DocState, args: dict[str, Any]) -> Reply:
    obj = doc.objects.pop(args["qId"], None)
    if obj is None:
        return Reply({"qSuccess": False})
    call.state.drop(obj.handle)
    return Reply({"qSuccess": True}, close=[obj.handle])


def _get_app_layout(call: Call, doc: DocState, args: dict[str, Any]) -> Reply:
    app = doc.app
    layout = {
        "qTitle": app.name,
        "qFileName": app.app_id,
        "qLastReloadTime": app.last_reload_time,
        "qModified": False,
        "qHasScript": True,
        "qStateNames": [],
        "qMeta": _app_meta(app),
        "qLocaleInfo": {
            "qDecimalSep": ".",
            "qThousandSep": ",",
            "qListSep": ",",
            "qMoneyDecimalSep": ".",
            "qMoneyThousandSep": ",",
            "qCurrentYear": 2026,
            "qMoneyFmt": "$#,##0.00;-$#,##0.00",
            "qTimeFmt": "h:mm:ss TT",
            "qDateFmt": "M/D/YYYY",
            "qTimestampFmt": "M/D/YYYY h:mm:ss[.fff] TT",
            "qFirstWeekDay": 6,
            "qBrokenWeeks": True,
            "qReferenceDay": 0,
            "qFirstMonthOfYear": 1,
            "qCollationLocale": "en-US",
        },
        "qHasData": True,
        "qReadOnly": False,
        "qIsOpenedWithoutData": False,
        "qIsSessionApp": False,
        "qThumbnail": {"qUrl": ""},
        "qIsBDILiveMode": False,
    }
    return Reply({"qLayout": layout})


# GenericObject.


def _get_layout(call: Call, obj: SessionObject, args: dict[str, Any]) -> Reply:
    return Reply({"qLayout": obj.layout()})


def _get_properties(call: Call, obj: SessionObject, args: dict[str, Any]) -> Reply:
    return Reply({"qProp": copy.deepcopy(obj.properties)})


def _get_info(call: Call, obj: SessionObject, args: dict[str, Any]) -> Reply:
    return Reply({"qInfo": obj.info()})


def _cube_at(obj: SessionObject, path: str) -> Any:
    cube = obj.cube(path)
    if cube is None:
        raise RpcError(INVALID_PARAMS, f"qPath: no hypercube at {path!r}")
    return cube


def _get_hypercube_data(call: Call, obj: SessionObject, args: dict[str, Any]) -> Reply:
    cube = _cube_at(obj, args["qPath"])
    pages = args["qPages"]
    if not all(isinstance(page, dict) for page in pages):
        raise RpcError(INVALID_PARAMS, "qPages: expected an array of NxPage objects")
    try:
        cells = requested_cells(pages)
        if cells > MAX_PAGE_CELLS:
            raise RpcError(
                CALC_PAGES_TOO_LARGE, f"{cells} cells asked for; at most {MAX_PAGE_CELLS}"
            )
        return Reply({"qDataPages": [cube.page(page) for page in pages]})
    except DefinitionError as exc:
        raise RpcError(INVALID_PARAMS, f"qPages: {exc}") from exc


_EXPORT_STATES = {"P", "EXPORT_POSSIBLE", "0", "A", "EXPORT_ALL", "1"}


def _export_data(call: Call, obj: SessionObject, args: dict[str, Any]) -> Reply:
    file_type = args["qFileType"]
    try:
        delimiter = file_type_delimiter(file_type)
    except ValueError as exc:
        raise RpcError(INVALID_PARAMS, f"qFileType: {exc}") from exc
    if delimiter is None:
        raise RpcError(NOT_IMPLEMENTED, f"qFileType: the emulator cannot write {file_type}")
    excel = delimiter == OOXML
    state_value = args["qExportState"]
    state_key = str(int(state_value)) if isinstance(state_value, int | float) else state_value
    if str(state_key).upper() not in _EXPORT_STATES:
        raise RpcError(INVALID_PARAMS, f"qExportState: unknown export state {state_value!r}")
    if not args["qPath"]:
        # The engine would export the object's own table; the emulator needs the cube's path.
        raise RpcError(INVALID_PARAMS, "qPath: mandatory (for example /qHyperCubeDef)")
    cube = _cube_at(obj, args["qPath"])
    column_limit = OOXML_COLUMN_LIMIT if excel else CSV_COLUMN_LIMIT
    if cube.width > column_limit:
        raise RpcError(CSV_TOO_LARGE, f"{cube.width} columns; the file allows {column_limit}")
    services = call.services
    export_id = str(uuid.uuid4())
    # INFERRED: QSEoW ignores qFileName (Desktop only) and names the file itself.
    file_name = f"{uuid.uuid4()}.{'xlsx' if excel else 'csv'}"
    path = services.export_dir / export_id / file_name
    if excel:
        _rows, truncated = write_xlsx(cube, path)
    else:
        limit = services.csv_cell_limit
        _rows, truncated = write_csv(cube, path, delimiter, cell_limit=limit)
    services.add_export(
        export_id, file_name, Export(path, call.user, call.channel, bool(args["qServeOnce"]))
    )
    url = f"/tempcontent/{export_id}/{quote(file_name)}?serverNodeId={services.server_node_id}"
    return Reply({"qUrl": url, "qWarnings": [TRUNCATED_WARNING] if truncated else []})


def _p(name: str, default: Any, optional: bool = False, kind: str = "") -> Param:
    return Param(name, default, optional, kind)


_EMPTY_PROP = {"qInfo": {"qId": "", "qType": ""}, "qExtendsId": "", "qMetaDef": {}}

METHODS: Mapping[str, Mapping[str, Method]] = {
    "Global": {
        "GetDocList": Method((), _get_doc_list),
        "OpenDoc": Method(
            (
                _p("qDocName", ""),
                _p("qUserName", "", True),
                _p("qPassword", "", True),
                _p("qSerial", "", True),
                _p("qNoData", False, True),
            ),
            _open_doc,
        ),
        "GetActiveDoc": Method((), _get_active_doc),
        "EngineVersion": Method((), _engine_version),
        "ProductVersion": Method((), _product_version),
        "GetAuthenticatedUser": Method((), _get_authenticated_user),
    },
    "Doc": {
        "EvaluateEx": Method((_p("qExpression", ""),), _evaluate_ex),
        "Evaluate": Method((_p("qExpression", ""),), _evaluate),
        "CheckExpression": Method((_p("qExpr", ""), _p("qLabels", [""], True)), _check_expression),
        "CreateSessionObject": Method((_p("qProp", _EMPTY_PROP),), _create_session_object),
        "GetObject": Method((_p("qId", ""),), _get_object),
        "DestroySessionObject": Method((_p("qId", ""),), _destroy_session_object),
        "GetAppLayout": Method((), _get_app_layout),
    },
    "GenericObject": {
        "GetLayout": Method((), _get_layout),
        "GetProperties": Method((), _get_properties),
        "GetInfo": Method((), _get_info),
        "GetHyperCubeData": Method(
            (_p("qPath", ""), _p("qPages", [{"qLeft": 0, "qTop": 0, "qWidth": 0, "qHeight": 0}])),
            _get_hypercube_data,
        ),
        "ExportData": Method(
            (
                _p("qFileType", "CSV_C", kind="enum"),
                _p("qPath", "", True),
                _p("qFileName", "", True),
                _p("qExportState", "P", True, kind="enum"),
                _p("qServeOnce", False, True),
            ),
            _export_data,
        ),
    },
}
"""Methods by class (``Global``, ``Doc``, ``GenericObject``) and name."""
