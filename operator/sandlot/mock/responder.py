"""Choose and render an operation's response: status, media type, body and headers.

Called by the engine. Status: the one the caller asks for (Prism's `code=`), else
the lowest documented 2xx, then a 2XX range, then `default`, then the lowest other
code. Media type: negotiated against `Accept`. Body, in order: a named example
(`example=`), the media `example`, the first media `examples` entry, then the
generator (which itself prefers schema and property examples); `dynamic=true`
skips every example. Documented examples that break their schema are skipped so
that every answer validates against the spec.
"""

from __future__ import annotations

import json
import logging
import random
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandlot.mock.messages import MockResponse, problem_response
from sandlot.mock.negotiate import is_json, media_type, negotiate
from sandlot.openapi.schemas import SchemaIndex
from sandlot.util import fastjson

log = logging.getLogger("sandlot.mock")

NOTSET: Any = object()
_NEGOTIATED_MAX = 256
_HOP_HEADERS = {"content-type", "content-length", "transfer-encoding", "connection"}


class ResponseChoiceError(Exception):
    """The caller asked for a response the operation does not document (a status, an example)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _NeedsGenerator(Exception):
    """A header is generated, and no generator was given."""


@dataclass(frozen=True, slots=True)
class Chosen:
    """A documented response picked for a status: the status to send and the response object."""

    status: int
    key: str  # the key in `responses`: "200", "2XX" or "default"
    response: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Media:
    """What rendering one documented media type needs, found on its first use."""

    entry: Mapping[str, Any]
    schema: Any
    sent_type: str  # the Content-Type sent (a wildcard key made concrete)
    body: Any  # the documented example sent every time, else NOTSET
    generate: Callable[[random.Random], Any] | None  # the compiled generator, when there is no example


def _status_key_order(key: str) -> tuple[int, int]:
    return (int(key), 0) if key.isdigit() else (int(key[0]) * 100, 1) if key[:1].isdigit() else (999, 2)


class ResponsePlan:
    """One operation's documented responses, ready to render."""

    def __init__(self, index: SchemaIndex, generator: Any, operation: Mapping[str, Any]) -> None:
        self.index = index
        self.generator = generator
        raw = operation.get("responses") or {}
        self.responses: dict[str, Mapping[str, Any]] = {
            str(k).upper(): index.deref(v) or {} for k, v in raw.items() if isinstance(v, Mapping)
        }
        self._example_ok: dict[tuple[int, str], bool] = {}
        self._default: Chosen | None = None  # choose(None), computed once
        # (response key, Accept) -> negotiated media type; Accept values are few in practice,
        # and the cap keeps a client sending random ones from growing it without bound.
        self._negotiated: dict[tuple[str, str | None], str | None] = {}
        # response key -> its documented headers, or None when one is generated (needs the rng)
        self._fixed_headers: dict[str, list[tuple[str, str]] | None] = {}
        # (response key, media type, dynamic) -> what render needs of that media type, found once
        self._media: dict[tuple[str, str, bool], _Media] = {}

    def documented(self, status: int) -> Chosen | None:
        """Return the response documented for `status`: exact code, then its NXX range, then default."""
        for key in (str(status), f"{status // 100}XX", "DEFAULT"):
            if key in self.responses:
                return Chosen(status, key.lower() if key == "DEFAULT" else key, self.responses[key])
        return None

    def exactly(self, status: int) -> bool:
        """Tell whether `status` itself is documented (not through a range or `default`); YAML
        keys written as integers (`400:`) read as the strings JSON has."""
        return str(status) in self.responses

    def codes(self) -> str:
        """Return the documented response keys as a list for messages ("200, 404, default" or "none")."""
        return ", ".join(k.lower() if k == "DEFAULT" else k for k in self.responses) or "none"

    def choose(self, requested: int | None) -> Chosen:
        """Return the response to render; raise ResponseChoiceError for an undocumented `requested` code."""
        if requested is not None:
            found = self.documented(requested)
            if found is None:
                raise ResponseChoiceError(404, f"status {requested} is not documented for this operation "
                                               f"(documented: {self.codes()})")
            return found
        if self._default is None:
            self._default = self._choose_default()
        return self._default

    def _choose_default(self) -> Chosen:
        keys = sorted(self.responses, key=_status_key_order)
        for key in keys:
            if key.isdigit() and key.startswith("2"):
                return Chosen(int(key), key, self.responses[key])
        if "2XX" in self.responses:
            return Chosen(200, "2XX", self.responses["2XX"])
        if "DEFAULT" in self.responses:
            return Chosen(200, "default", self.responses["DEFAULT"])
        for key in keys:
            if key.isdigit():
                return Chosen(int(key), key, self.responses[key])
        if keys:
            return Chosen(_status_key_order(keys[0])[0], keys[0], self.responses[keys[0]])
        return Chosen(200, "", {})

    def media_schema(self, chosen: Chosen, media: str | None = None) -> Any:
        """Return the schema of a chosen response's media type (the first one by default), or None."""
        content = chosen.response.get("content") or {}
        if not content:
            return None
        entry = content.get(media) if media else next(iter(content.values()))
        return (self.index.deref(entry) or {}).get("schema") if isinstance(entry, Mapping) else None

    def render(self, chosen: Chosen, accept: str | None, rng: Callable[[], random.Random], *,
               example: str | None = None, dynamic: bool = False, body: Any = NOTSET,
               head: bool = False) -> MockResponse:
        """Render a chosen response: negotiate the media type, build the body and the headers.

        `rng` makes the request's seeded generator; it is called only when something is
        generated (seeding costs more than rendering a given body, the stateful mode's case)."""
        content: Mapping[str, Any] = chosen.response.get("content") or {}
        if chosen.key in self._fixed_headers:
            fixed = self._fixed_headers[chosen.key]
        else:
            fixed = self._fixed_headers[chosen.key] = self._header_values(chosen.response)
        if not content:
            if example is not None:
                raise ResponseChoiceError(404, f"response {chosen.key} has no content, so no example {example!r}")
            return MockResponse(chosen.status, self._headers(chosen.response, rng()) if fixed is None
                                else list(fixed), b"")
        media = self._negotiate(chosen.key, content, accept)
        if media is None:
            raise ResponseChoiceError(406, f"none of the documented media types ({', '.join(content)}) "
                                           f"is acceptable to Accept: {accept}")
        found = self._media.get((chosen.key, media, dynamic))
        if found is None:
            found = self._media[(chosen.key, media, dynamic)] = self._media_facts(content, media, dynamic)
        # The generator is made only when something is drawn from it (seeding costs more than
        # rendering a given body, the stateful mode's case); headers draw first, then the body.
        made = rng() if fixed is None or (body is NOTSET and example is None and found.generate) else None
        headers = list(fixed) if fixed is not None else self._headers(chosen.response, made)
        if body is NOTSET:
            if example is not None:
                body = self._named_example(chosen, media, found.entry, example)
            elif found.generate is not None:
                assert made is not None
                body = found.generate(made)
            else:
                body = found.body
        sent_type = found.sent_type
        payload = b"" if body is NOTSET else serialize(body, sent_type)
        if head:  # HEAD sends GET's headers, Content-Length included, and no body (RFC 9110 9.3.2)
            return MockResponse(chosen.status, [("content-type", sent_type), *headers,
                                                ("content-length", str(len(payload)))], b"")
        return MockResponse(chosen.status, [("content-type", sent_type), *headers], payload)

    def _media_facts(self, content: Mapping[str, Any], media: str, dynamic: bool) -> _Media:
        """Return a media type's entry, schema, sendable type and body unless it is generated."""
        entry = self.index.deref(content[media]) or {}
        schema = entry.get("schema")
        body = self._documented(entry, schema, dynamic)
        if body is not NOTSET or schema is None:
            return _Media(entry, schema, _concrete(media), body, None)
        # Not re-validated: the generator only emits schema-valid values (see _body).
        generate = self.generator.function(schema, direction="response", prefer_examples=not dynamic)
        return _Media(entry, schema, _concrete(media), NOTSET, generate)

    def body_value(self, chosen: Chosen, media: str, rng: random.Random) -> Any:
        """Return the body a chosen response would carry for a media type, unserialized: its
        documented example, else a generated one (NOTSET when it documents no schema)."""
        entry = self.index.deref((chosen.response.get("content") or {}).get(media)) or {}
        return self._body(chosen, media, entry, entry.get("schema"), rng, None, False)

    def _negotiate(self, key: str, content: Mapping[str, Any], accept: str | None) -> str | None:
        """Return negotiate()'s answer for a response's media types and Accept (memoised)."""
        cache_key = (key, accept)
        if cache_key in self._negotiated:
            return self._negotiated[cache_key]
        media = negotiate(list(content), accept)
        if len(self._negotiated) < _NEGOTIATED_MAX:
            self._negotiated[cache_key] = media
        return media

    def _body(self, chosen: Chosen, media: str, entry: Mapping[str, Any], schema: Any, rng: random.Random,
              example: str | None, dynamic: bool) -> Any:
        if example is not None:
            return self._named_example(chosen, media, entry, example)
        documented = self._documented(entry, schema, dynamic)
        if documented is not NOTSET or schema is None:
            return documented
        # Not re-validated here: the generator only emits schema-valid values (schemathesis checks
        # it on every shared spec), and validating each body would triple the cost of a request.
        return self.generator.build(schema, rng, direction="response", prefer_examples=not dynamic)

    def _named_example(self, chosen: Chosen, media: str, entry: Mapping[str, Any], example: str) -> Any:
        """Return the value of the example named `example` (Prism's `example=`), or refuse."""
        examples: Mapping[str, Any] = entry["examples"] if isinstance(entry.get("examples"), Mapping) else {}
        if example not in examples:
            names = ", ".join(examples) or "none"
            raise ResponseChoiceError(404, f"response {chosen.key} ({media}) has no example named "
                                           f"{example!r} (named examples: {names})")
        found = self.index.deref(examples[example]) or {}
        if "value" not in found:
            raise ResponseChoiceError(404, f"example {example!r} has no inline `value` "
                                           "(externalValue is not fetched)")
        return found["value"]

    def _documented(self, entry: Mapping[str, Any], schema: Any, dynamic: bool) -> Any:
        """Return the media type's first documented example that fits its schema (none when
        `dynamic`), else NOTSET."""
        if dynamic:
            return NOTSET
        if "example" in entry and self._valid_example(schema, entry["example"], (id(entry), "")):
            return entry["example"]
        examples: Mapping[str, Any] = entry["examples"] if isinstance(entry.get("examples"), Mapping) else {}
        for name, ex in examples.items():
            ex = self.index.deref(ex) or {}
            if "value" in ex and self._valid_example(schema, ex["value"], (id(entry), name)):
                return ex["value"]
        return NOTSET

    def _valid_example(self, schema: Any, value: Any, cache_key: tuple[int, str]) -> bool:
        """Tell whether a documented example fits the response schema (checked once, then cached)."""
        if schema is None:
            return True
        if cache_key not in self._example_ok:
            ok = not next(iter(self.index.validator(schema, "response").iter_errors(value)), None)
            self._example_ok[cache_key] = ok
            if not ok:
                log.warning("a documented example does not match its schema; generating instead")
        return self._example_ok[cache_key]

    def _header_values(self, response: Mapping[str, Any]) -> list[tuple[str, str]] | None:
        """Return a response's documented headers when none of them is generated, else None."""
        try:
            return self._headers(response, None)
        except _NeedsGenerator:
            return None

    def _headers(self, response: Mapping[str, Any], rng: random.Random | None) -> list[tuple[str, str]]:
        out = []
        for name, header in (response.get("headers") or {}).items():
            if name.lower() in _HOP_HEADERS:
                continue
            header = self.index.deref(header) or {}
            if "example" in header:
                value = header["example"]
            else:
                examples = header.get("examples") or {}
                first = self.index.deref(next(iter(examples.values()))) if examples else None
                if isinstance(first, Mapping) and "value" in first:
                    value = first["value"]
                elif header.get("schema") is not None:
                    if rng is None:
                        raise _NeedsGenerator
                    value = self.generator.build(header["schema"], rng, direction="response")
                else:
                    continue
            out.append((name.lower(), header_text(value)))
        return out


