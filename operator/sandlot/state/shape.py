"""Shape stored objects into what the spec's responses promise. Pure functions.

Called by the state stage (state/stage.py): build a new object from the generated response template,
the request body and the server-set fields; project an object onto the response schema;
wrap a page of objects into the list response's envelope; format timestamps.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sandlot.state.inference import Collection, Pagination, Timestamp


def format_timestamp(stamp: Timestamp, now: float) -> Any:
    """Return `now` in the timestamp's style: unix seconds, unix ms, ISO date-time (whole
    seconds, or `2026-12-01T03:35:23.120Z`), date or
    RFC 2822 (`Mon, 01 Dec 2026 03:35:23 +0000`)."""
    if stamp.style == "unix":
        return int(now)
    if stamp.style == "unix_ms":
        return int(now * 1000)
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    if stamp.style == "date":
        return moment.date().isoformat()
    if stamp.style == "rfc2822":
        return email.utils.format_datetime(moment.replace(microsecond=0)).replace("-0000", "+0000")
    spec = "milliseconds" if stamp.style == "iso_ms" else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def stamp(obj: dict[str, Any], stamps: Iterable[Timestamp], events: set[str], now: float) -> None:
    """Set the timestamp properties whose event (created, updated) is in `events`."""
    for ts in stamps:
        if ts.event in events:
            obj[ts.name] = format_timestamp(ts, now)


def project(obj: Mapping[str, Any], collection: Collection) -> dict[str, Any]:
    """Return the object as a response may carry it: no writeOnly fields, and no unknown
    fields when the item schema forbids additional properties. What the sandbox keeps for
    itself (`__sandlot...`: a parent's id, per-user toggles, a password's hash) stays; the
    state stage leaves it out of every answer."""
    props = collection.properties
    closed = collection.item_schema.get("additionalProperties") is False
    out = {}
    for name, value in obj.items():
        schema = props.get(name)
        if schema is None and closed and not name.startswith("__sandlot"):
            continue
        if isinstance(schema, dict) and schema.get("writeOnly"):
            continue
        out[name] = value
    return out


def conform(obj: Mapping[str, Any], valid: Callable[[str, Any], bool], sample: Any,
            required: Iterable[str] = ()) -> dict[str, Any]:
    """Return the object as the response schema allows it: a field whose value does not
    validate against its property (`"region": "nyc3"` where the schema wants an object) takes
    the generated sample's value, or is left out when optional and the sample has none.

    The stored object keeps what the client sent; only what is rendered changes, so a
    response always validates."""
    sample = sample if isinstance(sample, Mapping) else {}
    out = {}
    for name, value in obj.items():
        if valid(name, value):
            out[name] = value
        elif name in sample and valid(name, sample[name]):
            out[name] = sample[name]
        elif name in set(required):
            out[name] = value  # nothing better to send; the engine reports the mismatch
    return out


def _loose(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def response_names(body: Any, properties: Mapping[str, Any]) -> Any:
    """Return the request body with each field the response schema does not name exactly
    renamed to the property it matches case- and underscore-insensitively (Twilio's form
    fields `To`, `StatusCallback` are the response's `to`, `status_callback`)."""
    if not isinstance(body, dict):
        return body
    if all(name in properties for name in body):
        return dict(body)  # every name is the response's already (most bodies, on every create)
    by_loose: dict[str, list[str]] = {}
    for prop in properties:
        by_loose.setdefault(_loose(prop), []).append(prop)
    out: dict[str, Any] = {}
    for name, value in body.items():
        matches = by_loose.get(_loose(name), []) if name not in properties else [name]
        target = matches[0] if len(matches) == 1 else name
        if target != name and target in body:
            target = name  # the client sent both spellings: keep each as sent
        out[target] = value
    return out


def build_object(template: Any, body: Any, collection: Collection, object_id: Any,
                 now: float, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build a new object: the generated template's required and readOnly fields, then the
    request's fields, then server fields (optional fields the client left out stay out)."""
    obj = fill_from_template(template, collection)
    body = response_names(body, collection.properties)
    if isinstance(body, dict):
        obj.update(body)
    obj.update(extra or {})
    obj[collection.id_field] = object_id
    stamp(obj, collection.timestamps, {"created", "updated"}, now)
    return obj


def nullable(schema: Any) -> bool:
    """Tell whether a property schema admits null (`nullable: true`, or "null" among its types)."""
    if not isinstance(schema, Mapping):
        return False
    types = schema.get("type")
    return bool(schema.get("nullable")) or (isinstance(types, list) and "null" in types)


def fill_from_template(template: Any, collection: Collection) -> dict[str, Any]:
    """Return the fields a new object gets from the server, one for every documented
    property (the real API sends whole objects): the server's value (the schema's default,
    the enum value its description or examples name); for a field the client could have sent
    and did not, empty (`[]`, null) where the schema allows, else nothing unless required;
    for any other field null where the schema allows, else the generated template's value.
    Links are left out (built at every answer), as is the id."""
    template = template if isinstance(template, dict) else {}
    server = collection.server
    skip = {collection.id_field} | set(server.derived)
    out: dict[str, Any] = {}
    for name, schema in collection.properties.items():
        if name in skip:
            continue
        if name in server.values:
            out[name] = server.values[name]
        elif name in collection.writable and isinstance(schema, dict) and schema.get("type") == "array":
            out[name] = []
        elif nullable(schema):
            out[name] = None
        elif name in template and (name not in collection.writable or name in collection.required):
            out[name] = template[name]
    for name, value in template.items():  # what the schema requires beyond its properties
        if name not in out and name not in skip and name not in collection.properties \
                and name in collection.required:
            out[name] = value
    return out


def apply_update(stored: Mapping[str, Any], body: Any, collection: Collection,
                 now: float, replace: bool = False) -> dict[str, Any]:
    """Merge an update's fields over the stored object (PATCH, POST), or replace what the
    client sets (PUT: optional fields the body leaves out are dropped); the id, created time,
    the fields the server supplies and what the sandbox keeps for itself (its parent, per-user
    toggles, its owner) stay."""
    obj = {k: v for k, v in stored.items() if collection.server_filled(k) or k.startswith("__sandlot")} \
        if replace else dict(stored)
    body = response_names(body, collection.properties)
    if isinstance(body, dict):
        keep = {collection.id_field} | {t.name for t in collection.timestamps if t.event == "created"}
        obj.update({k: v for k, v in body.items() if k not in keep})
    stamp(obj, collection.timestamps, {"updated", "edited"}, now)
    return obj


def envelope_items(template: Any, pagination: Pagination) -> list[Any]:
    """Return the items of a generated list response (the array, or the envelope's)."""
    if pagination.shape != "envelope" or not pagination.items_field:
        return template if isinstance(template, list) else []
    holder = template.get(pagination.items_in) if pagination.items_in and isinstance(template, dict) else template
    found = holder.get(pagination.items_field) if isinstance(holder, dict) else None
    return found if isinstance(found, list) else []


def envelope(template: Any, items: list[dict[str, Any]], pagination: Pagination, *,
             has_more: bool, total: int, next_token: str | None,
             required: Iterable[str] = ()) -> Any:
    """Wrap a page into the list response's shape (a bare array or the template's envelope)."""
    if pagination.shape != "envelope" or not pagination.items_field:
        return items
    out = dict(template) if isinstance(template, dict) else {}
    if pagination.items_in:  # HAL: the items sit in `_embedded`
        out[pagination.items_in] = {**(out.get(pagination.items_in) or {}), pagination.items_field: items}
    else:
        out[pagination.items_field] = items
    if pagination.has_more_field:
        out[pagination.has_more_field] = has_more
    if pagination.total_field:
        out[pagination.total_field] = total
    if pagination.next_field:
        if next_token is not None:
            out[pagination.next_field] = next_token
        elif pagination.next_field not in set(required):
            out.pop(pagination.next_field, None)
    return out
