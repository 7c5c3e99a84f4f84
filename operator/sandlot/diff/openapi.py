"""Compare two loaded OpenAPI 3.0/3.1 documents operation by operation.

Called by sandlot.diff.run. Operations are paired by method and path template with parameter
names ignored (`/pets/{id}` is `/pets/{petId}`), or, when one moved, by operationId. For each
pair: deprecation and sunset, parameters (path parameters paired by position), the request
body, the responses and the security requirements; schemas go to sandlot.diff.schemas. Every
change carries the JSON pointers of both sides (the parent that still exists when one side has
nothing); file and line are added afterwards by the caller.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from sandlot.diff.changes import Change, make
from sandlot.diff.schemas import REQUEST, RESPONSE, SchemaChange, SchemaDiff, Schemas
from sandlot.openapi.loader import iter_operations
from sandlot.util.pointers import escape_token

Alternative = dict[str, tuple[str, frozenset[str]]]  # a security requirement: scheme identity -> (name, scopes)
_TEMPLATE_PARAM = re.compile(r"\{([^}]*)\}")
# Header parameters OpenAPI says to ignore: the HTTP layer owns them.
_IGNORED_HEADERS = {"accept", "content-type", "authorization"}


def _mapping(node: dict[str, Any], key: str) -> dict[Any, Any]:
    """Return node[key] when it is a mapping, else an empty one (a malformed spec compares as empty)."""
    value = node.get(key)
    return value if isinstance(value, dict) else {}


@dataclass
class _Operation:
    method: str
    template: str
    node: dict[str, Any]
    item: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return self.method, _TEMPLATE_PARAM.sub("{}", self.template)

    @property
    def pointer(self) -> str:
        return f"/paths/{escape_token(self.template)}/{self.method.lower()}"

    @property
    def operation_id(self) -> str:
        value = self.node.get("operationId")
        return value if isinstance(value, str) else ""


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], _Operation]:
    found: dict[tuple[str, str], _Operation] = {}
    for method, template, node, item in iter_operations(document):
        operation = _Operation(method, str(template), node, item)
        found.setdefault(operation.key, operation)
    return found


def _sunset(node: dict[str, Any]) -> dt.date | None:
    """Return an operation's `x-sunset` date (ISO 8601 date or date-time), or None."""
    value = node.get("x-sunset")
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value is not None else None
    except ValueError:
        return None


def _media_key(name: str) -> str:
    return name.replace(" ", "").lower()


