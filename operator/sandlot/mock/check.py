"""`sandlot mock --check`: the thorough validation of a spec, without serving it.

Called by `sandlot mock --check` (cli/mock.py). Serving start-up stays fast because it only checks what
it needs; this runs the OpenAPI 3.0/3.1 meta-schema validation
(openapi-spec-validator) over the bundled document and compiles every operation's
request and response plans and every `pattern` (as ECMA-262, openapi/patterns.py), and
reports the first problem as a SpecError naming the file, the JSON pointer and the problem.
"""

from __future__ import annotations

import re
from typing import Any

from sandlot.mock.engine import Engine
from sandlot.openapi import patterns
from sandlot.openapi.loader import SpecError, escape_token, load_spec
from sandlot.util.pointers import unescape_token


def check_spec(source: str) -> int:
    """Validate a spec thoroughly; return its number of operations or raise SpecError."""
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    spec = load_spec(source)
    engine = Engine(spec)
    if engine.pattern_errors:
        raise engine.pattern_errors[0]
    try:
        validate(_stdlib_patterns(spec.document))
    except OpenAPIValidationError as error:
        path = getattr(error, "absolute_path", None) or getattr(error, "path", None) or ()
        pointer = "".join("/" + escape_token(str(p)) for p in path)
        message = str(getattr(error, "message", error)).splitlines()[0]
        raise SpecError(message, file=spec.source, pointer=pointer) from None
    except Exception as error:  # noqa: BLE001 - the validator's own failures must read as spec errors too
        raise SpecError(f"the OpenAPI validator cannot read the document: {_first_line(error)}",
                        file=spec.source) from error
    for operation in engine.operations:
        try:
            engine.plan(operation)
        except SpecError:
            raise
        except Exception as error:  # noqa: BLE001 - name the operation rather than crash
            raise SpecError(f"cannot compile the operation: {_first_line(error)}", file=spec.source,
                            pointer=operation.pointer) from error
    return len(engine.operations)


def _stdlib_patterns(document: dict[str, Any]) -> dict[str, Any]:
    """Return the document with each `pattern` that only ECMA-262 reads (`\\p{L}`) set to `.*`
    (copying only the nodes on its path): the meta-schema validator checks `format: regex` and
    examples with Python's `re`; the patterns themselves were checked as ECMA-262 before."""
    for pointer, pattern, is_key in patterns.iter_patterns(document):
        if is_key:
            continue
        try:
            re.compile(pattern)
        except (re.error, ValueError, OverflowError):
            document = _replaced(document, [unescape_token(t) for t in pointer.split("/")[1:]], ".*")
    return document


def _replaced(node: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    if isinstance(node, list):
        index = int(tokens[0])
        return [*node[:index], _replaced(node[index], tokens[1:], value), *node[index + 1:]]
    return {**node, tokens[0]: _replaced(node[tokens[0]], tokens[1:], value)}


def _first_line(error: BaseException) -> str:
    """Return an exception as one short line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__
