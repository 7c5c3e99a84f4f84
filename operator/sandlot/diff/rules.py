"""Every change `sandlot diff` can report: a stable id, a level, what it means, and its message.

Read by the walkers (sandlot.diff.openapi, .schemas, .graphql), which only ever name a rule by
id, and by docs/drift.md's rule table (`python -m sandlot.diff.rules` prints it; a test checks the
page against it). The levels follow one principle: narrowing what a request accepts, or widening
what a response may return, breaks existing clients (`error`); a change that breaks only clients
relying on something the spec never promised is a `warning`; the rest is `info`.

Ids follow oasdiff's where oasdiff has the same check (so scripts written for its JSON keep
working); schema rules exist once per place a schema sits (a request parameter, the request
body, a request property, the response body, a response property) and are generated from one
table per side below.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR, WARNING, INFO = "error", "warning", "info"
LEVELS = (ERROR, WARNING, INFO)  # most severe first


@dataclass(frozen=True)
class Rule:
    """One kind of change: `message` is a str.format template over the change's arguments."""

    id: str
    level: str
    description: str
    message: str


_OPERATIONS = (
    Rule("api-path-removed-without-deprecation", ERROR,
         "a path and its operations were removed without being deprecated first",
         "the path {path} was removed without deprecation; clients calling it get 404. Deprecate it "
         "(with x-sunset) in a release before removing it"),
    Rule("api-path-removed-with-deprecation", WARNING,
         "a deprecated path was removed (its sunset date, if any, has passed)",
         "the deprecated path {path} was removed; clients still calling it get 404"),
    Rule("api-removed-without-deprecation", ERROR,
         "an operation was removed without being deprecated first",
         "the operation was removed without deprecation; clients calling it get 404 or 405. Deprecate it "
         "(with x-sunset) in a release before removing it"),
    Rule("api-removed-with-deprecation", WARNING,
         "a deprecated operation was removed (its sunset date, if any, has passed)",
         "the deprecated operation was removed; clients still calling it get 404 or 405"),
    Rule("api-removed-before-sunset", ERROR,
         "a deprecated operation was removed before its x-sunset date",
         "the operation was removed before its sunset date {sunset}; keep it until then"),
    Rule("api-method-changed", ERROR,
         "an operation (same operationId) moved to another HTTP method on the same path",
         "the operation {operation_id} moved from {old} to {new}; clients still using {old} get 405"),
    Rule("api-path-changed", ERROR,
         "an operation (same operationId) moved to another path",
         "the operation {operation_id} moved from {old} to {new}; clients still calling {old} get 404"),
    Rule("endpoint-added", INFO, "an operation was added", "the operation was added"),
    Rule("api-operation-id-changed", INFO,
         "an operation's operationId changed (generated SDKs rename the method)",
         "the operationId changed from {old} to {new}; SDKs generated from the spec rename the method"),
    Rule("endpoint-deprecated", INFO, "an operation was deprecated", "the operation was deprecated{sunset}"),
    Rule("endpoint-reactivated", INFO, "a deprecated operation is no longer deprecated",
         "the operation is no longer deprecated"),
    Rule("api-sunset-date-changed-earlier", WARNING,
         "a deprecated operation's x-sunset date moved earlier",
         "the sunset date moved earlier, from {old} to {new}; clients have less time to migrate"),
)

_PARAMETERS = (
    Rule("new-required-request-parameter", ERROR, "a new required request parameter",
         "added the required {target}; requests without it are refused. Make it optional (with a "
         "server-side default) or add it in a new operation"),
    Rule("new-optional-request-parameter", INFO, "a new optional request parameter", "added the optional {target}"),
    Rule("request-parameter-removed", WARNING,
         "a request parameter was removed (servers that refuse unknown parameters break callers)",
         "removed the {target}; clients still sending it may be refused or silently ignored"),
    Rule("request-parameter-became-required", ERROR, "an optional request parameter became required",
         "the {target} became required; requests without it are refused"),
    Rule("request-parameter-became-optional", INFO, "a required request parameter became optional",
         "the {target} became optional"),
    Rule("request-parameter-location-changed", ERROR,
         "a request parameter moved, e.g. from the query to a header",
         "the parameter {name} moved from the {old} to the {new}; clients still sending it in the {old} "
         "do not send it at all"),
    Rule("request-parameter-deprecated", INFO, "a request parameter was deprecated", "the {target} was deprecated"),
)