class OpenAPIDiff:
    """One comparison of two documents; `run` returns the changes in document order."""

    def __init__(self, old: dict[str, Any], new: dict[str, Any], today: dt.date) -> None:
        self.old_doc, self.new_doc = old, new
        self.old, self.new = Schemas(old), Schemas(new)
        self.schemas = SchemaDiff(self.old, self.new)
        self.today = today
        self.changes: list[Change] = []
        self._at: _Operation | None = None  # the (new, else old) operation changes are reported under

    def emit(self, rule: str, args: dict[str, Any] | None = None, *, old: str | None, new: str | None) -> None:
        """Record one change of the current operation."""
        at = self._at
        self.changes.append(make(rule, args, method=at.method if at else "", path=at.template if at else "",
                                 operation_id=at.operation_id if at else "", old=old, new=new))

    def run(self) -> list[Change]:
        """Compare every operation; return the changes."""
        old_ops, new_ops = _operations(self.old_doc), _operations(self.new_doc)
        by_id = {op.operation_id: op for op in new_ops.values() if op.operation_id}
        new_templates = {key[1]: op.template for key, op in new_ops.items()}
        moved: set[tuple[str, str]] = set()
        for key, old in old_ops.items():
            new = new_ops.get(key)
            if new is not None:
                self._at = new
                self._operation(old, new)
                continue
            self._at = old
            target = by_id.get(old.operation_id) if old.operation_id else None
            if target is not None and target.key not in old_ops:
                moved.add(target.key)
                same_path = target.key[1] == key[1]
                self.emit("api-method-changed" if same_path else "api-path-changed",
                          {"operation_id": old.operation_id, "old": f"{old.method} {old.template}",
                           "new": f"{target.method} {target.template}"}, old=old.pointer, new=target.pointer)
                self._operation(old, target)
            else:
                self._removed(old, new_templates.get(key[1]))
        for key, new in new_ops.items():
            if key not in old_ops and key not in moved:
                self._at = new
                self.emit("endpoint-added", old=None, new=new.pointer)
        return self.changes

    def _removed(self, old: _Operation, new_template: str | None) -> None:
        """Report a removed operation: with or without deprecation, or before its sunset."""
        new_pointer = "/paths" if new_template is None else f"/paths/{escape_token(new_template)}"
        sunset = _sunset(old.node)
        if old.node.get("deprecated") is True and sunset is not None and sunset > self.today:
            self.emit("api-removed-before-sunset", {"sunset": sunset.isoformat()}, old=old.pointer, new=new_pointer)
            return
        deprecated = "with" if old.node.get("deprecated") is True else "without"
        kind = "api" if new_template is not None else "api-path"
        self.emit(f"{kind}-removed-{deprecated}-deprecation", {"path": old.template}, old=old.pointer, new=new_pointer)

    def _operation(self, old: _Operation, new: _Operation) -> None:
        """Compare two versions of one operation."""
        op, np = old.pointer, new.pointer
        if old.operation_id and new.operation_id and old.operation_id != new.operation_id:
            self.emit("api-operation-id-changed", {"old": old.operation_id, "new": new.operation_id},
                      old=f"{op}/operationId", new=f"{np}/operationId")
        was, now = old.node.get("deprecated") is True, new.node.get("deprecated") is True
        sunset_old, sunset_new = _sunset(old.node), _sunset(new.node)
        if now and not was:
            self.emit("endpoint-deprecated", {"sunset": f" (sunset {sunset_new.isoformat()})" if sunset_new else ""},
                      old=op, new=f"{np}/deprecated")
        elif was and not now:
            self.emit("endpoint-reactivated", old=f"{op}/deprecated", new=np)
        if sunset_old and sunset_new and sunset_new < sunset_old:
            self.emit("api-sunset-date-changed-earlier", {"old": sunset_old.isoformat(), "new": sunset_new.isoformat()},
                      old=f"{op}/x-sunset", new=f"{np}/x-sunset")
        self._parameters(old, new)
        self._request_body(old, new)
        self._responses(old, new)
        self._security(old, new)

    # Parameters ---------------------------------------------------------------------------------

    def _parameters(self, old: _Operation, new: _Operation) -> None:
        before, after = self._params(self.old, old), self._params(self.new, new)
        moved_to: set[tuple[str, str]] = set()
        for key, (param, pointer) in before.items():
            if key in after:
                self._parameter(key, param, pointer, *after[key])
                continue
            elsewhere = [k for k in after if k not in before and k[0] != "path" and key[0] != "path"
                         and str(after[k][0].get("name")) == str(param.get("name"))]
            if elsewhere:
                moved_to.add(elsewhere[0])
                self.emit("request-parameter-location-changed",
                          {"name": f"'{param.get('name')}'", "old": _where(key[0]), "new": _where(elsewhere[0][0])},
                          old=pointer, new=after[elsewhere[0]][1])
            else:
                self.emit("request-parameter-removed", {"target": _param_text(param)}, old=pointer, new=new.pointer)
        for key, (param, pointer) in after.items():
            if key not in before and key not in moved_to:
                required = param.get("required") is True
                self.emit("new-required-request-parameter" if required else "new-optional-request-parameter",
                          {"target": _param_text(param)}, old=old.pointer, new=pointer)

    def _params(self, schemas: Schemas, operation: _Operation) -> dict[tuple[str, str], tuple[dict[str, Any], str]]:
        """Return the operation's parameters (path-level ones overridden by its own) by (in, name)."""
        path_pointer = operation.pointer.rsplit("/", 1)[0]
        merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        for source, base in ((operation.item.get("parameters"), f"{path_pointer}/parameters"),
                             (operation.node.get("parameters"), f"{operation.pointer}/parameters")):
            for i, raw in enumerate(source if isinstance(source, list) else ()):
                param, pointer = schemas.deref(raw, f"{base}/{i}")
                if not isinstance(param, dict) or not isinstance(param.get("name"), str):
                    continue
                where, name = str(param.get("in")), param["name"]
                if where == "header" and name.lower() in _IGNORED_HEADERS:
                    continue
                merged[(where, name.lower() if where == "header" else name)] = (param, pointer)
        names = _TEMPLATE_PARAM.findall(operation.template)
        # Path parameters are paired by position: renaming {id} to {petId} changes nothing on the wire.
        return {(("path", f"#{names.index(k[1])}") if k[0] == "path" and k[1] in names else k): v
                for k, v in merged.items()}

    def _parameter(self, key: tuple[str, str], old: dict[str, Any], op: str, new: dict[str, Any], np: str) -> None:
        target = _param_text(new)
        if key[0] != "path":
            if new.get("required") is True and old.get("required") is not True:
                self.emit("request-parameter-became-required", {"target": target}, old=op, new=np)
            elif old.get("required") is True and new.get("required") is not True:
                self.emit("request-parameter-became-optional", {"target": target}, old=op, new=np)
        if new.get("deprecated") is True and old.get("deprecated") is not True:
            self.emit("request-parameter-deprecated", {"target": target}, old=op, new=np)
        old_schema, new_schema = _param_schema(old, op), _param_schema(new, np)
        if old_schema and new_schema:
            self._schema("request-parameter", None, old_schema, new_schema, REQUEST, target)

    # Request bodies -----------------------------------------------------------------------------

    def _request_body(self, old: _Operation, new: _Operation) -> None:
        old_body, op = self.old.deref(old.node.get("requestBody"), f"{old.pointer}/requestBody")
        new_body, np = self.new.deref(new.node.get("requestBody"), f"{new.pointer}/requestBody")
        old_body = old_body if isinstance(old_body, dict) else None
        new_body = new_body if isinstance(new_body, dict) else None
        if old_body is None and new_body is None:
            return
        if old_body is None:
            required = new_body.get("required") is True  # type: ignore[union-attr]
            self.emit("request-body-added-required" if required else "request-body-added-optional",
                      old=old.pointer, new=np)
            return
        if new_body is None:
            self.emit("request-body-removed", old=op, new=new.pointer)
            return
        if new_body.get("required") is True and old_body.get("required") is not True:
            self.emit("request-body-became-required", old=op, new=f"{np}/required")
        self._content(old_body, op, new_body, np, REQUEST, "")

    def _content(self, old: dict[str, Any], op: str, new: dict[str, Any], np: str, side: str, status: str) -> None:
        """Compare the media types of a request body or a response, and the schema of each."""
        old_content, new_content = _mapping(old, "content"), _mapping(new, "content")
        new_keys = {_media_key(k): k for k in new_content}
        old_keys = {_media_key(k) for k in old_content}
        several = len(new_content) > 1
        for name, media in old_content.items():
            mp = f"{op}/content/{escape_token(name)}"
            match = new_keys.get(_media_key(name))
            if match is None:
                rule = "request-body-media-type-removed" if side == REQUEST else "response-media-type-removed"
                self.emit(rule, {"media_type": name, "status": status}, old=mp, new=f"{np}/content")
                continue
            npm = f"{np}/content/{escape_token(match)}"
            new_media = new_content[match]
            if isinstance(media, dict) and isinstance(new_media, dict) and "schema" in media and "schema" in new_media:
                scope = "request" if side == REQUEST else "response"
                label = f" ({match})" if several else ""
                self._schema(f"{scope}-body", status, (media["schema"], f"{mp}/schema"),
                             (new_media["schema"], f"{npm}/schema"), side, label)
        for key, name in new_keys.items():
            if key not in old_keys:
                rule = "request-body-media-type-added" if side == REQUEST else "response-media-type-added"
                self.emit(rule, {"media_type": name, "status": status}, old=f"{op}/content",
                          new=f"{np}/content/{escape_token(name)}")

    # Responses ----------------------------------------------------------------------------------

    def _responses(self, old: _Operation, new: _Operation) -> None:
        old_all, new_all = _mapping(old.node, "responses"), _mapping(new.node, "responses")
        old_by, new_by = {str(k).upper(): k for k in old_all}, {str(k).upper(): k for k in new_all}
        op, np = f"{old.pointer}/responses", f"{new.pointer}/responses"
        for status, raw_key in old_by.items():
            success = status.startswith("2")
            if status not in new_by:
                self.emit("response-success-status-removed" if success else "response-non-success-status-removed",
                          {"status": status}, old=f"{op}/{escape_token(str(raw_key))}", new=np)
                continue
            old_response, orp = self.old.deref(old_all[raw_key], f"{op}/{escape_token(str(raw_key))}")
            new_key = new_by[status]
            new_response, nrp = self.new.deref(new_all[new_key], f"{np}/{escape_token(str(new_key))}")
            if isinstance(old_response, dict) and isinstance(new_response, dict):
                self._headers(old_response, orp, new_response, nrp, status)
                self._content(old_response, orp, new_response, nrp, RESPONSE, status)
        for status, raw_key in new_by.items():
            if status not in old_by:
                self.emit("response-success-status-added" if status.startswith("2") else
                          "response-non-success-status-added", {"status": status}, old=op,
                          new=f"{np}/{escape_token(str(raw_key))}")

    def _headers(self, old: dict[str, Any], op: str, new: dict[str, Any], np: str, status: str) -> None:
        old_headers, new_headers = _mapping(old, "headers"), _mapping(new, "headers")
        new_by = {str(k).lower(): k for k in new_headers}
        for name, raw in old_headers.items():
            if str(name).lower() == "content-type":
                continue
            header, hp = self.old.deref(raw, f"{op}/headers/{escape_token(str(name))}")
            required = isinstance(header, dict) and header.get("required") is True
            match = new_by.get(str(name).lower())
            if match is None:
                self.emit("required-response-header-removed" if required else "optional-response-header-removed",
                          {"name": name, "status": status}, old=hp, new=np)
                continue
            new_header, nhp = self.new.deref(new_headers[match], f"{np}/headers/{escape_token(str(match))}")
            if required and not (isinstance(new_header, dict) and new_header.get("required") is True):
                self.emit("response-header-became-optional", {"name": name, "status": status}, old=hp, new=nhp)

    # Security -----------------------------------------------------------------------------------

    def _security(self, old: _Operation, new: _Operation) -> None:
        """Compare security requirements: each old way to authenticate must still be accepted."""
        before, bp = self._requirements(self.old, self.old_doc, old)
        after, ap = self._requirements(self.new, self.new_doc, new)
        for alternative in before:
            if any(_satisfies(candidate, alternative) for candidate in after):
                continue
            same = [c for c in after if c.keys() == alternative.keys()]
            if not alternative:
                self.emit("api-security-became-required", {"new": _describe_all(after)}, old=bp, new=ap)
            elif same:  # the same schemes, more scopes: name the fewest extra scopes
                closest = min(same, key=lambda c: sum(len(c[s][1] - alternative[s][1]) for s in c))
                self._scopes("api-security-scope-added", closest, alternative, bp, ap)
            else:
                self.emit("api-security-removed", {"old": _describe(alternative)}, old=bp, new=ap)
        # Credentials that were optional and are now required: the requirement is the news, not each way.
        for alternative in after if before != [{}] else ():
            same = [c for c in before if c.keys() == alternative.keys()]
            if not same:
                self.emit("api-security-added", {"new": _describe(alternative)}, old=bp, new=ap)
                continue
            wider = [c for c in same if all(scopes <= c[s][1] for s, (_, scopes) in alternative.items())]
            if wider and not any(_scopes_of(c) == _scopes_of(alternative) for c in same):
                closest = min(wider, key=lambda c: sum(len(c[s][1] - alternative[s][1]) for s in c))
                self._scopes("api-security-scope-removed", closest, alternative, bp, ap)

    def _scopes(self, rule: str, more: Alternative, fewer: Alternative, bp: str, ap: str) -> None:
        """Report, per scheme, the scopes `more` has beyond `fewer`."""
        for scheme, (name, scopes) in more.items():
            extra = scopes - fewer[scheme][1]
            if extra:
                self.emit(rule, {"name": name, "value": ", ".join(sorted(extra))}, old=bp, new=ap)

    @staticmethod
    def _requirements(schemas: Schemas, document: dict[str, Any], operation: _Operation
                      ) -> tuple[list[Alternative], str]:
        """Return the operation's security alternatives, each {scheme identity: (name, scopes)}, and pointer.

        A scheme is identified by its definition, not its component name, so renaming a security
        scheme changes nothing; no requirement at all is one alternative that needs nothing.
        """
        if "security" in operation.node:
            raw, pointer = operation.node.get("security"), f"{operation.pointer}/security"
        else:
            raw, pointer = document.get("security"), "/security" if "security" in document else operation.pointer
        defined = (document.get("components") or {}).get("securitySchemes") or {}
        alternatives = []
        for requirement in raw if isinstance(raw, list) else ():
            if not isinstance(requirement, dict):
                continue
            alternative = {}
            for name, scopes in requirement.items():
                definition = schemas.deref(defined.get(name), f"/components/securitySchemes/{escape_token(name)}")[0] \
                    if isinstance(defined, dict) else None
                identity = _scheme_identity(definition) if isinstance(definition, dict) else f"name:{name}"
                alternative[identity] = (str(name), frozenset(map(str, scopes or ())))
            alternatives.append(alternative)
        return alternatives or [{}], pointer

    # Schemas ------------------------------------------------------------------------------------

    def _schema(self, scope: str, status: str | None, old: tuple[Any, str], new: tuple[Any, str], side: str,
                label: str) -> None:
        """Compare two schemas and report each difference with a rule of the place they sit."""
        found = self.schemas.compare(self.old.view((old,)), self.new.view((new,)), side)
        for change in found:
            self.emit(_rule_id(scope, change), {**change.args, "target": _target(scope, change, status, label)},
                      old=change.old, new=change.new)


