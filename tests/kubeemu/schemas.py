"""Prune, default and validate custom resources with their CRD's openAPIV3Schema, as the apiserver does.

The catalog builds one `CustomResourceSchema` per served CRD version; the store
calls `conform()` on every write of a custom resource. Reproduced: pruning of
unknown fields (unless `x-kubernetes-preserve-unknown-fields`), `default`
values (also for nulls in non-nullable fields), `nullable`,
`x-kubernetes-int-or-string`, and the OpenAPI checks jsonschema's Draft 4
validator knows (type, required, enum, pattern, min/max, lengths, items),
reported in the apiserver's wording, and the CEL rules of
`x-kubernetes-validations` (evaluated with cel-python; rules using `oldSelf`,
i.e. transition rules, are skipped, and so is a rule cel-python cannot
evaluate). Not reproduced: `format` checks, list-type/map-type uniqueness,
`messageExpression`, Kubernetes' CEL library extensions.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema

from .errors import FieldError, invalid_fields

_COMPOSITES = ("allOf", "anyOf", "oneOf")
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


def _to_json_schema(node: Any) -> Any:
    """Return an OpenAPI v3 (structural) schema node as a Draft 4 JSON Schema node."""
    if not isinstance(node, dict):
        return node
    out = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-") and k not in ("nullable", "format")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    if node.get("nullable") and "type" in out:
        out["type"] = [*([out["type"]] if isinstance(out["type"], str) else out["type"]), "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in node:
        out["properties"] = {k: _to_json_schema(v) for k, v in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        out["items"] = _to_json_schema(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _to_json_schema(node["additionalProperties"])
    for key in _COMPOSITES:
        if key in node:
            out[key] = [_to_json_schema(n) for n in node[key]]
    if isinstance(node.get("not"), dict):
        out["not"] = _to_json_schema(node["not"])
    return out


def prune_and_default(schema: dict[str, Any], value: Any) -> Any:
    """Return value without the fields its schema does not know, with defaults filled in."""
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune_and_default(schema["items"], item) for item in value]
    if not isinstance(value, dict):
        return value
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
    result = {}
    for key, item in value.items():
        if properties and key in properties:
            if item is None and not properties[key].get("nullable"):
                continue  # a null in a non-nullable field is pruned, so that its default applies
            result[key] = prune_and_default(properties[key], item)
        elif isinstance(extra, dict):
            result[key] = prune_and_default(extra, item)
        elif keep_unknown:
            result[key] = item
    for key, sub in (properties or {}).items():
        if key not in result and "default" in sub:
            result[key] = prune_and_default(sub, copy.deepcopy(sub["default"]))
    return result


def _field_path(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "<root>"


def _describe(error: jsonschema.ValidationError) -> FieldError:
    """Return one validation failure as kube-apiserver words it."""
    field, value, rule = _field_path(error.absolute_path), error.instance, error.validator_value
    shown = json.dumps(value) if not isinstance(value, (dict, list)) else _JSON_TYPES[type(value)]
    if error.validator == "required":
        missing = next((r for r in rule if isinstance(value, dict) and r not in value), rule[0])
        return FieldError(f"{field + '.' if field != '<root>' else ''}{missing}", "Required value")
    if error.validator == "type":
        actual = _JSON_TYPES.get(type(value), "null")
        expected = rule if isinstance(rule, str) else " or ".join(r for r in rule if r != "null")
        return FieldError(field, f'Invalid value: "{actual}": {field} in body must be of type {expected}: "{actual}"',
                          "FieldValueTypeInvalid")
    if error.validator == "enum":
        return FieldError(field, f"Unsupported value: {shown}: supported values: "
                          + ", ".join(json.dumps(v) for v in rule if v is not None))
    if error.validator == "pattern":
        return FieldError(field, f"Invalid value: {shown}: {field} in body should match '{rule}'")
    if error.validator in ("minimum", "maximum"):
        bound = "greater" if error.validator == "minimum" else "less"
        return FieldError(field, f"Invalid value: {shown}: {field} in body should be {bound} than or equal to {rule}")
    if error.validator == "minLength":
        return FieldError(field, f"Invalid value: {shown}: {field} in body should be at least {rule} chars long")
    if error.validator == "maxLength":
        return FieldError(field, f"Too long: may not be more than {rule} bytes")
    if error.validator == "maxItems":
        return FieldError(field, f"Too many: {len(value)}: must have at most {rule} items")
    if error.validator == "minItems":
        return FieldError(field, f"Invalid value: {len(value)}: {field} in body should have at least {rule} items")
    return FieldError(field, f"Invalid value: {shown}: {error.message}")


#: Errors after which kube-apiserver does not evaluate the CEL rules (the object's shape is wrong).
_BLOCKING = ("FieldValueNotSupported", "FieldValueRequired", "FieldValueTypeInvalid")
_RULES_SKIPPED = FieldError("<nil>", "Invalid value: null: some validation rules were not checked because the "
                            "object was invalid; correct the existing errors to complete validation")


class CelRules:
    """Evaluate x-kubernetes-validations rules over an object; programs are compiled once per rule."""

    def __init__(self) -> None:
        self._programs: dict[str, Any] = {}

    def _holds(self, rule: str, value: Any) -> bool:
        try:
            import celpy
        except ImportError as exc:
            raise RuntimeError("the CRD has x-kubernetes-validations rules: install cel-python "
                               "(`pip install -e '.[test]'`) to evaluate them") from exc
        try:
            if rule not in self._programs:
                environment = celpy.Environment()
                self._programs[rule] = environment.program(environment.compile(rule))
            result = self._programs[rule].evaluate({"self": celpy.json_to_cel(value)})
        except Exception:  # a rule cel-python cannot compile or evaluate is skipped, not failed
            return True
        return result is not False and not (isinstance(result, celpy.celtypes.BoolType) and not result)

    def failures(self, schema: dict[str, Any], value: Any, path: tuple = ()) -> list[FieldError]:
        """Return a field error for every rule the value (or a part of it) breaks."""
        found = []
        for validation in schema.get("x-kubernetes-validations") or []:
            rule = validation.get("rule", "")
            if "oldSelf" not in rule and not self._holds(rule, value):
                found.append(FieldError(_field_path(path),
                                        f'Invalid value: {validation.get("message") or "failed rule: " + rule}'))
        if isinstance(value, dict):
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                sub = (schema.get("properties") or {}).get(key) or (extra if isinstance(extra, dict) else None)
                if sub:
                    found.extend(self.failures(sub, item, (*path, key)))
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                found.extend(self.failures(schema["items"], item, (*path, index)))
        return found


class CustomResourceSchema:
    """The openAPIV3Schema of one served CRD version, ready to conform objects to it."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._cel = CelRules()
        # The object's metadata is checked by the store, not by the CRD's schema (as in the apiserver).
        checked = _to_json_schema({**schema, "properties": {k: v for k, v in (schema.get("properties") or {}).items()
                                                            if k != "metadata"}})
        jsonschema.Draft4Validator.check_schema(checked)
        self._validator = jsonschema.Draft4Validator(checked)

    def conform(self, obj: dict[str, Any], group: str) -> dict[str, Any]:
        """Return obj pruned and defaulted; raise 422 Invalid listing every schema violation.

        As in kube-apiserver, the CEL rules are not evaluated when the OpenAPI checks found a
        missing field, a wrong type or an unsupported value; a last cause says so.
        """
        body = prune_and_default(self.schema, {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")})
        result = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": obj["metadata"], **body}
        errors = [_describe(e) for e in sorted(self._validator.iter_errors(result),
                                               key=lambda e: list(map(str, e.absolute_path)))]
        if any(e.reason in _BLOCKING for e in errors):
            errors.append(_RULES_SKIPPED)
        else:
            errors += self._cel.failures(self.schema, body)
        if errors:
            raise invalid_fields(obj["kind"], group, obj["metadata"].get("name", ""), errors)
        return result
