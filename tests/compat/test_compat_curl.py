"""curl downloading an export through ``qlikauth exec``, as docs/other-tools.md tells users.

qlikauth's engine connector exports a table and downloads the ``qUrl``; curl, run by
``qlikauth exec`` with the session's cookie and root, downloads the same ``qUrl`` joined to
``QLIK_DOWNLOAD_BASE`` and must get the same bytes, as must ``qlikauth download``. The join a
user tries first, ``$QLIK_ORIGIN$qUrl``, drops the virtual proxy prefix and lands on the login
redirect.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from compat_support import APP, Cli, CompatSite

#: The download, as docs/other-tools.md writes it: the qUrl joined to the virtual proxy's
#: URL as exec gives it; a redirect is an error, never followed.
RIGHT_JOIN = (
    'curl -fsS -L --max-redirs 0 --cacert "$QLIK_ROOT_CA" -H "Cookie: $QLIK_COOKIE" '
    '-o "$OUT" "$QLIK_DOWNLOAD_BASE$QURL"'
)
#: The join that loses the prefix: what the proxy answers, without following it.
WRONG_JOIN = (
    'curl -sS -o /dev/null -w "%{http_code} %{redirect_url}" --cacert "$QLIK_ROOT_CA" '
    '-H "Cookie: $QLIK_COOKIE" "$QLIK_ORIGIN$QURL"'
)


@pytest.mark.parametrize("profile", ["header", "jwt", "ticket"])
def test_curl_downloads_the_export_qlikauth_downloads(
    compat_site: CompatSite,
    cli: Cli,
    curl: str,
    profile: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with compat_site.client(profile) as client:
        doc = client.open_app(compat_site.info.app_id(APP))
        q_url = doc.create_hypercube(["Region"], ["Sum(Amount)"]).export_data("CSV_C")
        ours = client.download(q_url, tmp_path / "qlikauth.csv")
        monkeypatch.setenv("QURL", q_url)
        monkeypatch.setenv("OUT", str(tmp_path / "curl.csv"))

        run = cli("exec", "--profile", profile, "--", "sh", "-c", RIGHT_JOIN)
        assert run.code == 0, run.err
        assert ours.size > 0
        assert (tmp_path / "curl.csv").read_bytes() == (tmp_path / "qlikauth.csv").read_bytes()

        fetched = cli("download", "--profile", profile, q_url, "-o", str(tmp_path / "cli.csv"))
        assert fetched.code == 0, fetched.err
        assert (tmp_path / "cli.csv").read_bytes() == (tmp_path / "qlikauth.csv").read_bytes()

        wrong = cli("exec", "--profile", profile, "--", "sh", "-c", WRONG_JOIN)
    assert wrong.code == 0, wrong.err
    status, _, location = wrong.out.partition(" ")
    assert status == "302", wrong.out
    assert "targetId=" in location  # the login module: the file is not there for this cookie


#: The REST call, as docs/other-tools.md writes it: the cookie, and the same Xrfkey as the
#: query parameter and the X-Qlik-Xrfkey header.
REST_CALL = (
    "k=$(LC_ALL=C tr -dc A-Za-z0-9 </dev/urandom | head -c 16); "
    'curl -fsS --cacert "$QLIK_ROOT_CA" -H "Cookie: $QLIK_COOKIE" -H "X-Qlik-Xrfkey: $k" '
    '"${QLIK_PROXY_URL}qrs/about?xrfkey=$k"'
)
#: The same call without an Xrfkey: only the status.
REST_CALL_WITHOUT_XRFKEY = (
    'curl -sS -o /dev/null -w "%{http_code}" --cacert "$QLIK_ROOT_CA" -H "Cookie: $QLIK_COOKIE" '
    '"${QLIK_PROXY_URL}qrs/about"'
)


def test_curl_rest_call_through_the_proxy_carries_an_xrfkey(
    compat_site: CompatSite, cli: Cli, curl: str
) -> None:
    with compat_site.client("certificate") as client:
        about = client.get("qrs/about").json()
    run = cli("exec", "--profile", "header", "--", "sh", "-c", REST_CALL)
    assert run.code == 0, run.err
    assert json.loads(run.out)["buildVersion"] == about["buildVersion"]
    # QRS refuses a call without the Xrfkey: 403 "XSRF prevention check failed".
    refused = cli("exec", "--profile", "header", "--", "sh", "-c", REST_CALL_WITHOUT_XRFKEY)
    assert (refused.code, refused.out) == (0, "403")
