"""Page metadata from the page served (state/paging.py): facts, filling nested envelopes,
and taking back what the schema refuses; and Twilio's list envelope end to end."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest
from sandlot.state.paging import fill_page_fields, page_facts, revert_refused

from .spec_handlers import assert_valid, handler_with_key, shared_engine


def facts(**kwargs):
    base = dict(offset=0, limit=2, count=2, total=5, has_more=True, page_param="page",  # noqa: C408 - keyword style reads as the call
                page_base=1, limit_param="per_page", offset_param=None)
    return page_facts("/v2/things", "per_page=2&name=x", **{**base, **kwargs})


def test_page_facts_count_pages_and_link_neighbours() -> None:
    first = facts()
    assert (first.page, first.page_size, first.total, first.start, first.end) == (1, 2, 5, 0, 1)
    assert first.next == "/v2/things?name=x&per_page=2&page=2"
    assert first.prev is None and first.last == "/v2/things?name=x&per_page=2&page=3"
    last = facts(offset=4, count=1, has_more=False)
    assert (last.page, last.next, last.end) == (3, None, 4)
    assert last.prev == "/v2/things?name=x&per_page=2&page=2"
    zero_based = facts(page_base=0)
    assert zero_based.page == 0 and zero_based.next.endswith("page=1")


def test_fill_sets_nested_fields_and_drops_missing_links() -> None:
    body = {"items": [1, 2], "meta": {"total": 99}, "links": {"pages": {"prev": "https://x/1"}},
            "page_size": 40, "next_page_uri": "https://random.example/1", "previous_page_uri": "x"}
    filled, changed = fill_page_fields(body, facts(), skip={"items"})
    assert filled["meta"] == {"total": 5} and filled["page_size"] == 2
    assert filled["links"]["pages"] == {"next": "/v2/things?name=x&per_page=2&page=2",
                                        "last": "/v2/things?name=x&per_page=2&page=3"}
    middle, _ = fill_page_fields(body, facts(offset=2), skip={"items"})
    assert set(middle["links"]["pages"]) == {"first", "prev", "next", "last"}
    final, _ = fill_page_fields(body, facts(offset=4, count=1, has_more=False), skip={"items"})
    assert final["links"]["pages"] == {"first": "/v2/things?name=x&per_page=2&page=1",
                                       "prev": "/v2/things?name=x&per_page=2&page=2"}
    assert filled["next_page_uri"] == "/v2/things?name=x&per_page=2&page=2"
    assert filled["previous_page_uri"] is None  # present in the envelope: null, not absent
    assert ("meta", "total") in changed


def test_revert_makes_links_absolute_then_restores_generated_values() -> None:
    template = {"uri": "https://gen/1", "page": 7}
    body = {"uri": "/things?page=1", "page": -1}

    def errors(b):
        bad = [("uri",)] if not b["uri"].startswith("http") else []
        return bad + ([("page",)] if b["page"] < 0 else [])

    fixed = revert_refused(body, template, [("uri",), ("page",)], errors,
                           lambda u: "http://127.0.0.1:9" + u)
    assert fixed == {"uri": "http://127.0.0.1:9/things?page=1", "page": 7}


@pytest.fixture(scope="module")
def twilio_engine() -> Engine:
    return shared_engine("twilio/twilio_api_v2010.json")


@pytest.fixture
def twilio(twilio_engine: Engine, tmp_path: Path):
    handler, key = handler_with_key(twilio_engine, tmp_path / "tw.db")
    auth = "Basic " + base64.b64encode(f"{key}:x".encode()).decode()

    def call(method: str, path: str, form: dict | None = None, query: str = "") -> dict:
        headers = {"authorization": auth, "accept": "application/json", "host": "127.0.0.1:9",
                   "content-type": "application/x-www-form-urlencoded"}
        raw = urlencode(form).encode() if form is not None else b""
        response = handler.handle(MockRequest(method, path, query, headers, raw))
        assert_valid(twilio_engine, method, path, response)
        return json.loads(response.body)

    yield call
    handler.close()


def test_twilio_list_envelope_echoes_the_request(twilio) -> None:
    account = twilio("POST", "/2010-04-01/Accounts.json", {"FriendlyName": "t"})["sid"]
    messages = f"/2010-04-01/Accounts/{account}/Messages.json"
    for i in range(3):
        twilio("POST", messages, {"To": "+15005550006", "From": "+15005550001", "Body": f"hi {i}"})
    first = twilio("GET", messages, query="PageSize=2")
    assert (first["page"], first["page_size"], first["start"], first["end"]) == (0, 2, 0, 1)
    assert len(first["messages"]) == 2 and first["previous_page_uri"] is None
    assert first["next_page_uri"].startswith(f"http://127.0.0.1:9{messages}?")
    assert "Page=1" in first["next_page_uri"] and "PageSize=2" in first["next_page_uri"]
    following = first["next_page_uri"].split("?", 1)[1]
    second = twilio("GET", messages, query=following)
    assert (second["page"], second["page_size"], len(second["messages"])) == (1, 2, 1)
    assert second["next_page_uri"] is None
    assert second["previous_page_uri"].startswith(f"http://127.0.0.1:9{messages}?")


def test_twilio_form_fields_are_stored_under_the_response_names(twilio) -> None:
    account = twilio("POST", "/2010-04-01/Accounts.json", {"FriendlyName": "t"})["sid"]
    messages = f"/2010-04-01/Accounts/{account}/Messages.json"
    sent = twilio("POST", messages, {"To": "+15005550006", "From": "+15005550001", "Body": "hi"})
    assert (sent["to"], sent["from"], sent["body"]) == ("+15005550006", "+15005550001", "hi")
    assert not {"To", "From", "Body"} & set(sent)
    twilio("POST", messages, {"To": "+15005550009", "From": "+15005550001", "Body": "other"})
    listed = twilio("GET", messages, query="To=%2B15005550006")["messages"]
    assert [m["body"] for m in listed] == ["hi"]


def test_hal_link_objects_and_spring_page_metadata() -> None:
    body = {"_embedded": {"books": [1, 2]}, "_links": {"self": {"href": "https://x/1", "templated": False}},
            "page": {"size": 9, "totalElements": 0, "totalPages": 0, "number": 7}}
    filled, changed = fill_page_fields(body, facts(page_param="page", page_base=0, limit_param="size"),
                                       skip={"_embedded"})
    assert filled["page"] == {"size": 2, "totalElements": 5, "totalPages": 3, "number": 0}
    assert filled["_links"] == {"self": {"href": "/v2/things?per_page=2&name=x", "templated": False},
                                "next": {"href": "/v2/things?per_page=2&name=x&size=2&page=1"},
                                "last": {"href": "/v2/things?per_page=2&name=x&size=2&page=2"}}
    assert ("_links", "next", "href") in changed and ("page", "number") in changed
    # `size` and `number` are page metadata only inside a container.
    assert fill_page_fields({"items": [], "size": 40}, facts(), skip={"items"})[0]["size"] == 40
