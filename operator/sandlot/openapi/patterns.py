"""The regular expressions of a spec (`pattern`, `patternProperties`), compiled once as ECMA-262.

OpenAPI (JSON Schema) patterns are ECMA-262 regular expressions: `^[\\p{L}]+$` is valid there,
and Python's `re` refuses it. They are compiled with the `regex` package, which understands
Unicode property escapes (`\\p{L}`, `\\p{Lu}`, `\\p{Script=Greek}`) and named groups, after
rewriting the few spellings only ECMA has (`\\u{1F600}`, `\\k<name>`, `[^]`, `\\cJ`).

Called by the loader (`find_pattern_problems`, once per spec: what does not compile is named
with its JSON pointer by `sandlot mock --check` and logged at start), the schema validators
(openapi/schemas.py) and the generator (mock/regex_gen.py, mock/generate.py). A pattern that
cannot be compiled constrains nothing while serving: it was reported at load, and a request
must never get a 500 for it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import regex

from sandlot.openapi.loader import Spec, SpecError
from sandlot.openapi.sourcemap import SourceMap
from sandlot.util import fastjson
from sandlot.util.pointers import escape_token

#: ECMA-only spellings and their `regex` equivalents.
_ECMA_ONLY = (
    (re.compile(r"\\k<([A-Za-z_][A-Za-z0-9_]*)>"), r"(?P=\1)"),
    (re.compile(r"\\u\{([0-9A-Fa-f]{1,6})\}"), lambda m: f"\\U{int(m.group(1), 16):08x}"),
    (re.compile(r"\[\^\]"), r"[\\s\\S]"),
    (re.compile(r"\\c([A-Za-z])"), lambda m: f"\\x{ord(m.group(1).upper()) - 64:02x}"),
)
#: Subtrees that hold values rather than schemas: a `pattern` key inside them is data.
_VALUE_KEYS = frozenset({"example", "examples", "default", "enum", "const"})


class PatternError(ValueError):
    """A pattern that is not a regular expression, even read as ECMA-262: says why."""


def translate(pattern: str) -> str:
    """Return an ECMA-262 pattern in the `regex` package's syntax."""
    for ecma, replacement in _ECMA_ONLY:
        pattern = ecma.sub(replacement, pattern)
    return pattern


@functools.lru_cache(maxsize=8192)
def _compile(pattern: str) -> regex.Pattern[str] | str:
    try:
        return regex.compile(translate(pattern))
    except (regex.error, ValueError, OverflowError) as exc:
        return str(exc)


def compile_ecma(pattern: str) -> regex.Pattern[str]:
    """Return the compiled pattern (cached); raise PatternError naming what is wrong."""
    compiled = _compile(pattern)
    if isinstance(compiled, str):
        raise PatternError(f"pattern {pattern!r} is not an ECMA-262 regular expression ({compiled}); "
                           "fix the pattern in the spec")
    return compiled


def compiled(pattern: str) -> regex.Pattern[str] | None:
    """Return the compiled pattern, or None when it cannot be compiled (reported at load)."""
    found = _compile(pattern)
    return None if isinstance(found, str) else found


def search(pattern: str, text: str) -> bool:
    """Tell whether `pattern` matches somewhere in `text`; a pattern that cannot be compiled
    matches everything (it constrains nothing; the load reported it)."""
    found = compiled(pattern)
    return True if found is None else found.search(text) is not None


def iter_patterns(document: Any) -> Iterator[tuple[str, str, bool]]:
    """Yield (JSON pointer, pattern, whether it is a patternProperties key) for every regular
    expression in the schemas of a document (not in examples, defaults or enums).

    Runs over the whole document at every load (GitHub's 13 MB spec has about a million nodes),
    so the walk keeps each node's path as a link to its parent's, (parent, key), and spells a
    pointer only for what it yields."""
    stack: list[tuple[Any, Any, bool]] = [(document, None, False)]
    push = stack.append
    value_keys = _VALUE_KEYS
    while stack:
        node, path, names = stack.pop()  # names: the keys are property names, not keywords
        if isinstance(node, dict):
            for key, value in node.items():
                if names:
                    if isinstance(value, (dict, list)):
                        push((value, (path, key), False))
                elif key == "pattern" and isinstance(value, str):
                    yield _pointer((path, key)), value, False
                elif key == "patternProperties" and isinstance(value, dict):
                    where = (path, key)
                    for name, sub in value.items():
                        yield _pointer((where, name)), str(name), True
                        push((sub, (where, name), False))
                elif key not in value_keys and isinstance(value, (dict, list)):
                    push((value, (path, key), key in ("properties", "$defs", "definitions")))
        elif isinstance(node, list):
            stack.extend((v, (path, i), False) for i, v in enumerate(node) if isinstance(v, (dict, list)))


def _pointer(path: Any) -> str:
    """Spell a path of `iter_patterns`, (parent, key) links down from None, as a JSON pointer."""
    tokens: list[str] = []
    while path is not None:
        path, key = path
        tokens.append(escape_token(str(key)))
    return "".join(f"/{token}" for token in reversed(tokens))


#: In a document's compact JSON text: a `pattern` key with a string value, or a `patternProperties`
#: key. A key is `"name":` there, which a string's content never holds (its quotes are escaped).
_PATTERN_IN_TEXT = re.compile(rb'"pattern":("(?:[^"\\]|\\.)*")|"patternProperties":')


def _strings_after_pattern_keys(document: Any) -> set[str] | None:
    """Return every string value of a `pattern` key anywhere in `document`, a superset of its
    schemas' patterns (data in examples too), found in its JSON text; None when the text cannot
    tell: the document has `patternProperties` (their keys are patterns) or is not JSON."""
    text = fastjson.scan_text(document)
    if text is None:
        return None
    found: set[bytes] = set()
    for match in _PATTERN_IN_TEXT.finditer(text):
        if match.group(1) is None:
            return None
        found.add(match.group(1))
    return {fastjson.loads(quoted) for quoted in found}


def find_pattern_problems(document: Any) -> Iterator[tuple[str, str]]:
    """Yield (JSON pointer, problem) for every `pattern` or `patternProperties` key that does
    not compile; compiling them here is what makes every later use a cache hit.

    The walk over every node (`iter_patterns`) took a third of GitHub's 13 MB spec's start-up;
    the document's JSON text, searched for `"pattern":`, finds the same patterns in a fifth of the
    time. When all of those compile there is no problem to report; otherwise (or when the text
    cannot tell) the walk finds which are schemas' patterns, and where.
    """
    candidates = _strings_after_pattern_keys(document)
    if candidates is not None and not any(isinstance(_compile(pattern), str) for pattern in candidates):
        return
    for pointer, pattern, _ in iter_patterns(document):
        problem = _compile(pattern)
        if isinstance(problem, str):
            yield pointer, f"pattern {pattern!r} is not an ECMA-262 regular expression ({problem})"


def pattern_errors(spec: Spec) -> list[SpecError]:
    """Return a SpecError (file, pointer, problem) for each pattern of the spec that does not
    compile; the pointer is mapped back to the file a bundled node came from."""
    found = list(find_pattern_problems(spec.document))
    if not found:
        return []
    where = SourceMap(spec, lines=False)
    errors = []
    for pointer, problem in found:
        location, inner = where.origin(pointer)
        errors.append(SpecError(problem + "; fix the pattern in the spec", file=location, pointer=inner))
    return errors
