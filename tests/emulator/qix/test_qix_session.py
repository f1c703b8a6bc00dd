"""Engine model: greeting, engine sessions, handles, dispatch, params and errors."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qix_support import Rpc, greeting_state, table_def

from qlikauth.emulator.qix import App, Engine, EngineUser, default_apps
from qlikauth.emulator.qix.data import INVENTORY_APP_ID, SALES_APP_ID
from qlikauth.testing.clock import ManualClock

ALICE = EngineUser("CORP", "alice")
BOB = EngineUser("CORP", "bob")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def engine(tmp_path: Path, clock: ManualClock) -> Engine:
    return Engine(default_apps(), tmp_path / "exports", server_node_id="node-1", clock=clock)


@pytest.fixture
def sales(engine: Engine) -> App:
    return engine.apps[SALES_APP_ID]


# Greeting and engine sessions.


def test_first_connection_is_session_created(engine: Engine) -> None:
    connection = engine.connect(ALICE, SALES_APP_ID)
    assert greeting_state(connection) == "SESSION_CREATED"
    assert connection.user == ALICE
    assert not connection.closed


def test_reconnect_within_ttl_attaches_and_keeps_the_open_doc(
    engine: Engine, clock: ManualClock
) -> None:
    first = engine.connect(ALICE, SALES_APP_ID, ttl=30)
    rpc = Rpc(first)
    doc = rpc.result(-1, "OpenDoc", [SALES_APP_ID])["qReturn"]["qHandle"]
    first.close()
    clock.advance(29)
    second = engine.connect(ALICE, SALES_APP_ID, ttl=30)
    assert greeting_state(second) == "SESSION_ATTACHED"
    active = Rpc(second).result(-1, "GetActiveDoc")["qReturn"]
    assert active["qHandle"] == doc
    assert active["qType"] == "Doc"
    assert engine.counters["sessions_attached"] == 1


def test_reconnect_after_ttl_creates_a_new_session(engine: Engine, clock: ManualClock) -> None:
    first = engine.connect(ALICE, SALES_APP_ID, ttl=30)
    Rpc(first).result(-1, "OpenDoc", [SALES_APP_ID])
    first.close()
    clock.advance(30)
    second = engine.connect(ALICE, SALES_APP_ID, ttl=30)
    assert greeting_state(second) == "SESSION_CREATED"
    error = Rpc(second).error(-1, "GetActiveDoc")
    assert error["code"] == 1007
    assert engine.counters["engine_sessions"] == 2


def test_zero_ttl_ends_the_session_with_the_socket(engine: Engine) -> None:
    engine.connect(ALICE, SALES_APP_ID).close()
    assert engine.engine_sessions() == 0
    assert greeting_state(engine.connect(ALICE, SALES_APP_ID)) == "SESSION_CREATED"


def test_second_socket_on_a_live_session_attaches_and_cannot_open_again(engine: Engine) -> None:
    first = engine.connect(ALICE, SALES_APP_ID)
    Rpc(first).result(-1, "OpenDoc", [SALES_APP_ID])
    second = engine.connect(ALICE, SALES_APP_ID)
    assert greeting_state(second) == "SESSION_ATTACHED"
    error = Rpc(second).error(-1, "OpenDoc", [SALES_APP_ID])
    assert error["code"] == 1002
    first.close()
    # The session lives on while the second socket is open.
    assert engine.engine_sessions() == 1


@pytest.mark.parametrize(
    ("other_user", "other_app", "other_identity"),
    [(BOB, SALES_APP_ID, None), (ALICE, INVENTORY_APP_ID, None), (ALICE, SALES_APP_ID, "x1")],
)
def test_sessions_are_keyed_by_user_app_and_identity(
    engine: Engine, other_user: EngineUser, other_app: str, other_identity: str | None
) -> None:
    engine.connect(ALICE, SALES_APP_ID, ttl=60).close()
    other = engine.connect(other_user, other_app, identity=other_identity, ttl=60)
    assert greeting_state(other) == "SESSION_CREATED"
    assert engine.engine_sessions() == 2


def test_none_and_engine_data_are_the_same_global_session(engine: Engine) -> None:
    engine.connect(ALICE, None, ttl=60).close()
    assert greeting_state(engine.connect(ALICE, "engineData", ttl=60)) == "SESSION_ATTACHED"


def test_license_denied_user_gets_an_error_greeting_and_no_answers(tmp_path: Path) -> None:
    engine = Engine(
        default_apps(), tmp_path, server_node_id="n", license_denied_users=[EngineUser("D", "x")]
    )
    connection = engine.connect(EngineUser("D", "x"), SALES_APP_ID)
    assert greeting_state(connection) == "SESSION_ERROR_NO_LICENSE"
    assert connection.closed
    request = {"jsonrpc": "2.0", "id": 1, "handle": -1, "method": "EngineVersion"}
    assert connection.handle(json.dumps(request)) == []
    assert engine.engine_sessions() == 0
    assert greeting_state(engine.connect(ALICE, SALES_APP_ID)) == "SESSION_CREATED"


@pytest.mark.parametrize(
    "state", ["SESSION_ERROR_LIMIT_EXCEEDED", "SESSION_ERROR_APP_ACCESS_DENIED"]
)
def test_forced_error_states(engine: Engine, state: str) -> None:
    connection = engine.connect(ALICE, SALES_APP_ID, force_state=state)
    assert greeting_state(connection) == state
    assert connection.closed


def test_unknown_forced_state_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="qSessionState"):
        engine.connect(ALICE, None, force_state="SESSION_FINE")


# Global methods.


def test_get_doc_list_lists_every_app_as_qseow_does(engine: Engine) -> None:
    doc_list = Rpc(engine.connect(ALICE, None)).result(-1, "GetDocList")["qDocList"]
    assert [entry["qDocId"] for entry in doc_list] == list(engine.apps)
    for entry in doc_list:
        app = engine.apps[entry["qDocId"]]
        assert entry["qDocName"] == app.name
        assert entry["qTitle"] == app.name
        assert entry["qFileTime"] == 0
        assert entry["qFileSize"] == 0
        assert entry["qMeta"]["stream"]["name"] == app.stream
        assert entry["qMeta"]["description"] == app.description


def test_engine_version_and_authenticated_user(engine: Engine) -> None:
    rpc = Rpc(engine.connect(BOB, None))
    version = rpc.result(-1, "EngineVersion")["qVersion"]["qComponentVersion"]
    assert version.startswith("12.")
    user = rpc.result(-1, "GetAuthenticatedUser")["qReturn"]
    assert user == f"UserDirectory={BOB.directory}; UserId={BOB.user_id}"


def test_open_doc_by_name_then_handles_count_up(engine: Engine, sales: App) -> None:
    rpc = Rpc(engine.connect(ALICE, None))
    answer = rpc.call(-1, "OpenDoc", {"qDocName": sales.name})
    assert answer["result"]["qReturn"]["qType"] == "Doc"
    assert answer["result"]["qReturn"]["qHandle"] == 1
    assert answer["change"] == [1]
    handles = []
    for _ in range(3):
        reply = rpc.call(1, "CreateSessionObject", [table_def(["Region"], ["Sum(Amount)"])])
        handle = reply["result"]["qReturn"]["qHandle"]
        assert reply["change"] == [handle]
        handles.append(handle)
    assert handles == [2, 3, 4]


def test_open_doc_by_id_in_any_case(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, None))
    reply = rpc.result(-1, "OpenDoc", [INVENTORY_APP_ID.upper()])
    assert reply["qReturn"]["qGenericId"] == INVENTORY_APP_ID


def test_open_unknown_app_is_1003(engine: Engine) -> None:
    error = Rpc(engine.connect(ALICE, None)).error(-1, "OpenDoc", ["No Such App"])
    assert error["code"] == 1003
    assert error["parameter"] == "No Such App"


def test_connection_for_one_app_cannot_open_another(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    assert rpc.error(-1, "OpenDoc", [INVENTORY_APP_ID])["code"] == 1003
    assert rpc.error(-1, "OpenDoc", ["Inventory"])["code"] == 1003
    assert rpc.result(-1, "OpenDoc", ["Sales"])["qReturn"]["qHandle"] == 1


def test_connection_made_by_app_name_opens_that_app(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, "Inventory"))
    assert rpc.error(-1, "OpenDoc", ["Sales"])["code"] == 1003
    assert rpc.result(-1, "OpenDoc", [INVENTORY_APP_ID])["qReturn"]["qHandle"] == 1


def test_connection_for_an_unknown_app_opens_nothing(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, "9e9e9e9e-0000-4000-8000-000000000000"))
    assert greeting_state(rpc.connection) == "SESSION_CREATED"
    assert rpc.error(-1, "OpenDoc", [SALES_APP_ID])["code"] == 1003


def test_open_doc_twice_is_1002(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, None))
    rpc.result(-1, "OpenDoc", ["Sales"])
    assert rpc.error(-1, "OpenDoc", ["Inventory"])["code"] == 1002


def test_get_active_doc_without_a_doc_is_an_error(engine: Engine) -> None:
    error = Rpc(engine.connect(ALICE, None)).error(-1, "GetActiveDoc")
    assert error["code"] == 1007


# Doc and object methods.


def test_get_object_and_destroy_session_object(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    props = table_def(["Country"], ["Count(OrderId)"])
    props["qInfo"]["qId"] = "my-table"
    created = rpc.result(1, "CreateSessionObject", [props])["qReturn"]
    assert created == {
        "qType": "GenericObject",
        "qHandle": 2,
        "qGenericType": "table",
        "qGenericId": "my-table",
    }
    assert rpc.result(1, "GetObject", {"qId": "my-table"})["qReturn"] == created
    assert rpc.error(1, "GetObject", ["missing"])["code"] == 2
    destroyed = rpc.call(1, "DestroySessionObject", ["my-table"])
    assert destroyed["result"] == {"qSuccess": True}
    assert destroyed["close"] == [2]
    assert rpc.error(2, "GetLayout")["parameter"] == "Invalid handle"
    assert rpc.result(1, "DestroySessionObject", ["my-table"]) == {"qSuccess": False}


def test_duplicate_or_empty_object_ids_get_fresh_ids(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    props = table_def(["Country"], [])
    props["qInfo"]["qId"] = "same"
    first = rpc.result(1, "CreateSessionObject", [props])["qReturn"]["qGenericId"]
    second = rpc.result(1, "CreateSessionObject", [props])["qReturn"]["qGenericId"]
    third = rpc.result(1, "CreateSessionObject", [table_def(["Country"], [])])["qReturn"]
    assert first == "same"
    assert second != "same"
    assert third["qGenericId"]
    assert len({first, second, third["qGenericId"]}) == 3


def test_create_session_object_needs_a_type(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    error = rpc.error(1, "CreateSessionObject", [{"qInfo": {"qId": "x"}}])
    assert error["code"] == -32602
    assert "qType" in error["parameter"]


def test_get_properties_returns_what_was_given_plus_the_id(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    props = table_def(["Region"], ["Sum(Amount)"])
    props["custom"] = {"title": "Mine", "n": [1, 2]}
    handle = rpc.result(1, "CreateSessionObject", [props])["qReturn"]["qHandle"]
    got = rpc.result(handle, "GetProperties")["qProp"]
    object_id = got["qInfo"].pop("qId")
    assert object_id
    assert got == props


def test_layout_evaluates_string_and_value_expressions(engine: Engine, sales: App) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    props = {
        "qInfo": {"qType": "kpi"},
        "title": {"qStringExpression": {"qExpr": "='Orders: ' & Count(OrderId)"}},
        "total": {"qValueExpression": {"qExpr": "=Sum(Quantity)"}},
        "plain": "unchanged",
    }
    handle = rpc.result(1, "CreateSessionObject", [props])["qReturn"]["qHandle"]
    layout = rpc.result(handle, "GetLayout")["qLayout"]
    quantity = sales.fields.index("Quantity")
    assert layout["title"] == f"Orders: {sales.row_count}"
    assert layout["total"] == sum(row[quantity] for row in sales.rows())  # type: ignore[misc]
    assert layout["plain"] == "unchanged"
    assert layout["qInfo"]["qType"] == "kpi"


def test_get_app_layout(engine: Engine, sales: App) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    layout = rpc.result(1, "GetAppLayout")["qLayout"]
    assert layout["qTitle"] == sales.name
    assert layout["qMeta"]["stream"]["name"] == sales.stream
    assert layout["qHasData"] is True


# Envelope, params and errors.


def test_method_of_another_class_is_not_found(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    assert rpc.error(-1, "EvaluateEx", ["1"])["code"] == -32601
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    error = rpc.error(1, "GetDocList")
    assert error["code"] == -32601
    assert error["parameter"] == "GetDocList"


def test_unknown_handle_is_invalid_params(engine: Engine) -> None:
    error = Rpc(engine.connect(ALICE, None)).error(7, "GetLayout")
    assert error["code"] == -32602
    assert error["parameter"] == "Invalid handle"


def test_positional_and_named_params_bind_to_the_same_names(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID, "", "", "", False])
    by_name = rpc.result(1, "EvaluateEx", {"qExpression": "Sum(Amount)"})
    by_position = rpc.result(1, "EvaluateEx", ["Sum(Amount)"])
    assert by_name == by_position
    assert by_name["qValue"]["qIsNumeric"] is True


@pytest.mark.parametrize(
    ("params", "parameter_start"),
    [
        ({"qExpression": "1", "qExtra": 1}, "qExtra"),
        ({"qExpr": "1"}, "qExpr"),
        ([5], "qExpression"),
        ({"qExpression": ["1"]}, "qExpression"),
        (["1", "2"], "too many"),
        ({}, "qExpression"),
        ("Sum(Amount)", "params"),
    ],
)
def test_bad_params_are_32602(engine: Engine, params: object, parameter_start: str) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    error = rpc.error(1, "EvaluateEx", params)
    assert error["code"] == -32602
    assert error["parameter"].startswith(parameter_start)


def test_optional_params_take_their_defaults(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    handle = rpc.result(-1, "OpenDoc", {"qDocName": SALES_APP_ID})["qReturn"]["qHandle"]
    obj = rpc.result(handle, "CreateSessionObject", [table_def(["Region"], [])])
    reply = rpc.result(obj["qReturn"]["qHandle"], "ExportData", ["CSV_C", "/qHyperCubeDef"])
    export = engine.find_export(*reply["qUrl"].split("?")[0].split("/")[2:4])
    assert export is not None
    assert export.serve_once is False


def test_notification_gets_no_answer_but_takes_effect(engine: Engine) -> None:
    connection = engine.connect(ALICE, SALES_APP_ID)
    request = {"jsonrpc": "2.0", "handle": -1, "method": "OpenDoc", "params": [SALES_APP_ID]}
    assert connection.handle(json.dumps(request)) == []
    assert Rpc(connection).result(-1, "GetActiveDoc")["qReturn"]["qHandle"] == 1


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", -32700),
        ("[1, 2]", -32600),
        ('{"jsonrpc": "2.0", "id": 3, "handle": -1}', -32600),
        ('{"jsonrpc": "2.0", "id": 3, "method": "EngineVersion"}', -32600),
        ('{"jsonrpc": "1.0", "id": 3, "handle": -1, "method": "EngineVersion"}', -32600),
    ],
)
def test_malformed_requests(engine: Engine, text: str, code: int) -> None:
    (answer,) = engine.connect(ALICE, None).handle(text)
    message = json.loads(answer)
    assert message["jsonrpc"] == "2.0"
    assert message["error"]["code"] == code
    assert set(message["error"]) == {"code", "parameter", "message"}


def test_string_ids_are_echoed(engine: Engine) -> None:
    connection = engine.connect(ALICE, None)
    request = {"jsonrpc": "2.0", "id": "abc", "handle": -1, "method": "EngineVersion"}
    (answer,) = connection.handle(json.dumps(request))
    assert json.loads(answer)["id"] == "abc"


def test_delta_sends_the_value_then_patches_against_it(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    handle = rpc.result(1, "CreateSessionObject", [table_def(["Region"], ["Sum(Amount)"])])[
        "qReturn"
    ]["qHandle"]
    plain = rpc.result(handle, "GetLayout")["qLayout"]
    first = rpc.call(handle, "GetLayout", delta=True)
    second = rpc.call(handle, "GetLayout", delta=True)
    # Without the top-level flag enigma.js would take the patch list for the result.
    assert first["delta"] is True and second["delta"] is True
    assert first["result"]["qLayout"] == [{"op": "add", "path": "/", "value": plain}]
    assert second["result"]["qLayout"] == []  # nothing changed since the first
    assert "delta" not in rpc.call(handle, "GetLayout")


def test_delta_patches_belong_to_the_socket(engine: Engine) -> None:
    # Two sockets on one engine session: each gets the value whole the first time.
    first = Rpc(engine.connect(ALICE, None, identity="shared", ttl=30))
    second = Rpc(engine.connect(ALICE, None, identity="shared", ttl=30))
    version = first.result(-1, "EngineVersion")["qVersion"]
    assert first.result(-1, "EngineVersion", delta=True)["qVersion"][0]["op"] == "add"
    assert first.result(-1, "EngineVersion", delta=True)["qVersion"] == []
    again = second.result(-1, "EngineVersion", delta=True)["qVersion"]
    assert again == [{"op": "add", "path": "/", "value": version}]


def test_counters_count_calls_errors_and_sessions(engine: Engine) -> None:
    rpc = Rpc(engine.connect(ALICE, None))
    rpc.result(-1, "EngineVersion")
    rpc.error(-1, "NoSuchMethod")
    assert engine.counters["calls"] == 2
    assert engine.counters["errors"] == 1
    assert engine.counters["engine_sessions"] == 1
    assert engine.counters["connections"] == 1


def test_closed_engine_refuses_connections(engine: Engine) -> None:
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.connect(ALICE, None)


def test_concurrent_sockets_from_many_threads(engine: Engine) -> None:
    users = [EngineUser("CORP", f"user{i}") for i in range(8)]
    barrier = threading.Barrier(len(users))
    failures: list[BaseException] = []

    def work(user: EngineUser) -> None:
        try:
            barrier.wait()
            for _ in range(20):
                connection = engine.connect(user, SALES_APP_ID, ttl=60)
                rpc = Rpc(connection)
                state = greeting_state(connection)
                if state == "SESSION_CREATED":
                    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
                handle = rpc.result(1, "CreateSessionObject", [table_def(["Region"], [])])
                assert handle["qReturn"]["qHandle"] > 1
                connection.close()
        except BaseException as exc:  # collected and re-raised in the test thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert engine.counters["engine_sessions"] == len(users)
    assert engine.counters["sessions_attached"] == len(users) * 19
    assert engine.counters["calls"] == len(users) * (20 + 1)
    assert engine.engine_sessions() == len(users)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 5) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=10,
)
method_names = st.sampled_from(
    [
        *("OpenDoc", "GetDocList", "EvaluateEx", "CreateSessionObject", "GetLayout"),
        *("ExportData", "GetHyperCubeData", "DestroySessionObject", "GetObject", "Nope"),
    ]
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"jsonrpc": st.just("2.0"), "id": st.integers(0, 99), "method": method_names},
            optional={"handle": st.integers(-2, 4) | json_values, "params": json_values},
        ),
        max_size=6,
    )
)
def test_any_request_gets_one_well_formed_answer(
    tmp_path_factory: pytest.TempPathFactory, requests: list[dict[str, object]]
) -> None:
    engine = Engine(default_apps(), tmp_path_factory.mktemp("fuzz"), server_node_id="n")
    connection = engine.connect(ALICE, None)
    connection.handle(
        json.dumps(
            {"jsonrpc": "2.0", "id": 0, "handle": -1, "method": "OpenDoc", "params": ["Sales"]}
        )
    )
    for request in requests:
        (text,) = connection.handle(json.dumps(request))
        answer = json.loads(text)
        assert answer["id"] == request["id"]
        assert ("result" in answer) != ("error" in answer)
        if "error" in answer:
            assert set(answer["error"]) == {"code", "parameter", "message"}
            assert answer["error"]["code"] != -32603, answer


expression_text = st.lists(
    st.sampled_from(
        [
            *("Sum(", "Count(", "DISTINCT ", "Only(", "Amount", "[Region]", "Year", "'x'"),
            *("1.5", " + ", " & ", " / ", " = ", ")", "(", "-", "Nope", "AND ", "0"),
        ]
    ),
    max_size=8,
).map("".join)
dimension_defs = st.fixed_dictionaries(
    {
        "qDef": st.fixed_dictionaries(
            {
                "qFieldDefs": st.lists(
                    st.sampled_from(
                        ["Region", "OrderId", "Year", "Nope", "=Year", "[Country]", ""]
                    ),
                    max_size=2,
                )
            }
        )
    }
)
measure_defs = st.fixed_dictionaries(
    {
        "qDef": st.fixed_dictionaries(
            {"qDef": expression_text}, optional={"qLabel": st.text(max_size=5)}
        )
    }
)
pages = st.lists(
    st.fixed_dictionaries(
        {}, optional={k: st.integers(0, 60) for k in ("qLeft", "qTop", "qWidth", "qHeight")}
    ),
    max_size=2,
)


@settings(max_examples=60, deadline=None)
@given(
    dimensions=st.lists(dimension_defs, max_size=3),
    measures=st.lists(measure_defs, max_size=3),
    fetch=pages,
    file_type=st.sampled_from(["CSV_C", "CSV_T", "OOXML"]),
)
def test_any_cube_lays_out_pages_and_exports_without_internal_errors(
    tmp_path_factory: pytest.TempPathFactory,
    dimensions: list[dict[str, object]],
    measures: list[dict[str, object]],
    fetch: list[dict[str, int]],
    file_type: str,
) -> None:
    engine = Engine(default_apps(), tmp_path_factory.mktemp("cube"), server_node_id="n")
    rpc = Rpc(engine.connect(ALICE, SALES_APP_ID))
    rpc.result(-1, "OpenDoc", [SALES_APP_ID])
    cube = {"qDimensions": dimensions, "qMeasures": measures, "qInitialDataFetch": fetch}
    props = {"qInfo": {"qType": "t"}, "qHyperCubeDef": cube}
    handle = rpc.result(1, "CreateSessionObject", [props])["qReturn"]["qHandle"]
    layout = rpc.result(handle, "GetLayout")["qLayout"]["qHyperCube"]
    size = layout["qSize"]
    assert size["qcx"] == len(dimensions) + len(measures)
    answer = rpc.call(handle, "GetHyperCubeData", ["/qHyperCubeDef", fetch])
    if "error" in answer:
        assert answer["error"]["code"] == 7009
    else:
        for page in answer["result"]["qDataPages"]:
            assert len(page["qMatrix"]) == page["qArea"]["qHeight"] <= size["qcy"]
    exported = rpc.call(handle, "ExportData", [file_type, "/qHyperCubeDef"])
    assert "result" in exported, exported
