"""Reads the few facts the harness needs from an OpenAPI document.

Used by the runner and conformance modules: the servers' base path (Sandlot routes under it, Prism
does not), a documented GET path to probe for the first answer, and the credentials schemathesis
should send so that a mock enforcing the spec's security lets its requests through.
Pure functions over the parsed document, plus `load_document` at the edge.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import yaml

_TEMPLATE = re.compile(r"\{([^}/]+)\}")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load_document(path: Path) -> dict:
    """Parse a JSON or YAML OpenAPI document (external `$ref`s are left unresolved)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, chosen for speed


def base_path(document: dict) -> str:
    """Return the path part of the first server URL, variables set to their defaults, no trailing /."""
    servers = document.get("servers") or [{"url": "/"}]
    server = servers[0]
    variables = server.get("variables") or {}
    url = _TEMPLATE.sub(lambda m: str((variables.get(m.group(1)) or {}).get("default", "x")), server["url"])
    return urlparse(url).path.rstrip("/")


def fill_template(path: str) -> str:
    """Replace every `{param}` of a path template with `1` (a value most schemas accept)."""
    return _TEMPLATE.sub("1", path)


def probe_path(document: dict) -> str:
    """Return a documented GET path to probe, preferring one without path parameters."""
    paths = document.get("paths") or {}
    with_get = [p for p, item in paths.items() if isinstance(item, dict) and "get" in item]
    plain = [p for p in with_get if "{" not in p]
    chosen = (plain or with_get or list(paths) or ["/"])[0]
    return fill_template(chosen)


def auth_arguments(document: dict) -> list[str]:
    """Return schemathesis arguments that satisfy the spec's security schemes with test values.

    Schemes named by the top-level `security` come first; one Authorization header at most, plus
    every API key carried in a header.
    """
    schemes = ((document.get("components") or {}).get("securitySchemes")) or {}
    required = [name for req in document.get("security") or [] for name in req]
    ordered = [*dict.fromkeys([*required, *schemes])]
    args: list[str] = []
    authorization_set = False
    for name in ordered:
        scheme = schemes.get(name)
        if not isinstance(scheme, dict):
            continue
        kind, http_scheme = scheme.get("type"), str(scheme.get("scheme", "")).lower()
        if kind == "http" and not authorization_set and http_scheme in ("basic", "bearer"):
            args += ["--auth", "bench:bench"] if http_scheme == "basic" else [
                "-H", "Authorization: Bearer bench-token"]
            authorization_set = True
        elif kind == "apiKey" and scheme.get("in") == "header":
            args += ["-H", f"{scheme['name']}: bench-key"]
    return args


def with_response_example(document: dict, path: str, method: str, example: object) -> dict:
    """Return a copy of the document whose operation's 200 JSON response documents an example."""
    copy = json.loads(json.dumps(document))
    media = copy["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    media["example"] = example
    return copy


def has_external_refs(node: object) -> bool:
    """Tell whether any `$ref` in the document points into another file."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return True
        return any(has_external_refs(v) for v in node.values())
    if isinstance(node, list):
        return any(has_external_refs(v) for v in node)
    return False


def operation_count(document: dict) -> int:
    """Count the operations declared inline under `paths`."""
    return sum(
        1 for item in (document.get("paths") or {}).values() if isinstance(item, dict)
        for method in item if method in _METHODS
    )
