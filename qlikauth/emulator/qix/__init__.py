"""The emulator's engine model: Qlik's QIX JSON-RPC behaviour, with no sockets.

The servers plug it in: :meth:`Engine.connect` per websocket, then
:meth:`EngineConnection.greeting` and :meth:`EngineConnection.handle` for its texts; when
the socket ends, :meth:`EngineConnection.close`. After an error greeting
(:attr:`EngineConnection.closed`) the server closes the socket. The proxy serves
``/{vp}/tempcontent/{id}/{file}`` from :meth:`Engine.find_export` and, once the bytes are
sent, calls :meth:`Engine.mark_served` (which deletes a ``qServeOnce`` export).

Where qlik-protocol.md is silent the model chooses, and says so here (INFERRED):

* A connection made for one app (``/app/{id}``) may open only that app; any other name is
  ``1003`` (app not found), as is everything when the connection named an unknown app.
* An unknown handle is ``-32602`` with ``parameter`` "Invalid handle"; ``GetActiveDoc``
  before ``OpenDoc`` is ``1007`` with "No active document"; ``GetObject`` of an unknown id
  is ``2``; a missing non-optional parameter is ``-32602``.
* A bad expression is not an RPC error: ``Evaluate`` answers ``"Error: <reason>"`` and
  ``EvaluateEx`` the same text with ``qIsNumeric`` false. Null shows as ``-``.
* Numbers show as the engine's automatic format: integers without decimals, others to 14
  significant digits. Text and null cells carry ``qNum: "NaN"``.
* Hypercube rows come in load order (no sort criteria); a calculated or unknown dimension
  makes the cube empty with ``qError``; a bad measure gives null cells and ``qError`` in its
  ``qMeasureInfo``.
* ``ExportData`` ignores ``qFileName`` (Desktop only) and names the file ``{guid}.csv`` or
  ``{guid}.xlsx``; CSV is UTF-8 without a byte-order mark, quoted only where needed, with
  CRLF line ends. ``qExportState`` P and A are the same (the emulator has no selections).
  Parquet is refused with ``20`` (not implemented).
* One data fetch may ask for at most 10,000 cells (the areas asked for, before clipping):
  ``GetHyperCubeData`` beyond that is error ``7009``, a ``qInitialDataFetch`` beyond it
  gives the cube ``qError`` 7009 and no pages. Calculation errors use ``qErrorCode`` 7000.
* ``delta: true`` answers each result key with JSON-Patch lists against what the same
  socket was last sent for that handle, method and key (``add`` at ``/`` the first time),
  with a top-level ``"delta": true`` (see :mod:`qlikauth.emulator.qix.delta`).
"""

from __future__ import annotations

from qlikauth.emulator.qix.data import App, default_apps, large_app
from qlikauth.emulator.qix.export import Export
from qlikauth.emulator.qix.session import Engine, EngineConnection, EngineUser

__all__ = [
    "App",
    "Engine",
    "EngineConnection",
    "EngineUser",
    "Export",
    "default_apps",
    "large_app",
]
