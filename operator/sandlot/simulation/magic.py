"""Magic values: rules that match request fields and answer with a declared response.

Declared by the API owner in the spec's `x-sandlot-magic` (a list) or the sidecar config's
`magic:`; read once by the simulation stage, matched against every valid API request (after
routing and validation, so a magic value never hides a malformed request), and printed as a
Markdown table by `sandlot magic SPEC` for the API's docs. Pure: no I/O besides `load_spec`
in `magic_table_for`.

A rule:

    - operation: createCharge                   # operationId or "POST /charges"; optional
      when: {body.card.number: "4000000000000002"}   # every field must equal its value
      status: 402
      body: {error: {type: card_error, code: card_declined, message: Your card was declined.}}
      headers: {}                               # optional
      description: A declined card               # the table's last column

Fields are `body.<dotted path>` (list items by index: `body.items.0.sku`), `query.<name>`,
`header.<name>` and `path.<name>`. Values compare as JSON values, and as text when the request
carries text (a query or header value of `402` matches the rule value 402).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandlot.mock.engine import Engine, Match
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.simulation.scenarios import declared_response, operation_names
from sandlot.util import fastjson

_LOCATIONS = ("body", "query", "header", "path")
_MISSING = object()


class MagicError(ValueError):
    """A magic rule that cannot be used; the message names the rule and the fix."""


@dataclass(frozen=True)
class MagicRule:
    """One magic value: conditions on request fields and the answer they trigger."""

    when: tuple[tuple[str, Any], ...]
    status: int
    body: Any = None
    example: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    operation: str | None = None
    description: str = ""


def rules_from(declarations: Any, where: str) -> list[MagicRule]:
    """Read a list of magic rules (spec `x-sandlot-magic` or config `magic:`)."""
    if declarations is None:
        return []
    if not isinstance(declarations, Sequence) or isinstance(declarations, (str, bytes)):
        raise MagicError(f"{where}: must be a list of rules ({{when: {{body.field: value}}, status: 402}})")
    rules = []
    for i, item in enumerate(declarations):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise MagicError(f"{here}: a rule is a mapping with when, status and body")
        when = item.get("when")
        if not isinstance(when, Mapping) or not when:
            raise MagicError(f"{here}.when: name at least one field, e.g. {{body.card.number: '4000000000000002'}}")
        for field_path in when:
            if str(field_path).split(".", 1)[0] not in _LOCATIONS or "." not in str(field_path):
                raise MagicError(f"{here}.when: {field_path!r} must start with one of "
                                 f"{', '.join(loc + '.' for loc in _LOCATIONS)}")
        status = item.get("status")
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise MagicError(f"{here}.status: give an HTTP status between 100 and 599")
        headers = item.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise MagicError(f"{here}.headers: must map header names to values")
        rules.append(MagicRule(
            tuple((str(k), v) for k, v in when.items()), status, item.get("body"), item.get("example"),
            tuple((str(k).lower(), str(v)) for k, v in headers.items()),
            str(item["operation"]) if item.get("operation") else None,
            str(item.get("description") or "")))
    return rules


def field_value(req: MockRequest, match: Match, field_path: str, parsed_body: Any = _MISSING) -> Any:
    """Return the request's value at `body.a.b` / `query.x` / `header.x` / `path.x`, or _MISSING."""
    location, _, rest = field_path.partition(".")
    if location == "query":
        values = urllib.parse.parse_qs(req.query).get(rest)
        return values[0] if values else _MISSING
    if location == "header":
        return req.headers.get(rest.lower(), _MISSING)
    if location == "path":
        return match.path_params.get(rest, _MISSING)
    value = parsed_body if parsed_body is not _MISSING else parse_body(req)
    for part in rest.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def parse_body(req: MockRequest) -> Any:
    """Return the request body as JSON, or as a form mapping, or _MISSING."""
    if not req.body:
        return _MISSING
    if "form-urlencoded" in req.headers.get("content-type", ""):
        return {k: v[0] for k, v in urllib.parse.parse_qs(req.body.decode("utf-8", "replace")).items()}
    try:
        return fastjson.loads(req.body)  # as request validation reads it (mock/validate.py)
    except ValueError:
        return _MISSING


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)  # true, 402, 1.5, null: the forms a query or header carries


def _equal(actual: Any, wanted: Any) -> bool:
    """Compare as JSON values; text from a query, header or form compares as text."""
    if actual is _MISSING:
        return False
    if isinstance(actual, str) or isinstance(wanted, str):
        return _as_text(actual) == _as_text(wanted) if isinstance(actual, str) else False
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted
    return bool(actual == wanted)


def find_rule(rules: Sequence[MagicRule], req: MockRequest, match: Match) -> MagicRule | None:
    """Return the first rule whose operation and fields all match the request, or None."""
    names = operation_names(match)
    body = _MISSING
    for rule in rules:
        if rule.operation and rule.operation not in names:
            continue
        if body is _MISSING and any(f.startswith("body.") for f, _ in rule.when):
            body = parse_body(req)
        if all(_equal(field_value(req, match, f, body), v) for f, v in rule.when):
            return rule
    return None


def magic_response(rule: MagicRule, engine: Engine, req: MockRequest, match: Match) -> MockResponse:
    """Render a rule's answer: through the spec when it documents the status, else as JSON."""
    extra = [*rule.headers, ("sandlot-magic", ", ".join(f"{f}={json.dumps(v)}" for f, v in rule.when))]
    return declared_response(rule.status, rule.body, rule.example, extra, engine, req, match)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rules: Sequence[MagicRule]) -> str:
    """Return the rules as a Markdown table: operation, when, status, answer, description."""
    lines = ["| operation | when | status | answer | meaning |", "|---|---|---:|---|---|"]
    for rule in rules:
        when = ", ".join(f"`{f}` = `{v}`" for f, v in rule.when)
        if rule.example is not None:
            answer = f"example `{rule.example}`"
        elif isinstance(rule.body, Mapping):
            answer = "`" + json.dumps(rule.body, separators=(",", ":"))[:120] + "`"
        else:
            answer = "documented body"
        lines.append(f"| {_cell(rule.operation or 'any')} | {_cell(when)} | {rule.status} | "
                     f"{_cell(answer)} | {_cell(rule.description)} |")
    return "\n".join(lines) + "\n"


def magic_table_for(spec: str, config_rules: Any = None) -> str:
    """Load a spec (path, URL, or a ConfigMap manifest holding it) and return its magic-value
    table (`sandlot magic SPEC`)."""
    import tempfile
    from pathlib import Path

    import yaml

    from sandlot.openapi.loader import load_spec

    path = Path(spec)
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(manifest, Mapping) and manifest.get("kind") == "ConfigMap":
            # The example's spec ships as a ConfigMap: read the document inside it.
            text = next(iter((manifest.get("data") or {}).values()), "")
            with tempfile.TemporaryDirectory() as folder:
                inner = Path(folder) / "openapi.yaml"
                inner.write_text(text, encoding="utf-8")
                return magic_table_for(str(inner), config_rules)
    document = load_spec(spec).document
    rules = rules_from(document.get("x-sandlot-magic"), "x-sandlot-magic") + \
        rules_from(config_rules, "config magic")
    return markdown_table(rules)
