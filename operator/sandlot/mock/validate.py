"""Check a request against its operation: security, body media type, parameters, body schema.

The engine compiles one `RequestPlan` per operation (lazily, on its first request)
and calls `RequestPlan.check`. The outcome is either a `ValidatedRequest` holding
the typed parameters and parsed body, or a `Refusal` (status, detail, every
violation) that the engine renders as the documented error response or as
`application/problem+json`. Order matters and follows what a real API does:
credentials first (401), then the body's media type (415), then everything else
at once (400 for parameters and malformed bodies, 422 for a body that breaks its schema).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandlot.mock.messages import MockRequest, Violation
from sandlot.mock.negotiate import is_json, match_declared, media_param, media_type
from sandlot.mock.params import (
    MISSING,
    ParamSpec,
    coerce,
    decode_content,
    deserialize_query,
    deserialize_text,
    param_kind,
)
from sandlot.openapi.loader import escape_token
from sandlot.openapi.schemas import SchemaIndex
from sandlot.util import fastjson

# Keywords that do not constrain a value; a schema of only these and `type` is checked by type.
_PLAIN_KEYWORDS = {"type", "description", "title", "example", "examples", "deprecated"}
_PLAIN_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                              "boolean": (bool,)}

#: Checked body-less requests kept per engine (`RequestPlan.check`), all dropped when full, and
#: the longest query and headers kept (a few MiB at most).
CHECKED_KEPT = 1024
CHECKED_BYTES = 4096

_DEFAULT_STYLE = {"query": "form", "cookie": "form", "path": "simple", "header": "simple"}
_IGNORED_HEADERS = {"accept", "content-type", "authorization"}
_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


@dataclass(slots=True)
class ValidatedRequest:
    """A request that passed validation, with typed values (what the stateful layer reads)."""

    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    cookies: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    media_type: str | None = None  # the declared request media type the body matched
    credentials: dict[str, str] = field(default_factory=dict)  # security scheme name -> value sent
    #: What `--lenient` accepted by coercing it (`body /age: "3" taken as the integer 3`), for
    #: the `Sandlot-Warning` response headers.
    coercions: list[str] = field(default_factory=list)

    def copy(self) -> ValidatedRequest:
        """Return a copy whose dicts and lists are its own (the values in them are shared)."""
        return ValidatedRequest(dict(self.path), dict(self.query), dict(self.headers), dict(self.cookies), self.body,
                                self.media_type, dict(self.credentials), list(self.coercions))


@dataclass(slots=True)
class Refusal:
    """Why a request is refused: the status, a one-line detail, and each violation."""

    status: int
    detail: str
    errors: list[Violation]
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SecurityCheck:
    """One security scheme of a requirement: where its credential is looked for."""

    scheme: str  # the name in components.securitySchemes
    kind: str  # apiKey | http
    location: str  # header | query | cookie
    name: str  # header/query/cookie name (Authorization for http)
    http_scheme: str = ""  # basic | bearer | ... for kind == http

    def credential(self, req: MockRequest, query: Mapping[str, list[str]], cookies: Mapping[str, str]) -> str | None:
        """Return the credential the request carries for this scheme, or None."""
        if self.location == "query":
            values = query.get(self.name)
            return values[0] if values else None
        if self.location == "cookie":
            return cookies.get(self.name)
        value = req.headers.get(self.name.lower())
        if value is None or self.kind != "http":
            return value
        word, _, token = value.strip().partition(" ")
        if word.lower() != self.http_scheme or not token.strip():
            return None
        token = token.strip()
        if self.http_scheme == "basic":
            try:
                decoded = base64.b64decode(token, validate=True).decode("utf-8", "replace")
            except ValueError:
                return None
            return decoded if ":" in decoded else None
        return token


def security_check(scheme_name: str, scheme: Mapping[str, Any]) -> SecurityCheck | None:
    """Return where a security scheme's credential is looked for; None for mutualTLS and
    unknown types, which cannot be checked over plain HTTP (treated as met)."""
    kind = scheme.get("type")
    if kind == "apiKey":
        return SecurityCheck(scheme_name, "apiKey", scheme.get("in", "header"), scheme.get("name", ""))
    if kind == "http":
        scheme_word = str(scheme.get("scheme", "bearer")).lower()
        return SecurityCheck(scheme_name, "http", "header", "Authorization", scheme_word)
    if kind in ("oauth2", "openIdConnect"):
        return SecurityCheck(scheme_name, "http", "header", "Authorization", "bearer")
    return None


def parse_cookies(header: str | None) -> dict[str, str]:
    """Parse a Cookie header into name -> value (first wins)."""
    cookies: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = urllib.parse.unquote(value.strip().strip('"'))
    return cookies


def parse_query(raw: str) -> dict[str, list[str]]:
    """Parse a raw query string into name -> values, keeping blank values."""
    out: dict[str, list[str]] = {}
    if raw:
        for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
            out.setdefault(key, []).append(value)
    return out


class RequestPlan:
    """Everything needed to validate requests to one operation, compiled from the spec once."""

    def __init__(self, index: SchemaIndex, operation: Mapping[str, Any], path_item: Mapping[str, Any],
                 document: Mapping[str, Any], *, lenient: bool = False,
                 checked: dict[tuple[Any, ...], ValidatedRequest] | None = None) -> None:
        self.index = index
        self.lenient = lenient
        self.params = self._compile_params(path_item.get("parameters") or [], operation.get("parameters") or [])
        self._param_validators: dict[str, Any] = {}
        self._param_shortcuts: dict[str, tuple[tuple[type, ...] | None, Callable[[Any], bool] | None]] = {}
        self._only_text_path: tuple[tuple[str, ...]] | tuple[()] | None = None  # found on first check
        body = index.deref(operation.get("requestBody")) if operation.get("requestBody") else None
        self.body_required = bool(body and body.get("required"))
        self.body_media: dict[str, Any] = {
            k: (v or {}).get("schema") for k, v in ((body or {}).get("content") or {}).items()
        }
        self._body_validators: dict[str, Any] = {}
        #: Body-less requests checked before, exactly as sent (this plan, query, headers, path
        #: values), and what they gave: a stateful client's repeated read skips the whole check.
        #: The engine shares one dict among its plans, so one bound holds for all.
        self._checked: dict[tuple[Any, ...], ValidatedRequest] = {} if checked is None else checked
        self.security = self._compile_security(operation, document)
        self.claimed_query = {p.name for p in self.params if p.location == "query"}
        # Some specs declare `Accept` as a header parameter listing types no response documents
        # (DigitalOcean: application/yaml); a client following the spec must still get an answer.
        self.declares_accept = any(
            isinstance(self.index.deref(p), Mapping) and str(self.index.deref(p).get("name", "")).lower() == "accept"
            and self.index.deref(p).get("in") == "header"
            for p in [*(path_item.get("parameters") or []), *(operation.get("parameters") or [])])

    def _compile_params(self, item_params: list[Any], op_params: list[Any]) -> list[ParamSpec]:
        merged: dict[tuple[str, str], Any] = {}
        for raw in [*item_params, *op_params]:
            param = self.index.deref(raw)
            if isinstance(param, Mapping) and "name" in param and "in" in param:
                merged[(param["name"], param["in"])] = param
        specs = []
        for (name, where), param in merged.items():
            if where == "header" and name.lower() in _IGNORED_HEADERS:
                continue
            style = param.get("style") or _DEFAULT_STYLE.get(where, "form")
            explode = param.get("explode", style == "form")
            if "content" in param and isinstance(param["content"], Mapping) and param["content"]:
                schema = next(iter(param["content"].values())).get("schema") or {}
                kind = "json"
            else:
                schema = param.get("schema") or {}
                kind = param_kind(self.index, schema)
            specs.append(ParamSpec(
                name=name, location=where, required=bool(param.get("required")) or where == "path",
                style=style, explode=bool(explode), schema=schema, kind=kind,
                allow_empty=bool(param.get("allowEmptyValue")),
            ))
        return specs

    def _compile_security(self, operation: Mapping[str, Any], document: Mapping[str, Any]) -> list[list[SecurityCheck]]:
        requirements = operation.get("security", document.get("security")) or []
        schemes = (document.get("components") or {}).get("securitySchemes") or {}
        alternatives: list[list[SecurityCheck]] = []
        for requirement in requirements:
            if not isinstance(requirement, Mapping):
                continue
            checks = [c for scheme_name in requirement
                      if (c := security_check(scheme_name, self.index.deref(schemes.get(scheme_name)) or {}))]
            alternatives.append(checks)
        if any(not alt for alt in alternatives):  # `{}` makes security optional
            return []
        return alternatives

    def check(self, req: MockRequest, path_params: Mapping[str, str]) -> ValidatedRequest | Refusal:
        """Validate one request; return the typed request or the refusal with every violation."""
        if self._only_text_path is None:
            self._only_text_path = self._text_path_names()
        if self._only_text_path:  # nothing to check but path strings the router found
            names = self._only_text_path[0]
            if all(name in path_params for name in names):
                return ValidatedRequest(path={name: path_params[name] for name in names})
        key = None if req.body else (self, req.query, tuple(req.headers.items()), tuple(path_params.items()))
        if key is not None:
            kept = self._checked.get(key)
            if kept is not None:
                return kept.copy()
        found = self._check(req, path_params)
        if key is not None and isinstance(found, ValidatedRequest) and \
                len(req.query) + sum(len(k) + len(v) for k, v in key[2]) <= CHECKED_BYTES:
            if len(self._checked) >= CHECKED_KEPT:
                self._checked.clear()
            self._checked[key] = found.copy()
        return found

    def _check(self, req: MockRequest, path_params: Mapping[str, str]) -> ValidatedRequest | Refusal:
        query = parse_query(req.query)
        cookies = parse_cookies(req.headers.get("cookie")) if "cookie" in req.headers else {}
        out = ValidatedRequest()
        if self.security:
            refusal = self._check_security(req, query, cookies, out)
            if refusal:
                return refusal
        content_type = req.headers.get("content-type")
        declared = None
        if self.body_media and req.body:
            declared = match_declared(self.body_media, content_type) if content_type else next(iter(self.body_media))
            if declared is None:
                accepted = ", ".join(self.body_media)
                return Refusal(415, f"Content-Type {media_type(content_type)!r} is not accepted here; "
                                    f"send one of: {accepted}",
                               [Violation("header", "/content-type",
                                          f"unsupported media type; expected one of: {accepted}")])
        elif self.body_media and content_type:  # an empty body: only an empty form still means something
            declared = match_declared(self.body_media, content_type)
        errors = self._check_params(req, path_params, query, cookies, out)
        body_errors = self._check_body(req, declared, content_type, out)
        malformed = [e for e in body_errors if e.location == "body" and e.message.startswith("malformed")]
        if errors or malformed:
            what = "parameters" if errors else "body"
            return Refusal(400, f"the request's {what} are invalid" if errors else "the request body is malformed",
                           errors + body_errors)
        if body_errors:
            return Refusal(422, "the request body does not match the operation's schema", body_errors)
        return out

    def _text_path_names(self) -> tuple[tuple[str, ...]] | tuple[()]:
        """Return (the path parameter names,) when an operation takes nothing but path parameters
        that are plain strings (style simple, `type: string` alone), no body and no security;
        else (). Such a request is valid whenever the router found every name; the full check
        would keep each value as it is."""
        if self.security or self.body_media or not all(
                spec.location == "path" and spec.style == "simple" and spec.kind == "scalar"
                and self._shortcuts(spec)[0] == (str,) for spec in self.params):
            return ()
        return (tuple(spec.name for spec in self.params),)

    def _check_security(self, req: MockRequest, query: Mapping[str, list[str]], cookies: Mapping[str, str],
                        out: ValidatedRequest) -> Refusal | None:
        for alternative in self.security:
            found = {c.scheme: c.credential(req, query, cookies) for c in alternative}
            if all(v is not None for v in found.values()):
                out.credentials = {k: v for k, v in found.items() if v is not None}
                return None
        errors = []
        challenges = []
        for alternative in self.security:
            for c in alternative:
                if c.kind == "http":
                    challenges.append(f'{c.http_scheme.capitalize()} realm="sandlot"')
                    what = f"an `Authorization: {c.http_scheme.capitalize()} ...` header"
                else:
                    what = f"the {c.location} {c.name!r}"
                errors.append(Violation(c.location, "/" + escape_token(c.name),
                                        f"security scheme {c.scheme!r} needs {what}"))
        ways = " or ".join(" and ".join(c.scheme for c in alt) for alt in self.security)
        headers = [("www-authenticate", ", ".join(dict.fromkeys(challenges)))] if challenges else []
        return Refusal(401, f"missing credentials: this operation needs {ways}", errors, headers)

    def _param_validator(self, spec: ParamSpec) -> Any:
        key = f"{spec.location}:{spec.name}"
        validator = self._param_validators.get(key)
        if validator is None:
            validator = self._param_validators[key] = self.index.validator(spec.schema, "request")
        return validator

    def _shortcuts(self, spec: ParamSpec) -> tuple[tuple[type, ...] | None, Callable[[Any], bool] | None]:
        """Return what checks a parameter's value without the JSON Schema validator, worked out
        once per parameter: (the Python types that satisfy a schema saying no more than `type: T`,
        else None; the schema's acceptor, `SchemaIndex.acceptor`: True only for values the
        validator finds nothing wrong with, `type: integer, minimum: 1, maximum: 100`, a
        string's length range or enum, ..., else None).

        Most path and query parameters are plain (`type: string`); checking them with a type
        test instead of the validator saves a large part of a request. A value the acceptor
        passes needs no validator either; one it fails goes to the validator, which says why."""
        key = f"{spec.location}:{spec.name}"
        found = self._param_shortcuts.get(key)
        if found is None:
            schema = self.index.deref(spec.schema)
            declared = schema.get("type") if isinstance(schema, Mapping) else None
            plain: tuple[type, ...] | None = None
            if isinstance(declared, str) and set(schema) <= _PLAIN_KEYWORDS:
                plain = _PLAIN_TYPES.get(declared)
            found = self._param_shortcuts[key] = (plain, self.index.acceptor(spec.schema, "request"))
        return found

    def _check_params(self, req: MockRequest, path_params: Mapping[str, str], query: Mapping[str, list[str]],
                      cookies: Mapping[str, str], out: ValidatedRequest) -> list[Violation]:
        errors: list[Violation] = []
        targets = {"path": out.path, "query": out.query, "header": out.headers, "cookie": out.cookies}
        for spec in self.params:
            if spec.location == "path":
                raw = path_params.get(spec.name, MISSING)
                value = MISSING if raw is MISSING else (
                    raw if spec.kind == "json" else deserialize_text(spec, str(raw)))
            elif spec.location == "header":
                raw = req.headers.get(spec.name.lower(), MISSING)
                value = MISSING if raw is MISSING else (
                    raw if spec.kind == "json" else deserialize_text(spec, str(raw)))
            else:
                source = query if spec.location == "query" else {k: [v] for k, v in cookies.items()}
                claimed = self.claimed_query if spec.location == "query" else set()
                value = deserialize_query(spec, source, claimed)
            if value is MISSING:
                if spec.required:
                    errors.append(Violation(spec.location, "/" + escape_token(spec.name),
                                            f"required {spec.location} parameter {spec.name!r} is missing"))
                continue
            if spec.kind == "json":
                try:
                    value = decode_content(str(value))
                except ValueError:
                    errors.append(Violation(spec.location, "/" + escape_token(spec.name),
                                            f"{spec.name!r} must be JSON"))
                    continue
            elif value == "" and spec.allow_empty:
                targets[spec.location][spec.name] = value
                continue
            plain, fits = self._shortcuts(spec)
            if spec.kind != "json" and not (plain == (str,) and type(value) is str):  # coerce keeps those as is
                value = coerce(self.index, spec.schema, value)
                if self.lenient:
                    value = self._lenient_param(spec, value, out)
            found: list[Violation]
            if plain is not None and type(value) in plain:
                found = []  # what the validator would say, without running it
            elif fits is not None and fits(value):
                found = []  # the same, for a value the schema's acceptor passes
            else:
                found = violations(self._param_validator(spec), value, spec.location, "/" + escape_token(spec.name))
            errors.extend(found)
            if not found:
                targets[spec.location][spec.name] = value
        return errors

    def _check_body(self, req: MockRequest, declared: str | None, content_type: str | None,
                    out: ValidatedRequest) -> list[Violation]:
        if not self.body_media:
            return []
        form = declared is not None and media_type(declared) in _FORM_TYPES
        if not req.body and not form:
            if self.body_required:
                return [Violation("body", "", "the request body is required")]
            return []
        if declared is None:
            return []
        out.media_type = declared
        schema = self.body_media.get(declared)
        concrete = media_type(content_type) or media_type(declared)
        try:
            body = self._parse_body(req.body, concrete, content_type, schema)
        except ValueError as exc:
            return [Violation("body", "", f"malformed body: {exc}")]
        out.body = body
        if schema is None or body is _UNPARSED:
            out.body = req.body if body is _UNPARSED else body
            return []
        accept = self.index.acceptor(schema, "request")
        if accept is not None and accept(body):
            return []
        validator = self._body_validators.get(declared)
        if validator is None:
            validator = self._body_validators[declared] = self.index.validator(schema, "request")
        found = violations(validator, body, "body")
        if found and self.lenient:
            out.body, notes = lenient_body(validator, body)
            if notes:
                out.coercions += notes
                found = violations(validator, out.body, "body")
        return found

    def _lenient_param(self, spec: ParamSpec, value: Any, out: ValidatedRequest) -> Any:
        """Take `1`/`0`/`True`/`yes` ... as a boolean where the parameter is one (`--lenient`)."""
        if isinstance(value, str) and self.index.types(spec.schema) & {"boolean"}:
            taken = _LENIENT_BOOLEANS.get(value.lower())
            if taken is not None:
                out.coercions.append(f"{spec.location} parameter {spec.name}: {value!r} taken as {str(taken).lower()}")
                return taken
        return value

    def _parse_body(self, raw: bytes, concrete: str, content_type: str | None, schema: Any) -> Any:
        if is_json(concrete) or concrete == "":
            try:
                return fastjson.loads(raw)
            except ValueError as exc:
                raise ValueError(f"not valid JSON ({exc})") from None
        if concrete == "application/x-www-form-urlencoded":
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("form body is not UTF-8") from None
            return self._form_object(parse_query(text), schema)
        if concrete.startswith("multipart/"):
            if not raw:
                return self._form_object({}, schema)
            return self._form_object(_parse_multipart(raw, content_type), schema)
        if concrete.startswith("text/"):
            return raw.decode("utf-8", "replace")
        return _UNPARSED

    def _form_object(self, fields: Mapping[str, list[str]], schema: Any) -> dict[str, Any]:
        """Shape form fields as an object: arrays keep every value, other properties the first."""
        obj: dict[str, Any] = {}
        # An empty array has no form encoding at all, so a required array that is absent was
        # sent empty (schema validation still catches a minItems it breaks).
        resolved = self.index.deref(schema)
        required = (resolved.get("required") or []) if isinstance(resolved, Mapping) else []
        for name in required:
            if name not in fields and "array" in self.index.types(self.index.subschema(schema, "properties", name)):
                obj[name] = []
        for name, values in fields.items():
            prop = self.index.subschema(schema, "properties", name)
            types = self.index.types(prop)
            if values == ["null"] and "null" in types and "string" not in types:
                obj[name] = None  # how clients send a nullable array or object as null
            elif "array" in types:
                obj[name] = coerce(self.index, prop, list(values))
            elif "object" in types and values and values[0].startswith("{"):
                try:
                    obj[name] = json.loads(values[0])
                except ValueError:
                    obj[name] = values[0]
            else:
                obj[name] = coerce(self.index, prop, values[0])
        return obj


_UNPARSED = object()
_LENIENT_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
                     "on": True, "off": False}
#: How many rounds of coercion a lenient body gets (a wrapped array's items need a second one).
_LENIENT_ROUNDS = 4


def lenient_body(validator: Any, body: Any) -> tuple[Any, list[str]]:
    """Return `body` with what common server frameworks coerce taken as the schema's type
    (`"3"` as an integer, `"true"`/`"1"` as a boolean, one value as a one-item array), and a
    note for each coercion; what no framework would coerce stays for validation to refuse."""
    notes: list[str] = []
    for _ in range(_LENIENT_ROUNDS):
        changed = False
        for error in list(validator.iter_errors(body)):
            if error.validator != "type":
                continue
            wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
            taken = _coerced(error.instance, wanted)
            if taken is _UNPARSED:
                continue
            path = list(error.absolute_path)
            body = _replaced(body, path, taken)
            where = "".join("/" + escape_token(str(p)) for p in path) or "/"
            notes.append(f"body {where}: {json.dumps(error.instance)} taken as {json.dumps(taken)}")
            changed = True
        if not changed:
            break
    return body, sorted(notes)


def _coerced(value: Any, wanted: list[str]) -> Any:
    """Return `value` as the first wanted type a framework would coerce it to, else _UNPARSED."""
    if isinstance(value, str):
        text = value.strip()
        if "integer" in wanted and re.fullmatch(r"-?\d+", text):
            return int(text)
        if "number" in wanted:
            try:
                number = float(text)
            except ValueError:
                pass
            else:
                if math.isfinite(number):
                    return int(number) if re.fullmatch(r"-?\d+", text) else number
        if "boolean" in wanted and text.lower() in _LENIENT_BOOLEANS:
            return _LENIENT_BOOLEANS[text.lower()]
    if "array" in wanted and not isinstance(value, list):
        return [value]
    return _UNPARSED


def _replaced(node: Any, path: list[Any], value: Any) -> Any:
    """Return `node` with the value at `path` replaced (copies along the path)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replaced(node[head], rest, value)}
    if isinstance(node, list):
        return [_replaced(v, rest, value) if i == head else v for i, v in enumerate(node)]
    return node


