"""The spinner line: phases shown on a terminal, and a Ctrl-C at any moment leaves it clean."""

from __future__ import annotations

import io
import threading

import pytest

from qlikauth.cli._progress import Status


def test_ctrl_c_while_the_spinner_starts_still_clears_cleanly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(self: threading.Thread) -> None:
        raise KeyboardInterrupt  # as if Ctrl-C landed inside Thread.start()

    stream = io.StringIO()
    status = Status(stream, enabled=True)
    monkeypatch.setattr(threading.Thread, "start", interrupted)
    with pytest.raises(KeyboardInterrupt), status:
        status.show("logging in")
    assert stream.getvalue().endswith("\r\x1b[K")  # the line was erased, no RuntimeError


def test_phases_draw_on_one_line_and_clear() -> None:
    stream = io.StringIO()
    with Status(stream, enabled=True) as status:
        status.show("logging in")
        status.show("exporting")
    text = stream.getvalue()
    assert "logging in..." in text and "exporting..." in text
    assert "\n" not in text and text.endswith("\r\x1b[K")


def test_nothing_is_drawn_off_a_terminal() -> None:
    stream = io.StringIO()
    with Status(stream) as status:
        status.show("exporting")
    assert stream.getvalue() == ""
