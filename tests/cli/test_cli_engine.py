"""``eval``/``export``/``download`` failures and repeated failed logins, through
``main(argv)`` against an emulator of this module's own (the tests count sessions on it)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from cli_support import qps_sessions, run_json, write_profile

from qlikauth import QlikClient
from qlikauth.cli import main
from qlikauth.config import ConfigFile, resolve
from qlikauth.testing.emulator import EmulatorInfo


@pytest.mark.parametrize(
    ("expression", "named"),
    [("Sum(Amount", "')' expected"), ("Sum(Amout)", "Amout")],
)
def test_eval_of_a_wrong_expression_fails(
    profile: Path, capsys: pytest.CaptureFixture[str], expression: str, named: str
) -> None:
    code, error = run_json(capsys, "eval", "Sales", expression)
    assert code == 1
    assert error["ok"] is False
    assert error["error"] == "ExpressionError"
    assert named in str(error["message"])
    assert error["hint"]
    assert main(["eval", "Sales", expression]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert named in captured.err
    assert "Traceback" not in captured.err


def test_export_of_an_unknown_dimension_fails_and_writes_nothing(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "by-region.csv"
    target.parent.mkdir()
    argv = ["export", "Sales", "--dims", "Regoin", "--measures", "Sum(Amount)", "-o", str(target)]
    code, error = run_json(capsys, *argv)
    assert code == 1
    assert error["error"] == "ExpressionError"
    assert "Regoin" in str(error["message"])
    assert list(target.parent.iterdir()) == []
    argv[3] = "Region"
    assert main(argv) == 0
    assert capsys.readouterr().err == ""  # no spinner or bar off a terminal
    assert target.read_text(encoding="utf-8-sig").startswith("Region,")


def test_repeated_whoami_with_a_wrong_cookie_name_leaks_no_session(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emu: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = "ewrongcookie"
    path = write_profile(tmp_path / "c.toml", emu, user, cookie_name="X-Qlik-Session")
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(path))
    before = qps_sessions(emu, f"QLIKEMU\\{user}")
    for _ in range(7):  # the emulator's limit is five sessions per user
        code, error = run_json(capsys, "whoami")
        assert code == 4, error
        assert error["error"] != "SessionLimitError"
        assert "X-Qlik-Session-hdr" in str(error["message"])
        assert qps_sessions(emu, f"QLIKEMU\\{user}") == before
    assert before == 0


def exported_url(profile: Path, dims: list[str]) -> tuple[str, bytes]:
    """Export Sales by ``dims`` as the profile's user, as another tool would: the qUrl and
    the file's bytes (downloaded by the library)."""
    resolved = resolve(None, config=ConfigFile.load(str(profile)))
    assert resolved.authenticator is not None
    with QlikClient(resolved.site, resolved.authenticator) as client:
        doc = client.open_app(client_app_id(client))
        url = doc.create_hypercube(dims, ["Sum(Amount)"]).export_data("CSV_C")
        body = client.download(url, profile.parent / "library.csv").path.read_bytes()
    return url, body


def client_app_id(client: QlikClient) -> str:
    with client.engine() as engine:
        (sales,) = [d for d in engine.global_.get_doc_list() if d.title == "Sales"]
    return sales.doc_id


def test_download_fetches_a_qurl_another_tool_got(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, body = exported_url(profile, ["Region"])
    target = tmp_path / "by-region.csv"
    code, done = run_json(capsys, "download", url, "-o", str(target))
    assert code == 0, done
    assert target.read_bytes() == body
    assert done["size"] == len(body)
    assert done["sha256"] == hashlib.sha256(body).hexdigest()
    # An existing file is kept, unless --force.
    target.write_text("mine", encoding="utf-8")
    code, error = run_json(capsys, "download", url, "-o", str(target))
    assert (code, error["error"]) == (4, "ConfigurationError")
    assert "--force" in str(error["hint"])
    assert target.read_text(encoding="utf-8") == "mine"
    assert main(["download", url, "-o", str(target), "--force"]) == 0
    assert target.read_bytes() == body
    # A folder: the file keeps its server name.
    folder = tmp_path / "folder"
    folder.mkdir()
    assert main(["download", url, "-o", str(folder)]) == 0
    assert [p.read_bytes() for p in folder.iterdir()] == [body]


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://elsewhere.example/tempcontent/x/f.csv", "ForeignHostError"),
        ("/tempcontent/../qrs/about", "ForeignHostError"),
        ("/tempcontent/00000000-0000-0000-0000-000000000000/f.csv", "DownloadError"),
    ],
)
def test_download_refuses_and_keeps_nothing(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, kind: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, error = run_json(capsys, "download", url, "-o", str(out / "f.csv"))
    assert code == 1
    assert error["error"] == kind
    assert list(out.iterdir()) == []


def test_exec_download_base_joins_a_qurl(
    profile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _body = exported_url(profile, ["Region"])
    script = (
        "import os, sys; sys.stdout.write(os.environ['QLIK_DOWNLOAD_BASE'] + os.environ['QURL'])"
    )
    capture = tmp_path / "joined.txt"
    shell = f'{sys.executable} -c "{script}" > {capture}'
    monkeypatch.setenv("QURL", url)
    assert main(["exec", "--", "sh", "-c", shell]) == 0
    joined = capture.read_text(encoding="utf-8")
    assert joined.startswith("https://localhost:") and "/hdr/tempcontent/" in joined
    assert joined.endswith(url.partition("/tempcontent/")[2])
