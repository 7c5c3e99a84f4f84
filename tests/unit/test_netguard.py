"""The one guarded fetch (sandlot.util.netguard): addresses, URL rules, redirects, DNS rebinding, TLS, limits.

Every network test uses loopback servers (tests/netservers.py) that record each request, so a
refusal is proven by the refused server's empty `hits`, not by an error message alone.
127.0.0.1 stands for a metadata endpoint or an internal service; 127.0.0.2 for a host the
policy opens. Host names are resolved by a fake resolver the test controls (and counts).
"""

from __future__ import annotations

import ipaddress
import ssl

import pytest

from sandlot.util.netguard import (
    AddressPolicy,
    Fetched,
    FetchPolicy,
    NamedNetwork,
    Refused,
    TooLarge,
    Unreachable,
    check_url,
    fetch,
    fetch_if_changed,
    non_public,
    under_prefix,
    url_problem,
)
from tests.netservers import LoopbackServer, body, redirect, slow, tls_pair

OPEN = AddressPolicy(opened=(ipaddress.ip_network("127.0.0.2/32"),), open_with="open it with THE_SETTING")
METADATA = "ami-id: SECRET-CREDENTIALS-1234\n"


class Resolver:
    """A resolver the test controls: name -> list of answers, one per call (the last one repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        seen = sum(1 for h in self.calls if h == host)
        options = self.answers[host]
        return options[min(seen, len(options)) - 1]


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "a loopback address"),
    ("169.254.169.254", "a link-local address (where cloud instance metadata is served)"),
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("192.168.1.1", "a private address"),
    ("100.100.100.200", "a shared (carrier-grade NAT) address"),
    ("0.0.0.0", "the unspecified address (this host)"),
    ("224.0.0.1", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("::1", "a loopback address"),
    ("fe80::1", "a link-local address (where cloud instance metadata is served)"),
    ("fd00:ec2::254", "a private address"),
    ("::ffff:127.0.0.1", "an IPv6 address embedding 127.0.0.1, a loopback address"),
    ("64:ff9b::a9fe:a9fe", "an IPv6 address embedding 169.254.169.254, a link-local address "
                           "(where cloud instance metadata is served)"),
    ("2002:7f00:1::", "an IPv6 address embedding 127.0.0.1, a loopback address"),
    ("8.8.8.8", None),
    ("2606:4700::1", None),
])
def test_every_non_public_address_is_named(address, kind):
    assert non_public(ipaddress.ip_address(address)) == kind


def test_blocked_networks_refuse_public_addresses_and_opened_ones_win():
    policy = AddressPolicy(blocked=(NamedNetwork(ipaddress.ip_network("8.8.8.0/24"), "the cluster's pod network"),),
                           opened=(ipaddress.ip_network("8.8.8.8/32"), ipaddress.ip_network("10.1.0.0/16")))
    assert policy.refusal("8.8.8.9") == "8.8.8.9 is in the cluster's pod network (8.8.8.0/24)"
    assert policy.refusal("8.8.8.8") is None
    assert policy.refusal("10.1.2.3") is None
    assert policy.refusal("10.2.0.1") == "10.2.0.1 is a private address"
    assert policy.refusal("2606:4700::1") is None  # an IPv6 address is never "in" an IPv4 network


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://example.com/x", "only http and https URLs are read"),
    ("file:///etc/passwd", "only http and https URLs are read"),
    ("http:///x", "the URL has no host"),
    ("https://user:pw@example.com/x", "a user name or password in the URL is not allowed"),
    ("https://specs.example.com@127.0.0.1/x", "a user name or password in the URL is not allowed"),
    ("https://example.com/specs/../admin", "`.`, `..` and `\\` in the path are not allowed"),
    ("https://example.com/specs/%2e%2E/admin", "`.`, `..` and `\\` in the path are not allowed"),
    ("https://example.com/specs/..%5cadmin", "`.`, `..` and `\\` in the path are not allowed"),
    ("https://exämple.com/x", "the host name must be ASCII (use its punycode form, xn--...)"),
    ("https://example.com:99999/x", "the URL is malformed (Port out of range 0-65535)"),
    ("https://example.com/specs/openapi.yaml?v=1", None),
])
def test_url_problems_are_named(url, problem):
    assert url_problem(url) == problem


@pytest.mark.parametrize(("url", "prefix", "under"), [
    ("https://specs.acme.example/payments/v1.yaml", "https://specs.acme.example/payments/", True),
    ("https://SPECS.acme.example:443/payments/v1.yaml", "https://specs.acme.example/payments/", True),
    ("https://specs.acme.example/other/v1.yaml", "https://specs.acme.example/payments/", False),
    ("http://specs.acme.example/payments/v1.yaml", "https://specs.acme.example/payments/", False),
    ("https://specs.acme.example:8443/payments/v1.yaml", "https://specs.acme.example/payments/", False),
    ("https://specs.acme.example.evil.test/payments/v1.yaml", "https://specs.acme.example/", False),
    ("https://evil.test/https://specs.acme.example/", "https://specs.acme.example/", False),
    ("https://specs.acme.example/anything", "https://specs.acme.example", True),
])
def test_url_prefixes_compare_scheme_host_port_then_path(url, prefix, under):
    assert under_prefix(url, prefix) is under


def test_a_url_under_no_prefix_is_refused_with_the_remedy():
    policy = FetchPolicy(url_prefixes=("https://specs.acme.example/",), prefixes_remedy="add a prefix to X")
    with pytest.raises(Refused) as info:
        check_url("https://evil.test/x.yaml", policy)
    assert info.value.message == ("https://evil.test/x.yaml: the URL is under none of the allowed prefixes "
                                  "(https://specs.acme.example/); add a prefix to X")
    check_url("https://specs.acme.example/x.yaml", policy)  # no exception


def test_loopback_is_refused_and_never_contacted():
    with LoopbackServer("127.0.0.1", {"/latest/meta-data": body(METADATA)}) as metadata:
        with pytest.raises(Refused) as info:
            fetch(metadata.url("/latest/meta-data"), FetchPolicy(addresses=OPEN))
        assert metadata.hits == []
    assert info.value.rule == "127.0.0.1 is a loopback address"
    assert info.value.message.endswith("127.0.0.1 is a loopback address; open it with THE_SETTING")


def test_a_name_is_checked_on_the_address_it_resolves_to():
    resolver = Resolver({"metadata.internal": [["127.0.0.1"]], "both.test": [["127.0.0.2", "127.0.0.1"]]})
    with LoopbackServer("127.0.0.1", {"/": body(METADATA)}) as metadata:
        with pytest.raises(Refused, match="metadata.internal resolves to 127.0.0.1, which is a loopback address"):
            fetch(metadata.url("/", host="metadata.internal"), FetchPolicy(addresses=OPEN), resolve=resolver)
        # One refused answer among several refuses the name: any of them could be the one connected to.
        with pytest.raises(Refused, match="both.test resolves to 127.0.0.1"):
            fetch(metadata.url("/", host="both.test"), FetchPolicy(addresses=OPEN), resolve=resolver)
        assert metadata.hits == []


def test_an_opened_address_is_read():
    with LoopbackServer("127.0.0.2", {"/openapi.yaml": body("openapi: 3.0.3\n")}) as specs:
        assert fetch(specs.url("/openapi.yaml"), FetchPolicy(addresses=OPEN)) == b"openapi: 3.0.3\n"
        assert specs.paths() == ["/openapi.yaml"]
        assert specs.hits[0].host == f"127.0.0.2:{specs.port}"


def test_a_redirect_to_a_refused_address_is_never_followed():
    with LoopbackServer("127.0.0.1", {"/latest/meta-data": body(METADATA)}) as metadata, \
            LoopbackServer("127.0.0.2") as specs:
        specs.routes["/openapi.yaml"] = redirect(metadata.url("/latest/meta-data"))
        specs.routes["/relative"] = redirect("/openapi.yaml", 308)
        with pytest.raises(Refused) as info:
            fetch(specs.url("/relative"), FetchPolicy(addresses=OPEN))
        assert specs.paths() == ["/relative", "/openapi.yaml"]
        assert metadata.hits == []
    assert info.value.url == specs.url("/relative")
    assert info.value.rule == (f"it redirects to {metadata.url('/latest/meta-data')}, where 127.0.0.1 is a "
                               "loopback address")


def test_a_redirect_outside_the_prefixes_is_refused():
    with LoopbackServer("127.0.0.2") as specs:
        specs.routes["/allowed/spec.yaml"] = redirect("/private/spec.yaml")
        specs.routes["/private/spec.yaml"] = body("secret: yes\n")
        policy = FetchPolicy(addresses=OPEN, url_prefixes=(specs.url("/allowed/"),), prefixes_remedy="ask")
        with pytest.raises(Refused, match="it redirects to .*/private/spec.yaml, where the URL is under none"):
            fetch(specs.url("/allowed/spec.yaml"), policy)
        assert specs.paths() == ["/allowed/spec.yaml"]


def test_dns_rebinding_cannot_swap_the_checked_address():
    # The first answer is an opened address; every later one is the metadata stand-in. The fetch
    # resolves once and connects to what it checked, so the second answer is never even asked for.
    resolver = Resolver({"rebind.test": [["127.0.0.2"], ["127.0.0.1"]]})
    with LoopbackServer("127.0.0.1", {"/openapi.yaml": body(METADATA)}) as metadata, \
            LoopbackServer("127.0.0.2", {"/openapi.yaml": body("openapi: 3.1.0\n")}) as specs:
        metadata_port_url = f"http://rebind.test:{specs.port}/openapi.yaml"
        assert fetch(metadata_port_url, FetchPolicy(addresses=OPEN), resolve=resolver) == b"openapi: 3.1.0\n"
        assert resolver.calls == ["rebind.test"]
        assert specs.hits[0].host == f"rebind.test:{specs.port}"  # the name is still what the server sees
        assert metadata.hits == []


def test_each_redirect_hop_is_resolved_and_checked_again():
    resolver = Resolver({"a.test": [["127.0.0.2"]], "b.test": [["127.0.0.1"]]})
    with LoopbackServer("127.0.0.2") as specs, LoopbackServer("127.0.0.1", {"/": body(METADATA)}) as metadata:
        specs.routes["/spec"] = redirect(f"http://b.test:{metadata.port}/")
        with pytest.raises(Refused, match="b.test resolves to 127.0.0.1"):
            fetch(f"http://a.test:{specs.port}/spec", FetchPolicy(addresses=OPEN), resolve=resolver)
        assert resolver.calls == ["a.test", "b.test"] and metadata.hits == []


def test_tls_is_verified_for_the_host_name_while_connecting_to_the_checked_address(tmp_path):
    ca, cert, key = tls_pair(tmp_path, ["specs.test"])
    client = ssl.create_default_context(cafile=str(ca))
    resolver = Resolver({"specs.test": [["127.0.0.2"]], "other.test": [["127.0.0.2"]]})
    with LoopbackServer("127.0.0.2", {"/openapi.yaml": body("openapi: 3.0.0\n")}, tls=(cert, key)) as specs:
        url = f"https://specs.test:{specs.port}/openapi.yaml"
        assert fetch(url, FetchPolicy(addresses=OPEN), resolve=resolver, ssl_context=client) == b"openapi: 3.0.0\n"
        assert specs.hits[-1].sni == "specs.test"
        with pytest.raises(Unreachable, match="certificate valid for other.test"):
            fetch(f"https://other.test:{specs.port}/openapi.yaml", FetchPolicy(addresses=OPEN), resolve=resolver,
                  ssl_context=client)
        with pytest.raises(Unreachable, match="TLS with specs.test failed"):  # the system CAs do not know it
            fetch(url, FetchPolicy(addresses=OPEN), resolve=resolver)
        assert len(specs.hits) == 1


def test_limits_size_redirects_status_and_time():
    with LoopbackServer("127.0.0.2") as specs:
        specs.routes["/big"] = body("x" * 2048)
        specs.routes["/loop"] = redirect("/loop")
        specs.routes["/slow"] = slow(1.5)
        policy = FetchPolicy(addresses=OPEN)
        with pytest.raises(TooLarge, match="larger than 1024 bytes"):
            fetch(specs.url("/big"), policy, max_bytes=1024)
        with pytest.raises(Unreachable, match="more than 3 redirects"):
            fetch(specs.url("/loop"), policy, max_redirects=3)
        assert specs.paths().count("/loop") == 4
        with pytest.raises(Unreachable, match="answered 404 Not Found"):
            fetch(specs.url("/missing"), policy)
        with pytest.raises(Unreachable, match="timed out"):
            fetch(specs.url("/slow"), policy, timeout=0.3)


def test_proxy_variables_are_ignored(monkeypatch):
    # A proxy would resolve the name itself, unchecked: the fetch never uses one.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    with LoopbackServer("127.0.0.2", {"/s": body("ok")}) as specs:
        assert fetch(specs.url("/s"), FetchPolicy(addresses=OPEN)) == b"ok"


# ----- following a document: conditional GETs -------------------------------------------------------


def test_validators_are_sent_and_a_304_reads_no_body():
    v1 = (200, {"ETag": '"v1"', "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"}, b"openapi: 3.0.3\n")
    with LoopbackServer("127.0.0.2", {"/openapi.yaml": v1}) as specs:
        policy = FetchPolicy(addresses=OPEN)
        first = fetch_if_changed(specs.url("/openapi.yaml"), policy)
        assert first == Fetched(b"openapi: 3.0.3\n", '"v1"', "Tue, 01 Dec 2026 10:00:00 GMT")
        again = fetch_if_changed(specs.url("/openapi.yaml"), policy, etag=first.etag,
                                 last_modified=first.last_modified)
        assert again == Fetched(None, '"v1"', "Tue, 01 Dec 2026 10:00:00 GMT")
        specs.routes["/openapi.yaml"] = (200, {"ETag": '"v2"'}, b"openapi: 3.1.0\n")
        changed = fetch_if_changed(specs.url("/openapi.yaml"), policy, etag=first.etag,
                                   last_modified=first.last_modified)
        assert changed == Fetched(b"openapi: 3.1.0\n", '"v2"', None)
    assert [(h.if_none_match, h.if_modified_since, h.status) for h in specs.hits] == [
        (None, None, 200),
        ('"v1"', "Tue, 01 Dec 2026 10:00:00 GMT", 304),
        ('"v1"', "Tue, 01 Dec 2026 10:00:00 GMT", 200),
    ]


def test_if_modified_since_alone_is_honoured_by_a_server_without_etags():
    dated = (200, {"Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"}, b"x: 1\n")
    with LoopbackServer("127.0.0.2", {"/s": dated}) as specs:
        found = fetch_if_changed(specs.url("/s"), FetchPolicy(addresses=OPEN),
                                 last_modified="Tue, 01 Dec 2026 10:00:00 GMT")
    assert found == Fetched(None, None, "Tue, 01 Dec 2026 10:00:00 GMT")
    assert [(h.if_none_match, h.status) for h in specs.hits] == [(None, 304)]


def test_a_conditional_fetch_keeps_every_guard():
    with LoopbackServer("127.0.0.1", {"/latest/meta-data": body(METADATA)}) as metadata:
        with pytest.raises(Refused, match="127.0.0.1 is a loopback address"):
            fetch_if_changed(metadata.url("/latest/meta-data"), FetchPolicy(), etag='"x"')
        assert metadata.hits == []


def test_a_304_without_validators_is_no_answer():
    with LoopbackServer("127.0.0.2", {"/s": (304, {}, b"")}) as specs:
        with pytest.raises(Unreachable, match="answered 304"):
            fetch(specs.url("/s"), FetchPolicy(addresses=OPEN))