def _rule_id(scope: str, change: SchemaChange) -> str:
    if not change.scoped:
        return change.rule
    if scope.endswith("-body") and change.path:
        scope = scope.replace("-body", "-property")
    return f"{scope}-{change.rule}"


def _target(scope: str, change: SchemaChange, status: str | None, label: str) -> str:
    """Return how a message names where a schema change sits ("response property 'id' of 200")."""
    path = "/".join(change.path)
    if scope == "request-parameter":
        return f"{label} property '{path}'" if path else label
    side = "request" if scope.startswith("request") else "response"
    where = f"{side} property '{path}'" if path else f"{side} body"
    return f"{where}{label}" + (f" of {status}" if status else "")


def _param_text(param: dict[str, Any]) -> str:
    return f"{param.get('in')} parameter '{param.get('name')}'"


def _where(location: str) -> str:
    return {"query": "query string", "header": "headers", "path": "path", "cookie": "cookies"}.get(location, location)


def _param_schema(param: dict[str, Any], pointer: str) -> tuple[Any, str] | None:
    """Return a parameter's schema (from `schema` or its one `content` entry) and its pointer."""
    if isinstance(param.get("schema"), dict):
        return param["schema"], f"{pointer}/schema"
    for media, entry in (param.get("content") or {}).items() if isinstance(param.get("content"), dict) else ():
        if isinstance(entry, dict) and isinstance(entry.get("schema"), dict):
            return entry["schema"], f"{pointer}/content/{escape_token(str(media))}/schema"
    return None


