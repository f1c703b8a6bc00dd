"""The JSON-RPC state machine, driven by hand: texts in, texts and events out, no sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qlikauth.engine.protocol import (
    CONNECTION_LOST,
    GLOBAL_HANDLE,
    GREETING_METHOD,
    CallFailed,
    CallSucceeded,
    EngineProtocol,
    Event,
    GreetingCompleted,
    GreetingFailed,
    HandlesChanged,
    HandlesClosed,
    HandlesSuspended,
    HandleState,
    NotificationReceived,
    ObjectInterface,
    SessionEnded,
    SessionState,
)
from qlikauth.errors import (
    AccessDeniedError,
    AppNotFoundError,
    EngineClosedError,
    EngineError,
    EngineMessageTooLargeError,
    EngineSessionError,
    InvalidParametersError,
    MethodNotFoundError,
    MustAuthenticateError,
    ObjectNotFoundError,
    SessionExpiredError,
    SessionLimitError,
)


def text(message: dict[str, Any]) -> str:
    return json.dumps(message)


def answer(request_id: int, result: dict[str, Any], **extra: Any) -> str:
    return text({"jsonrpc": "2.0", "id": request_id, "result": result, **extra})


def failure(request_id: int, code: int, message: str = "", parameter: str = "") -> str:
    error = {"code": code, "message": message, "parameter": parameter}
    return text({"jsonrpc": "2.0", "id": request_id, "error": error})


def notification(method: str, params: dict[str, Any]) -> str:
    return text({"jsonrpc": "2.0", "method": method, "params": params})


def connected(state: str = "SESSION_CREATED") -> str:
    return notification("OnConnected", {"qSessionState": state})


def greeted() -> EngineProtocol:
    """A protocol whose greeting completed with SESSION_CREATED."""
    protocol = EngineProtocol()
    probe = protocol.start()
    protocol.receive(connected())
    events = protocol.receive(answer(probe.id, {"qVersion": {"qComponentVersion": "12.1"}}))
    assert events == [GreetingCompleted(SessionState.CREATED)]
    return protocol


def done(protocol: EngineProtocol) -> bool:
    return protocol.greeting_done


def of_type(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


# -- requests ---------------------------------------------------------------------------------


def test_requests_are_json_rpc_with_unique_increasing_ids() -> None:
    protocol = greeted()
    first = protocol.request(GLOBAL_HANDLE, "GetDocList")
    second = protocol.request(GLOBAL_HANDLE, "OpenDoc", ["app-1"])
    third = protocol.request(GLOBAL_HANDLE, "OpenDoc", {"qDocName": "app-1", "qNoData": True})
    assert first.id < second.id < third.id
    assert json.loads(first.text) == {
        "jsonrpc": "2.0",
        "id": first.id,
        "method": "GetDocList",
        "handle": -1,
        "params": {},
    }
    assert json.loads(second.text)["params"] == ["app-1"]
    assert json.loads(third.text)["params"] == {"qDocName": "app-1", "qNoData": True}
    assert protocol.pending_count == 3


def test_a_string_is_not_params() -> None:
    protocol = greeted()
    with pytest.raises(TypeError):
        protocol.request(GLOBAL_HANDLE, "OpenDoc", "app-1")


def test_non_finite_numbers_are_refused_before_sending() -> None:
    protocol = greeted()
    with pytest.raises(ValueError, match="JSON"):
        protocol.request(GLOBAL_HANDLE, "X", {"qValue": float("nan")})


def test_greeting_call_is_first_and_on_global() -> None:
    protocol = EngineProtocol()
    probe = protocol.start()
    sent = json.loads(probe.text)
    assert (sent["id"], sent["handle"], sent["method"]) == (1, -1, GREETING_METHOD)
    with pytest.raises(RuntimeError):
        protocol.start()


# -- answers ----------------------------------------------------------------------------------


def test_answer_resolves_the_matching_call_only() -> None:
    protocol = greeted()
    a = protocol.request(GLOBAL_HANDLE, "GetDocList")
    b = protocol.request(GLOBAL_HANDLE, "EngineVersion")
    events = protocol.receive(answer(b.id, {"qVersion": {"qComponentVersion": "x"}}))
    assert events == [
        CallSucceeded(b.id, "EngineVersion", -1, {"qVersion": {"qComponentVersion": "x"}})
    ]
    events = protocol.receive(answer(a.id, {"qDocList": []}))
    assert events == [CallSucceeded(a.id, "GetDocList", -1, {"qDocList": []})]
    assert protocol.pending_count == 0


def test_unknown_and_duplicate_answers_are_ignored() -> None:
    protocol = greeted()
    call = protocol.request(GLOBAL_HANDLE, "GetDocList")
    assert protocol.receive(answer(999, {})) == []
    assert len(protocol.receive(answer(call.id, {}))) == 1
    assert protocol.receive(answer(call.id, {})) == []


def test_stray_answers_are_logged_naming_their_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="qlikauth.engine.protocol")
    protocol = greeted()
    late = protocol.request(GLOBAL_HANDLE, "GetDocList")
    assert protocol.abandon(late.id)
    protocol.receive(answer(late.id, {}))
    protocol.receive(answer(late.id + 5000, {}))
    protocol.receive(text({"jsonrpc": "2.0", "id": "x\r\nforged line", "result": {}}))
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("INFO", f"ignored a late answer to request id {late.id} (abandoned after its timeout)"),
        (
            "WARNING",
            f"ignored an answer to request id {late.id + 5000}, which this connection never sent",
        ),
        (
            "WARNING",
            "ignored an answer to request id 'x\\r\\nforged line', which this connection "
            "never sent",
        ),
    ]
    assert all("\n" not in message for _, message in lines)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (-32601, MethodNotFoundError),
        (-32602, InvalidParametersError),
        (8, InvalidParametersError),
        (2, ObjectNotFoundError),
        (5, AccessDeniedError),
        (1003, AppNotFoundError),
        (13000, EngineError),
    ],
)
def test_engine_errors_map_to_their_classes(code: int, kind: type[EngineError]) -> None:
    protocol = greeted()
    call = protocol.request(GLOBAL_HANDLE, "OpenDoc", ["nope"])
    (event,) = protocol.receive(failure(call.id, code, "App not found", "nope"))
    assert isinstance(event, CallFailed)
    assert type(event.error) is kind
    assert isinstance(event.error, EngineError)
    assert (event.error.code, event.error.method) == (code, "OpenDoc")
    assert event.error.parameter == "nope"
    assert "OpenDoc" in str(event.error)


def test_malformed_frames_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    protocol = greeted()
    assert protocol.receive("not json{") == []
    assert protocol.receive("[1, 2]") == []
    assert protocol.receive('{"jsonrpc": "2.0"}') == []
    assert "not JSON" in caplog.text


# -- handles ----------------------------------------------------------------------------------


def open_doc(protocol: EngineProtocol, handle: int = 1) -> None:
    call = protocol.request(GLOBAL_HANDLE, "OpenDoc", ["app"])
    result = {"qReturn": {"qType": "Doc", "qHandle": handle, "qGenericId": "app"}}
    events = protocol.receive(answer(call.id, result, change=[handle]))
    assert events[0] == HandlesChanged((handle,))
    assert isinstance(events[1], CallSucceeded)


def test_returned_objects_enter_the_handle_table() -> None:
    protocol = greeted()
    open_doc(protocol, 1)
    assert protocol.handle_state(1) is HandleState.OPEN
    assert protocol.handles[1].interface == ObjectInterface(1, "Doc", "", "app")
    assert protocol.handle_state(-1) is HandleState.OPEN
    assert protocol.handle_state(7) is None


def test_close_list_closes_handles_and_later_calls_fail_without_sending() -> None:
    protocol = greeted()
    open_doc(protocol, 1)
    call = protocol.request(1, "CreateSessionObject", [{"qInfo": {"qType": "t"}}])
    result = {"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "o1"}}
    protocol.receive(answer(call.id, result))
    assert protocol.handle_state(2) is HandleState.OPEN
    destroy = protocol.request(1, "DestroySessionObject", ["o1"])
    events = protocol.receive(answer(destroy.id, {"qSuccess": True}, close=[2]))
    assert HandlesClosed((2,)) in events
    assert protocol.handle_state(2) is HandleState.CLOSED
    pending_before = protocol.pending_count
    with pytest.raises(ObjectNotFoundError, match="handle 2 was closed") as info:
        protocol.request(2, "GetLayout")
    assert info.value.method == "GetLayout"
    assert protocol.pending_count == pending_before
    protocol.request(1, "GetAppLayout")  # the doc itself is still fine


def test_suspend_list_marks_handles_and_change_revives_them() -> None:
    protocol = greeted()
    open_doc(protocol, 1)
    call = protocol.request(1, "GetAppLayout")
    events = protocol.receive(answer(call.id, {"qLayout": {}}, suspend=[1]))
    assert HandlesSuspended((1,)) in events
    assert protocol.handle_state(1) is HandleState.SUSPENDED
    call = protocol.request(1, "GetAppLayout")
    protocol.receive(answer(call.id, {"qLayout": {}}, change=[1]))
    assert protocol.handle_state(1) is HandleState.OPEN


def test_lists_apply_even_for_answers_nobody_waits_for() -> None:
    protocol = greeted()
    open_doc(protocol, 1)
    call = protocol.request(1, "GetAppLayout")
    assert protocol.abandon(call.id)
    assert not protocol.abandon(call.id)
    events = protocol.receive(answer(call.id, {"qLayout": {}}, close=[1]))
    assert events == [HandlesClosed((1,))]
    assert protocol.handle_state(1) is HandleState.CLOSED


def test_global_is_never_marked_closed() -> None:
    protocol = greeted()
    call = protocol.request(GLOBAL_HANDLE, "X")
    protocol.receive(answer(call.id, {}, close=[-1]))
    assert protocol.handle_state(GLOBAL_HANDLE) is not HandleState.CLOSED
    assert protocol.request(GLOBAL_HANDLE, "GetDocList").method == "GetDocList"


# -- notifications ----------------------------------------------------------------------------


def test_notifications_become_events() -> None:
    protocol = greeted()
    events = protocol.receive(notification("OnEngineNotice", {"qText": "hello"}))
    assert events == [NotificationReceived("OnEngineNotice", {"qText": "hello"})]


# -- greeting ---------------------------------------------------------------------------------


def test_greeting_completes_at_the_barrier_answer() -> None:
    protocol = EngineProtocol()
    probe = protocol.start()
    assert not protocol.greeting_done
    assert protocol.receive(connected("SESSION_ATTACHED")) == [
        NotificationReceived("OnConnected", {"qSessionState": "SESSION_ATTACHED"})
    ]
    assert not protocol.greeting_done
    user = {"userId": "anna", "userDirectory": "LAB", "mustAuthenticate": False}
    protocol.receive(notification("OnAuthenticationInformation", user))
    events = protocol.receive(answer(probe.id, {"qVersion": {"qComponentVersion": "14.1"}}))
    assert events == [GreetingCompleted(SessionState.ATTACHED)]
    assert done(protocol)
    assert protocol.session_state is SessionState.ATTACHED
    assert protocol.engine_version == "14.1"
    assert protocol.authentication == user


def test_greeting_completes_even_if_the_barrier_call_is_unknown() -> None:
    protocol = EngineProtocol()
    probe = protocol.start()
    events = protocol.receive(failure(probe.id, -32601, "Method not found"))
    assert events == [GreetingCompleted(None)]
    assert protocol.engine_version is None


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("SESSION_ERROR_NO_LICENSE", 2),
        ("SESSION_ERROR_LIMIT_EXCEEDED", 4),
        ("SESSION_ACCESS_CONTROL_SETUP_FAILURE", 6),
        ("SESSION_ERROR_APP_FAILURE", 8),
    ],
)
def test_greeting_error_state_fails_the_greeting(state: str, code: int) -> None:
    protocol = EngineProtocol()
    protocol.start()
    events = protocol.receive(connected(state))
    (failed,) = of_type(events, GreetingFailed)
    assert isinstance(failed.error, EngineSessionError)
    assert failed.error.code == code
    assert state in str(failed.error)
    assert failed.error.hint
    assert protocol.greeting_done
    assert protocol.session_state == SessionState(state)


def test_unknown_error_state_fails_unknown_ok_state_does_not() -> None:
    protocol = EngineProtocol()
    protocol.start()
    events = protocol.receive(connected("SESSION_ERROR_SOMETHING_NEW"))
    assert of_type(events, GreetingFailed)
    other = EngineProtocol()
    probe = other.start()
    other.receive(connected("SESSION_REUSED_SOMEHOW"))
    assert other.session_state is None
    assert other.session_state_text == "SESSION_REUSED_SOMEHOW"
    assert other.receive(answer(probe.id, {})) == [GreetingCompleted(None)]


def test_must_authenticate_fails_the_greeting_with_redacted_login_uri() -> None:
    protocol = EngineProtocol()
    protocol.start()
    login = "https://qlik.example/internal_windows_authentication/?targetId=abc&qlikTicket=s3cret"
    events = protocol.receive(
        notification("OnAuthenticationInformation", {"loginUri": login, "mustAuthenticate": True})
    )
    (failed,) = of_type(events, GreetingFailed)
    assert isinstance(failed.error, MustAuthenticateError)
    assert failed.error.login_uri is not None
    assert "internal_windows_authentication" in failed.error.login_uri
    assert "s3cret" not in failed.error.login_uri
    assert "s3cret" not in str(failed.error)


def test_session_limit_notification_fails_the_greeting_with_the_count() -> None:
    protocol = EngineProtocol()
    protocol.start()
    params = {
        "severity": "fatal",
        "message": "Access denied for user 'LAB\\anna', SessionCount: '5'",
    }
    events = protocol.receive(notification("OnMaxParallelSessionsExceeded", params))
    (failed,) = of_type(events, GreetingFailed)
    assert isinstance(failed.error, SessionLimitError)
    assert failed.error.session_count == 5
    # the socket then closes: no second failure, and the greeting error is the one kept
    assert protocol.connection_lost(code=1000) == []
    assert protocol.fatal_error is failed.error


def test_proxy_notification_after_connected_still_fails_the_greeting() -> None:
    protocol = EngineProtocol()
    probe = protocol.start()
    protocol.receive(connected())
    events = protocol.receive(
        notification("OnLicenseAccessDenied", {"severity": "fatal", "message": "No access type"})
    )
    (failed,) = of_type(events, GreetingFailed)
    assert isinstance(failed.error, AccessDeniedError)
    assert protocol.receive(answer(probe.id, {})) == []


@pytest.mark.parametrize("method", ["OnSessionTimedOut", "OnSessionLoggedOut", "OnSessionClosed"])
def test_session_notifications_after_the_greeting_end_the_session(method: str) -> None:
    protocol = greeted()
    call = protocol.request(GLOBAL_HANDLE, "GetDocList")
    events = protocol.receive(notification(method, {"severity": "fatal", "message": "bye"}))
    (ended,) = of_type(events, SessionEnded)
    assert isinstance(ended.error, SessionExpiredError)
    assert method in str(ended.error)
    (lost,) = protocol.connection_lost(code=1000)
    assert isinstance(lost, CallFailed)
    assert lost.request_id == call.id
    assert isinstance(lost.error, EngineClosedError)
    assert lost.error.__cause__ is ended.error
    assert method in str(lost.error)


def test_other_fatal_notifications_close_with_a_clear_error() -> None:
    protocol = EngineProtocol()
    protocol.start()
    events = protocol.receive(
        notification("OnNoEngineAvailable", {"severity": "fatal", "message": "No engine"})
    )
    (failed,) = of_type(events, GreetingFailed)
    assert isinstance(failed.error, EngineClosedError)
    assert "OnNoEngineAvailable" in str(failed.error)
    assert "No engine" in str(failed.error)
    unknown = greeted()
    events = unknown.receive(notification("OnSomethingNew", {"severity": "fatal"}))
    assert of_type(events, SessionEnded)
    harmless = greeted()
    events = harmless.receive(notification("OnSomethingNew", {"severity": "info"}))
    assert not of_type(events, SessionEnded)


def test_close_during_the_greeting_fails_it() -> None:
    protocol = EngineProtocol()
    protocol.start()
    events = protocol.connection_lost(code=1006, cause="connection reset")
    (failed,) = of_type(events, GreetingFailed)
    assert isinstance(failed.error, EngineClosedError)
    assert failed.error.code == CONNECTION_LOST
    assert "1006" in str(failed.error)
    assert "connection reset" in str(failed.error)


# -- connection loss --------------------------------------------------------------------------


def test_a_message_too_large_fails_the_greeting_and_the_calls_naming_the_setting() -> None:
    opening = EngineProtocol()
    opening.start()
    (greeting,) = opening.connection_lost(cause="1009", too_large=2 << 20)
    assert isinstance(greeting, GreetingFailed)
    assert isinstance(greeting.error, EngineMessageTooLargeError)
    protocol = greeted()
    call = protocol.request(GLOBAL_HANDLE, "GetLayout")
    (failed,) = protocol.connection_lost(too_large=1000)
    assert isinstance(failed, CallFailed)
    assert isinstance(failed.error, EngineMessageTooLargeError)
    assert (failed.request_id, failed.error.method) == (call.id, "GetLayout")
    assert "GetLayout failed: the server sent a message larger than max_message_size (1000 " in (
        str(failed.error)
    )
    assert failed.error.hint is not None and "max_message_size=" in failed.error.hint


def test_connection_lost_fails_every_pending_call_then_refuses_new_ones() -> None:
    protocol = greeted()
    calls = [protocol.request(GLOBAL_HANDLE, f"M{i}") for i in range(5)]
    events = protocol.connection_lost(code=1011, reason="server going down")
    failed = of_type(events, CallFailed)
    assert [e.request_id for e in failed] == [c.id for c in calls]
    for event, call in zip(failed, calls, strict=True):
        assert isinstance(event.error, EngineClosedError)
        assert event.error.method == call.method
        assert call.method in str(event.error)
        assert "server going down" in str(event.error)
    assert protocol.pending_count == 0
    with pytest.raises(EngineClosedError):
        protocol.request(GLOBAL_HANDLE, "GetDocList")
    assert protocol.connection_lost() == []