def _parse_multipart(raw: bytes, content_type: str | None) -> dict[str, list[str]]:
    """Parse a multipart/form-data body into field name -> values (files as text)."""
    if not media_param(content_type, "boundary"):
        raise ValueError("multipart body without a boundary parameter")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        raise ValueError("multipart body could not be parsed")
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        fields.setdefault(str(name), []).append(text)
    return fields


#: The longest schema-violation message kept in a problem (jsonschema's can be huge).
_MAX_MESSAGE = 300


def violations(validator: Any, instance: Any, location: str, prefix: str = "") -> list[Violation]:
    """Return every schema violation of `instance` as a Violation with a JSON pointer."""
    found = []
    for error in validator.iter_errors(instance):
        pointer = prefix + "".join("/" + escape_token(str(p)) for p in error.absolute_path)
        message = error.message
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        found.append(Violation(location, pointer, message, _rule(error)))
    return found


def _rule(error: Any) -> str:
    """Return the schema keyword that failed, its value and where it sits (`minimum: 1 at #/properties/amount`)."""
    value = json.dumps(error.validator_value, ensure_ascii=False, default=str)
    if len(value) > 80:
        value = value[:77] + "..."
    where = "#" + "".join("/" + escape_token(str(p)) for p in list(error.schema_path)[:-1])
    return f"{error.validator}: {value} at {where}"