def _scheme_identity(definition: dict[str, Any]) -> str:
    """Return what identifies a security scheme on the wire (its definition without prose)."""
    kept = {k: v for k, v in definition.items() if k not in ("description",) and not str(k).startswith("x-")}
    if isinstance(kept.get("flows"), dict):  # scopes are compared per requirement; their prose is not the scheme
        kept["flows"] = {k: {fk: fv for fk, fv in flow.items() if fk != "scopes"} if isinstance(flow, dict) else flow
                         for k, flow in kept["flows"].items()}
    return json.dumps(kept, sort_keys=True, default=str)


def _satisfies(candidate: Alternative, alternative: Alternative) -> bool:
    """Return True when credentials meeting `alternative` also meet `candidate`."""
    return all(s in alternative and scopes <= alternative[s][1] for s, (_, scopes) in candidate.items())


def _scopes_of(alternative: Alternative) -> dict[str, frozenset[str]]:
    return {scheme: scopes for scheme, (_, scopes) in alternative.items()}


def _describe(alternative: Alternative) -> str:
    if not alternative:
        return "no authentication"
    return " and ".join(name + (f" [{', '.join(sorted(scopes))}]" if scopes else "")
                        for name, scopes in sorted(alternative.values()))


def _describe_all(alternatives: list[Alternative]) -> str:
    return " or ".join(_describe(a) for a in alternatives)


def diff_openapi(old: dict[str, Any], new: dict[str, Any], today: dt.date | None = None) -> list[Change]:
    """Return every change between two loaded OpenAPI documents, in document order."""
    return OpenAPIDiff(old, new, today or dt.date.today()).run()
