"""The guard on every request this server sends (apps' JWK Sets, the plan's identity provider
and portal API): over real HTTPS on loopback, and refusing what a server-side request must."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator

import pytest

from auth.outbound import (
    OutboundError,
    OutboundPolicy,
    OutboundRefused,
    OutboundUnavailable,
    SafeHttps,
    is_allowed_address,
    parse_networks,
)
from tests.https_peer import HttpsPeer, PeerAnswer, https_peer
from tests.tls import Certificate, self_signed


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def peer(certificate: Certificate) -> Iterator[HttpsPeer]:
    with https_peer(certificate) as served:
        yield served


def guard(certificate: Certificate, **policy: object) -> SafeHttps:
    settings: dict[str, object] = {"allow_loopback": True, "timeout": 1.0} | policy
    return SafeHttps(OutboundPolicy(**settings), ssl_context=certificate.trusting())  # type: ignore[arg-type]


def test_a_post_reaches_the_peer_with_its_body_and_the_answer_comes_back(peer: HttpsPeer) -> None:
    peer.answer = lambda request: PeerAnswer.of_json({"echo": request.body.decode()}, 201)

    answer = guard(peer.certificate).request(
        "POST", peer.url("/verify"), headers={"Content-Type": "application/json"}, body=b"hello"
    )

    assert answer.status == 201
    assert answer.json("the answer") == {"echo": "hello"}
    assert [(r.method, r.path, r.body) for r in peer.requests] == [("POST", "/verify", b"hello")]


def test_a_redirect_is_handed_back_and_never_followed(peer: HttpsPeer) -> None:
    peer.answer = lambda request: (
        PeerAnswer(302, b"", {"Location": "/elsewhere"})
        if request.path == "/start"
        else PeerAnswer.of_json({"followed": True})
    )

    answer = guard(peer.certificate).get(peer.url("/start"))

    assert answer.status == 302
    assert answer.headers["location"] == "/elsewhere"
    assert [r.path for r in peer.requests] == ["/start"]


def test_only_configured_hosts_are_contacted(peer: HttpsPeer) -> None:
    peer.answer = lambda _: PeerAnswer.of_json({})
    limited = guard(peer.certificate, hosts=frozenset({"idp.plan.example"}))

    with pytest.raises(OutboundRefused, match="not a configured host"):
        limited.get(peer.url("/x"))
    assert peer.requests == []


def test_an_answer_dripped_byte_by_byte_is_cut_off_at_the_deadline(peer: HttpsPeer) -> None:
    peer.answer = lambda _: PeerAnswer.of_json({"member_id": "X" * 200})
    peer.drip = 0.05  # each byte within any per-read timeout; the whole far past the deadline

    started = time.monotonic()
    with pytest.raises(OutboundUnavailable, match="in time"):
        guard(peer.certificate, timeout=0.6).get(peer.url("/slow"))
    assert time.monotonic() - started < 1.5


def test_a_peer_that_never_answers_is_given_up_on(peer: HttpsPeer) -> None:
    peer.delay = 2.0

    started = time.monotonic()
    with pytest.raises(OutboundUnavailable, match="in time"):
        guard(peer.certificate, timeout=0.5).get(peer.url("/silent"))
    assert time.monotonic() - started < 1.4


def test_an_answer_over_the_size_limit_is_refused(peer: HttpsPeer) -> None:
    peer.answer = lambda _: PeerAnswer(200, b"x" * 5000)

    with pytest.raises(OutboundError, match="more than 1000 bytes"):
        guard(peer.certificate, max_bytes=1000).get(peer.url("/big"))


def test_nothing_listening_is_unavailable_not_refused(certificate: Certificate) -> None:
    with pytest.raises(OutboundUnavailable):
        guard(certificate).get("https://127.0.0.1:9/nothing")


@pytest.mark.parametrize(
    "answers",
    [
        ["169.254.169.254"],  # the cloud metadata service
        ["fd00:ec2::254"],  # its IPv6 twin is a unique-local address: private
        ["10.1.2.3"],
        ["172.31.255.1"],
        ["192.168.0.10"],
        ["100.100.100.200"],  # shared address space (carrier NAT; another metadata service)
        ["127.0.0.1"],
        ["::ffff:169.254.169.254"],
        ["93.184.216.34", "192.168.0.10"],
    ],
)
def test_metadata_private_and_loopback_addresses_are_refused_before_connecting(
    answers: list[str],
) -> None:
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers

    with pytest.raises(OutboundRefused, match="may not be contacted"):
        SafeHttps(OutboundPolicy(), resolve=resolve).get("https://idp.plan.example/jwks")
    assert asked == ["idp.plan.example"]


def test_a_listed_private_network_is_allowed_but_link_local_never_is() -> None:
    internal = parse_networks("10.20.0.0/16, fd12:3456::/48")

    assert is_allowed_address("10.20.4.5", allow_loopback=False, allowed_networks=internal)
    assert is_allowed_address("fd12:3456::9", allow_loopback=False, allowed_networks=internal)
    assert not is_allowed_address("10.21.0.1", allow_loopback=False, allowed_networks=internal)
    assert not is_allowed_address("169.254.169.254", allow_loopback=True, allowed_networks=internal)
    assert not is_allowed_address("fe80::1", allow_loopback=True, allowed_networks=internal)
    with pytest.raises(ValueError, match="never allowed"):
        parse_networks("169.254.0.0/16")
    with pytest.raises(ValueError, match="never"):
        OutboundPolicy(allowed_networks=(ipaddress.ip_network("169.254.169.0/24"),))
    with pytest.raises(ValueError, match="not an IP network"):
        parse_networks("intranet")


def test_plain_http_and_urls_with_credentials_are_refused_unsent(peer: HttpsPeer) -> None:
    for url in (f"http://localhost:{peer.port}/x", f"https://u:p@localhost:{peer.port}/x"):
        with pytest.raises(OutboundRefused):
            guard(peer.certificate).get(url)
    assert peer.requests == []
