"""Ticket authentication: issue over mutual TLS, redeem once, on the right virtual proxy."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from qlikauth import QlikUser, Site, TicketError, VirtualProxy
from qlikauth.auth.base import Authenticator
from qlikauth.auth.ticket import TicketAuth, redeem_ticket_flow
from qlikauth.http import HttpRequest, HttpResponse, HttpTransport, run_flow
from qlikauth.qps import QpsClient, Ticket
from qlikauth.testing.contract import AuthenticatorContract, emulator_site
from qlikauth.testing.emulator import EmulatorInfo

SITE = Site("qlik.example.com", VirtualProxy("ticket", "X-Qlik-Session-ticket"))


def test_flow_posts_the_ticket_then_redeems_it_on_the_same_virtual_proxy() -> None:
    flow = TicketAuth("alice", "CORP", attributes={"Group": ["Sales", "EU"]}).login(SITE)
    post = next(flow)
    parts = urlsplit(post.url)
    assert (post.method, parts.port, parts.path) == ("POST", 4243, "/qps/ticket/ticket")
    key = parse_qs(parts.query)["xrfkey"][0]
    assert post.headers["X-Qlik-Xrfkey"] == key
    assert post.body is not None
    assert json.loads(post.body) == {
        "UserDirectory": "CORP",
        "UserId": "alice",
        "Attributes": [{"Group": "Sales"}, {"Group": "EU"}],
    }
    redeem = flow.send(
        HttpResponse(201, (), b'{"UserDirectory":"CORP","UserId":"alice","Ticket":"TkT-1"}')
    )
    # Redeemed on the hub, as browsers do; never on qps/csrftoken.
    assert redeem.url == "https://qlik.example.com/ticket/hub/?qlikTicket=TkT-1"
    assert "Cookie" not in redeem.headers


def test_refused_redemption_explains_the_ticket_rules() -> None:
    ticket = Ticket("TkT-1", None, QlikUser("CORP", "alice"), expires_at=0.0, prefix="other")
    flow = redeem_ticket_flow(SITE, ticket)
    next(flow)
    with pytest.raises(TicketError) as error:
        flow.send(
            HttpResponse(302, (("Location", "https://qlik.example.com/ticket/login?targetId=1"),))
        )
    text = str(error.value)
    assert "issued for virtual proxy 'other'" in text
    assert "older than one minute" in text
    assert "TkT-1" not in text


class TestTicketContract(AuthenticatorContract):
    @pytest.fixture
    def authenticator(self) -> Authenticator:
        return TicketAuth("contract_ticket", "QLIKEMU", attributes={"Group": "Sales"})

    @pytest.fixture
    def site(self, qlik_emulator: EmulatorInfo) -> Site:
        return emulator_site(qlik_emulator, "ticket")

    @pytest.fixture
    def expected_user(self) -> QlikUser:
        return QlikUser("QLIKEMU", "contract_ticket")


def test_ticket_reused(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "ticket")
    with QpsClient(site) as qps:
        ticket = qps.issue_ticket("QLIKEMU\\reuser")
    assert "reuser" in repr(ticket) and ticket.ticket not in repr(ticket)
    with HttpTransport(site) as transport:
        credentials = run_flow(redeem_ticket_flow(site, ticket), transport)
        assert credentials.user == QlikUser("QLIKEMU", "reuser")
        with pytest.raises(TicketError) as error:
            run_flow(redeem_ticket_flow(site, ticket), transport)
        assert "used before" in str(error.value)
        assert ticket.ticket not in str(error.value)
        run_flow(TicketAuth("reuser", "QLIKEMU").logout(site, credentials), transport)


def test_ticket_for_another_virtual_proxy(qlik_emulator: EmulatorInfo) -> None:
    ticket_site = emulator_site(qlik_emulator, "ticket")
    other = emulator_site(qlik_emulator, "hdr")
    with QpsClient(ticket_site) as qps:
        ticket = qps.issue_ticket(QlikUser("QLIKEMU", "wanderer"))
    with HttpTransport(other) as transport, pytest.raises(TicketError) as error:
        run_flow(redeem_ticket_flow(other, ticket), transport)
    assert "issued for virtual proxy 'ticket'" in str(error.value)


def test_issue_ticket_with_target_id_returns_the_target(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "ticket")
    with HttpTransport(site) as transport:
        # An unauthenticated browser request: the proxy remembers it under a targetId.
        start = transport.send(HttpRequest("GET", site.proxy_url("hub/sheet/1")))
        assert start.is_redirect
        target_id = parse_qs(urlsplit(start.location or "").query)["targetId"][0]
        with QpsClient(site, transport=transport) as qps:
            ticket = qps.issue_ticket("QLIKEMU\\browser", target_id=target_id)
    assert ticket.target_uri is not None
    assert "hub/sheet/1" in ticket.target_uri
    url = ticket.redirect_url(site)
    assert url.startswith(ticket.target_uri)
    assert "qlikTicket=" in url


def test_the_old_issue_ticket_still_works_one_release_and_says_so(
    qlik_emulator: EmulatorInfo,
) -> None:
    import qlikauth

    site = emulator_site(qlik_emulator, "ticket")
    with pytest.warns(DeprecationWarning, match=r"QpsClient\(site\)\.issue_ticket"):
        ticket = qlikauth.issue_ticket(site, "QLIKEMU\\legacy")
    assert ticket.user == QlikUser("QLIKEMU", "legacy")