_REQUEST_BODY = (
    Rule("request-body-added-required", ERROR, "an operation that took no body now requires one",
         "added a required request body; requests without it are refused"),
    Rule("request-body-added-optional", INFO, "an operation that took no body now accepts one",
         "added an optional request body"),
    Rule("request-body-became-required", ERROR, "an optional request body became required",
         "the request body became required; requests without one are refused"),
    Rule("request-body-removed", WARNING, "the request body was removed",
         "the request body was removed; clients still sending one may be refused or ignored"),
    Rule("request-body-media-type-removed", ERROR, "a request body media type is no longer accepted",
         "the request body no longer accepts {media_type}; clients sending it get 415"),
    Rule("request-body-media-type-added", INFO, "a request body media type was added",
         "the request body now also accepts {media_type}"),
    Rule("new-required-request-property", ERROR, "a new required property in a request body",
         "added the required {target}; requests without it are refused. Make it optional (with a default)"),
    Rule("new-optional-request-property", INFO, "a new optional property in a request body",
         "added the optional {target}"),
    Rule("request-property-became-required", ERROR, "an optional request property became required",
         "the {target} became required; requests without it are refused"),
    Rule("request-property-became-optional", INFO, "a required request property became optional",
         "the {target} became optional"),
    Rule("request-property-removed", WARNING,
         "a request property was removed (refused if the schema forbids unknown properties)",
         "removed the {target}; clients still sending it may be refused or see it ignored"),
)

_RESPONSES = (
    Rule("response-success-status-removed", ERROR, "a success (2xx) response status was removed",
         "removed the success response {status}; clients waiting for it break"),
    Rule("response-non-success-status-removed", WARNING, "a non-success response status was removed",
         "removed the response {status}; clients handling it lose that branch"),
    Rule("response-success-status-added", WARNING, "a new success (2xx) response status may be returned",
         "added the success response {status}; clients that expect only the documented ones may not handle it"),
    Rule("response-non-success-status-added", INFO, "a new non-success response status may be returned",
         "added the response {status}"),
    Rule("response-media-type-removed", ERROR, "a response media type was removed",
         "the response {status} no longer returns {media_type}; clients asking for it get 406 or another type"),
    Rule("response-media-type-added", INFO, "a response media type was added",
         "the response {status} may now also return {media_type}"),
    Rule("required-response-header-removed", ERROR, "a required response header was removed",
         "the response {status} no longer sends the required header {name}"),
    Rule("optional-response-header-removed", WARNING, "an optional response header was removed",
         "the response {status} no longer sends the optional header {name}"),
    Rule("response-header-became-optional", ERROR, "a required response header became optional",
         "the header {name} of the response {status} became optional; clients reading it may find none"),
    Rule("response-required-property-removed", ERROR, "a required response property was removed",
         "removed the required {target}; clients reading it break"),
    Rule("response-optional-property-removed", WARNING, "an optional response property was removed",
         "removed the optional {target}; clients reading it no longer find it"),
    Rule("response-property-became-optional", ERROR, "a required response property became optional",
         "the {target} became optional; clients that read it unconditionally break when it is absent"),
    Rule("response-required-property-added", INFO, "a required response property was added",
         "added the required {target}"),
    Rule("response-optional-property-added", INFO, "an optional response property was added",
         "added the optional {target}"),
)

_SECURITY = (
    Rule("api-security-became-required", ERROR, "an operation callable without credentials now requires them",
         "the operation now requires {new}; anonymous requests are refused"),
    Rule("api-security-removed", ERROR, "a way to authenticate the operation is no longer accepted",
         "the operation no longer accepts {old}; clients authenticating that way are refused. Accept it "
         "alongside the new requirement until clients have moved"),
    Rule("api-security-scope-added", ERROR, "an operation requires more OAuth scopes than before",
         "the operation now also requires the scopes {value} of {name}; tokens without them are refused"),
    Rule("api-security-added", INFO, "a new way to authenticate the operation is accepted",
         "the operation now also accepts {new}"),
    Rule("api-security-scope-removed", INFO, "an operation requires fewer OAuth scopes than before",
         "the operation no longer requires the scopes {value} of {name}"),
)

