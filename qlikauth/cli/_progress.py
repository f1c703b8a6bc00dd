"""A one-line spinner on stderr naming what a long command is doing (only on a terminal).

``export`` and ``download`` pass through phases that can each take a while on a busy site
(logging in, opening the app, the engine's export, the download); the line says which one,
so a silent terminal never means a hung command. Off a terminal nothing is written, so
scripts and ``--json`` output stay clean. The download's own progress bar (tqdm) takes over
the line once bytes arrive.
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import TextIO

__all__ = ["Status"]

_FRAMES = "|/-\\"
#: Seconds between frames: often enough to look alive, rare enough to cost nothing.
_TICK = 0.1


class Status:
    """The current phase as a spinner line; ``show`` changes it, ``clear`` removes it."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self._stream = sys.stderr if stream is None else stream
        self.enabled = self._stream.isatty() if enabled is None else enabled
        self._text = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def show(self, text: str) -> None:
        """Name the current phase (``"exporting"``); the spinner keeps turning beside it."""
        if not self.enabled:
            return
        with self._lock:
            self._text = text
            self._draw(0)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._spin, name="qlikauth-status", daemon=True
                )
                self._thread.start()

    def clear(self) -> None:
        """Stop the spinner and erase its line."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        # Ctrl-C can land inside start(): a thread not yet running sees the stop at once.
        if thread.ident is not None:
            thread.join()
        with self._lock:
            self._thread = None
            self._stream.write("\r\x1b[K")
            self._stream.flush()

    def on_bytes(self, _received: int, _total: int | None) -> None:
        """A download callback: the first bytes clear the line for the download's own bar."""
        if self._thread is not None:
            self.clear()

    def _spin(self) -> None:
        frame = 0
        while not self._stop.wait(_TICK):
            frame += 1
            with self._lock:
                self._draw(frame)

    def _draw(self, frame: int) -> None:
        self._stream.write(f"\r\x1b[K{_FRAMES[frame % len(_FRAMES)]} {self._text}...")
        self._stream.flush()

    def __enter__(self) -> Status:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.clear()
