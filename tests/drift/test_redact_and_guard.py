"""What counts as a secret (drift/redact.py), what counts as a live credential (drift/guard.py,
over the one list in state/keys.py), and how `--proxy` and `--upstream-header` are read
(drift/upstream.py), on exact outputs."""

from __future__ import annotations

import pytest

from sandlot.drift.guard import LiveUpstreamError, check_configured, live_credential
from sandlot.drift.redact import REDACTED, redact_headers, redact_query, redact_value, secret_name, secret_value
from sandlot.drift.upstream import Upstream, UpstreamError
from sandlot.mock.messages import MockRequest
from sandlot.state.keys import DEFAULT_LIVE_KEY_PATTERNS, LIVE_KEY_SHAPES


@pytest.mark.parametrize("name", ["password", "client_secret", "apiKey", "api_key", "X-Api-Key", "accessToken",
                                  "refresh_token", "session_id", "Set-Cookie", "x-signature", "cvc", "privateKey"])
def test_secret_names(name: str) -> None:
    assert secret_name(name)


@pytest.mark.parametrize("name", ["author", "name", "email", "tokens_used", "keyboard", "status", "pinned", "id"])
def test_names_that_are_not_secret(name: str) -> None:
    assert not secret_name(name)


@pytest.mark.parametrize("value", ["sk_live_abc", "sk_test_4eC39HqLyjWDarjtT1zdp7dc", "rk_test_abcdefghij",
                                   "sk_sbx_abcdefghijklmnop", "whsec_abcdefghijk", "AKIAIOSFODNN7EXAMPLE",
                                   "Bearer abcdefghijkl", "ghp_" + "a" * 36, "xoxb-1234567890-abc",
                                   "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",
                                   "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----",
                                   "access_token$production$abc$def"])
def test_secret_values(value: str) -> None:
    assert secret_value(value)


@pytest.mark.parametrize("value", ["Rex", "2026-01-01", "cus_123", "sk_test", "Bearer", "https://example.com"])
def test_values_that_are_not_secret(value: str) -> None:
    assert not secret_value(value)


def test_redaction_of_headers_query_and_bodies() -> None:
    assert redact_headers([("Content-Type", "application/json"), ("Set-Cookie", "session=s3cr3t"),
                           ("X-Partner", "sk_test_abcdefghijkl"), ("X-Request-Id", "req_1"), ("X-Key", "k1")],
                          secret_names=["x-key"]) == [
        ("Content-Type", "application/json"), ("Set-Cookie", REDACTED), ("X-Partner", REDACTED),
        ("X-Request-Id", "req_1"), ("X-Key", REDACTED)]
    assert redact_query("limit=2&api_key=abc&q=sk_test_abcdefghijkl&flag&k=1", ["k"]) == \
        f"limit=2&api_key={REDACTED}&q={REDACTED}&flag&k={REDACTED}"
    assert redact_value({"id": 1, "name": "Rex", "password": "hunter2", "token": 5,
                         "owner": {"client_secret": "abc", "tags": ["ok", "sk_live_xyz"]},
                         "session": {"id": "s1"}}) == \
        {"id": 1, "name": "Rex", "password": REDACTED, "token": 5,
         "owner": {"client_secret": REDACTED, "tags": ["ok", REDACTED]}, "session": {"id": "s1"}}


def test_the_live_key_list_is_the_state_stages_list() -> None:
    assert DEFAULT_LIVE_KEY_PATTERNS == tuple(p for p, _ in LIVE_KEY_SHAPES)
    assert DEFAULT_LIVE_KEY_PATTERNS[:3] == ("sk_live_*", "rk_live_*", "pk_live_*")


@pytest.mark.parametrize("headers, query, expected", [
    ([("Authorization", "Bearer sk_live_abc")], "", ("the Authorization header", "sk_live_*")),
    ([("Authorization", "Basic " + "cmtfbGl2ZV9hYmM6")], "", ("the Authorization header", "rk_live_*")),  # rk_live_abc:
    ([("Cookie", "a=1; key=pk_live_abc")], "", ("the Cookie header", "pk_live_*")),
    ([("X-Key", "rzp_live_abc")], "", ("the X-Key header", "rzp_live_*")),
    ([], "a=1&key=xnd_production_abc", ("the query parameter 'key'", "xnd_production_*")),
    ([("Authorization", "Bearer access_token$production$x$y")], "",
     ("the Authorization header", "access_token$production$*")),
    ([("X-Key", "FLWSECK-abc")], "", ("the X-Key header", "FLWSECK-*")),
    ([("X-Key", "FLWSECK_TEST-abc"), ("Authorization", "Bearer sk_test_abc")], "a=pk_test_1", None),
    ([("X-Note", "see sk_live_ docs")], "", None),
])
def test_live_credentials(headers: list, query: str, expected: tuple | None) -> None:
    found = live_credential(headers, query)
    assert (found.where, found.pattern) == expected if expected else found is None


def test_a_configured_live_credential_is_refused_with_the_way_out() -> None:
    check_configured([("Authorization", "Bearer sk_test_abc")])
    with pytest.raises(LiveUpstreamError, match=r"^--upstream-header Stripe-Account looks like a live \(production\) "
                                                r"credential \(it matches pdl_live_\*\);.*--allow-live-upstream"):
        check_configured([("Stripe-Account", "pdl_live_apikey_123")])


def test_upstream_urls_and_headers() -> None:
    upstream = Upstream.parse("https://api.staging.example.com/v1/?mode=test", ["X-Key: k1 ", "Accept:application/json"],
                              5)
    assert (upstream.origin, upstream.base_path, upstream.query, upstream.headers, upstream.timeout) == \
        ("https://api.staging.example.com:443", "/v1", "mode=test", (("X-Key", "k1"), ("Accept", "application/json")), 5)
    req = MockRequest("GET", "/pets", "limit=1", {"accept": "text/html", "connection": "keep-alive", "x-a": "1"})
    assert upstream.target(req) == "/v1/pets?mode=test&limit=1"
    assert upstream.request_headers(req) == [("x-a", "1"), ("X-Key", "k1"), ("Accept", "application/json")]


@pytest.mark.parametrize("url, headers, message", [
    ("ftp://example.com", [], "--proxy 'ftp://example.com' is not an http(s) URL; give the real API's base URL, e.g. "
                              "--proxy https://api.staging.example.com/v1"),
    ("example.com", [], "--proxy 'example.com' is not an http(s) URL"),
    ("https://user:pw@example.com", [], "--proxy https://…@example.com: put credentials in a header, not in the URL: "
                                        "--upstream-header 'Authorization: Bearer <test key>'"),
    ("http://example.com:99999", [], "--proxy 'http://example.com:99999' has an invalid port; use 1-65535"),
    ("http://example.com/#x", [], "--proxy 'http://example.com/#x' has a #fragment, which HTTP never sends; remove it"),
    ("http://example.com", ["Authorization sk_test"], "--upstream-header 'Authorization sk_test' is not 'Name: value'"),
    ("http://example.com", ["Host: other"], "--upstream-header Host: the proxy sets this header itself; remove it"),
])
def test_bad_upstreams_say_how_to_fix_them(url: str, headers: list, message: str) -> None:
    with pytest.raises(UpstreamError) as raised:
        Upstream.parse(url, headers)
    assert str(raised.value).startswith(message)