#: Bounds a schema may set: (keyword, True when a larger value accepts more, rule stem). A request
#: bound that narrows is an error, a response bound that widens a warning (clients rarely rely on one).
BOUNDS = (
    ("maximum", True, "max"), ("minimum", False, "min"), ("maxLength", True, "max-length"),
    ("minLength", False, "min-length"), ("maxItems", True, "max-items"), ("minItems", False, "min-items"),
)


def bound_rule(stem: str, larger_accepts_more: bool, wider: bool) -> str:
    """Return the rule suffix of a bound that moved: "max-decreased", "min-length-decreased" ..."""
    return f"{stem}-{'increased' if wider == larger_accepts_more else 'decreased'}"


def _bound_rules(level: str, direction: str) -> tuple[tuple[str, str, str, str], ...]:
    wider = direction == "widened"
    return tuple(
        (bound_rule(stem, larger, wider), level,
         f"{keyword} was {'raised' if wider == larger else 'lowered'} or {'removed' if wider else 'set'}",
         f"{{target}} {keyword} is now {{new}} (was {{old}})")
        for keyword, larger, stem in BOUNDS)


# Schema rules: (suffix, level, description, message); `{target}` names where the schema sits.
_REQUEST_SCHEMA = (
    ("type-changed", ERROR, "the type or format no longer accepts every value it accepted",
     "{target} changed type from {old} to {new}; values sent before may be refused"),
    ("type-generalized", INFO, "the type or format was widened", "{target} widened from {old} to {new}"),
    ("became-enum", ERROR, "a free value was restricted to a list", "{target} now accepts only {new}"),
    ("enum-value-removed", ERROR, "an enum value is no longer accepted", "{target} no longer accepts {value}"),
    ("enum-value-added", INFO, "an enum value was added", "{target} now also accepts {value}"),
    ("pattern-added", ERROR, "a pattern was added", "{target} must now match the pattern {new}"),
    ("pattern-changed", WARNING, "the pattern changed (whether it accepts less cannot be told)",
     "{target} pattern changed from {old} to {new}; check that values sent before still match"),
    *_bound_rules(ERROR, "narrowed"),
    ("became-not-nullable", ERROR, "null is no longer accepted", "{target} no longer accepts null"),
    ("one-of-removed", ERROR, "a oneOf alternative is no longer accepted",
     "{target} no longer accepts the oneOf alternative {value}"),
    ("any-of-removed", ERROR, "an anyOf alternative is no longer accepted",
     "{target} no longer accepts the anyOf alternative {value}"),
)
_RESPONSE_SCHEMA = (
    ("type-changed", ERROR, "the type or format may now hold values it could not before",
     "{target} changed type from {old} to {new}; clients parsing {old} break"),
    ("type-specialized", INFO, "the type or format was narrowed", "{target} narrowed from {old} to {new}"),
    ("became-not-enum", ERROR, "a value limited to a list may now be anything",
     "{target} is no longer limited to {old}; clients handling only those values break"),
    ("enum-value-added", ERROR, "a new enum value may be returned",
     "{target} may now be {value}; clients handling only the documented values break. Declare "
     "open-ended lists as such (x-extensible-enum) from the start"),
    ("enum-value-removed", INFO, "an enum value is no longer returned", "{target} is no longer {value}"),
    ("became-nullable", ERROR, "null may now be returned",
     "{target} may now be null; clients not expecting null break"),
    ("pattern-removed", WARNING, "the pattern was removed", "{target} no longer promises the pattern {old}"),
    ("pattern-changed", WARNING, "the pattern changed", "{target} pattern changed from {old} to {new}"),
    *_bound_rules(WARNING, "widened"),
    ("one-of-added", ERROR, "a new oneOf alternative may be returned",
     "{target} may now be the new oneOf alternative {value}; clients handling only the documented ones break"),
    ("any-of-added", ERROR, "a new anyOf alternative may be returned",
     "{target} may now be the new anyOf alternative {value}; clients handling only the documented ones break"),
)
#: Where a schema sits -> the side it is on and how the rule table words it.
SCHEMA_SCOPES = {
    "request-parameter": ("request", "a request parameter"),
    "request-body": ("request", "the request body"),
    "request-property": ("request", "a request property"),
    "response-body": ("response", "the response body"),
    "response-property": ("response", "a response property"),
}