def _concrete(media: str) -> str:
    """Return a sendable Content-Type for a documented key (which may be a wildcard)."""
    if "*" not in media:
        return media
    if is_json(media):
        return "application/json"
    return "text/plain" if media.startswith("text/") else "application/octet-stream"


def header_text(value: Any) -> str:
    """Serialise a header value with OpenAPI's `simple` style."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(header_text(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k},{header_text(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def serialize(value: Any, content_type: str) -> bytes:
    """Encode a body value for its media type (JSON unless the type says otherwise)."""
    # application/json is by far the most common type: no need to parse it
    media = content_type if content_type == "application/json" else media_type(content_type)
    if media == "application/json" or is_json(media):
        return fastjson.dumps(value)
    if media == "application/x-www-form-urlencoded" and isinstance(value, Mapping):
        return urllib.parse.urlencode(value, doseq=True).encode()
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if media.endswith("xml"):
        return _xml(value, "response").encode()
    return json.dumps(value, ensure_ascii=False).encode()


def _xml(value: Any, tag: str) -> str:
    """Render a JSON value as plain XML elements (enough for clients that only parse it)."""
    if isinstance(value, Mapping):
        inner = "".join(_xml(v, str(k)) for k, v in value.items())
    elif isinstance(value, list):
        inner = "".join(_xml(v, "item") for v in value)
    else:
        inner = ("true" if value is True else "false" if value is False else "" if value is None else str(value))
        inner = inner.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<{tag}>{inner}</{tag}>"


def choice_error_response(err: ResponseChoiceError) -> MockResponse:
    """Render a ResponseChoiceError as a problem response."""
    return problem_response(err.status, err.detail)