def _schema_rules() -> tuple[Rule, ...]:
    rules = []
    for scope, (side, where) in SCHEMA_SCOPES.items():
        for suffix, level, description, message in _REQUEST_SCHEMA if side == "request" else _RESPONSE_SCHEMA:
            rules.append(Rule(f"{scope}-{suffix}", level, f"{where}: {description}", message))
    return tuple(rules)


# graphql-core 3.3's BreakingChangeType (error) and DangerousChangeType (warning) members, each a rule
# (a test checks the list against the installed graphql-core).
_GRAPHQL = (
    ("TYPE_REMOVED", ERROR, "a type was removed"),
    ("TYPE_CHANGED_KIND", ERROR, "a type changed kind (e.g. object to interface)"),
    ("TYPE_REMOVED_FROM_UNION", ERROR, "a member type was removed from a union"),
    ("VALUE_REMOVED_FROM_ENUM", ERROR, "an enum value was removed"),
    ("REQUIRED_INPUT_FIELD_ADDED", ERROR, "a required input field was added"),
    ("IMPLEMENTED_INTERFACE_REMOVED", ERROR, "an object type no longer implements an interface"),
    ("FIELD_REMOVED", ERROR, "a field was removed"),
    ("FIELD_CHANGED_KIND", ERROR, "a field's type changed incompatibly"),
    ("REQUIRED_ARG_ADDED", ERROR, "a required argument was added"),
    ("ARG_REMOVED", ERROR, "an argument was removed"),
    ("ARG_CHANGED_KIND", ERROR, "an argument's type changed incompatibly"),
    ("DIRECTIVE_REMOVED", ERROR, "a directive was removed"),
    ("DIRECTIVE_ARG_REMOVED", ERROR, "a directive argument was removed"),
    ("REQUIRED_DIRECTIVE_ARG_ADDED", ERROR, "a required directive argument was added"),
    ("DIRECTIVE_REPEATABLE_REMOVED", ERROR, "a directive is no longer repeatable"),
    ("DIRECTIVE_LOCATION_REMOVED", ERROR, "a directive location was removed"),
    ("VALUE_ADDED_TO_ENUM", WARNING, "an enum value was added (clients switching over the values may miss it)"),
    ("TYPE_ADDED_TO_UNION", WARNING, "a member type was added to a union"),
    ("OPTIONAL_INPUT_FIELD_ADDED", WARNING, "an optional input field was added"),
    ("OPTIONAL_ARG_ADDED", WARNING, "an optional argument was added"),
    ("IMPLEMENTED_INTERFACE_ADDED", WARNING, "an interface was added to an interface"),
    ("ARG_DEFAULT_VALUE_CHANGE", WARNING, "an argument's default value changed"),
    ("INPUT_FIELD_DEFAULT_VALUE_CHANGE", WARNING, "an input field's default value changed"),
)


def graphql_rule_id(change_type_name: str) -> str:
    """Return the rule id of a graphql-core BreakingChangeType / DangerousChangeType member name."""
    return "graphql-" + change_type_name.lower().replace("_", "-")


def _graphql_rules() -> tuple[Rule, ...]:
    return tuple(Rule(graphql_rule_id(name), level, f"GraphQL: {description}", "{message}")
                 for name, level, description in _GRAPHQL)


ALL_RULES: tuple[Rule, ...] = (
    *_OPERATIONS, *_PARAMETERS, *_REQUEST_BODY, *_RESPONSES, *_SECURITY, *_schema_rules(), *_graphql_rules(),
)
RULES: dict[str, Rule] = {rule.id: rule for rule in ALL_RULES}
if len(RULES) != len(ALL_RULES):
    raise RuntimeError("sandlot.diff.rules: rule ids must be unique")


def markdown_table() -> str:
    """Return the rule table of docs/drift.md: id, level and meaning of every rule, in code order."""
    lines = ["| id | level | meaning |", "|---|---|---|"]
    lines += [f"| `{rule.id}` | {rule.level} | {rule.description} |" for rule in ALL_RULES]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
