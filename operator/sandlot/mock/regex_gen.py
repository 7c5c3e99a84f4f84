"""Generate strings that match a JSON Schema `pattern`, deterministically from a seeded rng.

Called by `sandlot.mock.generate` for string schemas that carry a `pattern`. OpenAPI patterns
are ECMA-262 regular expressions, compiled by openapi/patterns.py (the `regex` package); for
generation, `generation_form` also writes Unicode property escapes (`\\p{L}`) as ASCII classes.
Each pattern is parsed once (with the standard library's own parser, as `rstr.xeger` does) into a small tree whose
character classes are pre-expanded into sorted alphabets, so generation is a cheap walk and
never depends on set ordering (which varies between processes). Every candidate is checked
with the real (ECMA) pattern before it is returned; lookarounds are not generated, only checked.
"""

from __future__ import annotations

import functools
import random
import re
import string
from typing import Any

from sandlot.openapi.patterns import PatternError, compile_ecma, translate

try:  # Python 3.11+
    import re._constants as _c  # type: ignore[import-not-found]
    import re._parser as _sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

# Characters used for `.`, negated classes and the like: printable ASCII without whitespace
# other than the plain space, so generated identifiers stay readable.
_UNIVERSE = "".join(chr(i) for i in range(0x20, 0x7F))
_WORD = string.ascii_letters + string.digits + "_"
# Exact members of each category within _UNIVERSE, so negated classes such as `[^\W\d_]` expand
# correctly; `_CATEGORY_PREFERRED` is what a bare category (outside brackets) draws from.
_CATEGORY_CHARS = {
    _c.CATEGORY_DIGIT: string.digits,
    _c.CATEGORY_NOT_DIGIT: "".join(ch for ch in _UNIVERSE if ch not in string.digits),
    _c.CATEGORY_SPACE: " ",
    _c.CATEGORY_NOT_SPACE: _UNIVERSE.replace(" ", ""),
    _c.CATEGORY_WORD: _WORD,
    _c.CATEGORY_NOT_WORD: "".join(ch for ch in _UNIVERSE if ch not in _WORD),
}
_CATEGORY_PREFERRED = {
    **_CATEGORY_CHARS,
    _c.CATEGORY_NOT_DIGIT: string.ascii_letters,
    _c.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
}
# Beyond a pattern's own lower bound, `*`, `+` and `{n,}` repeat at most this many extra times
# by default; longer attempts widen it when a minLength asks for more.
_DEFAULT_EXTRA = 8

#: ASCII stand-ins for Unicode property escapes, to build the generation tree only (the check
#: that every generated value matches uses the real pattern): (inside a class, outside one).
_PROPERTY_STANDINS = {
    "L": ("A-Za-z", "[A-Za-z]"), "Letter": ("A-Za-z", "[A-Za-z]"), "Alphabetic": ("A-Za-z", "[A-Za-z]"),
    "Lu": ("A-Z", "[A-Z]"), "Uppercase_Letter": ("A-Z", "[A-Z]"), "Uppercase": ("A-Z", "[A-Z]"),
    "Ll": ("a-z", "[a-z]"), "Lowercase_Letter": ("a-z", "[a-z]"), "Lowercase": ("a-z", "[a-z]"),
    "N": ("0-9", "[0-9]"), "Nd": ("0-9", "[0-9]"), "Number": ("0-9", "[0-9]"),
    "Decimal_Number": ("0-9", "[0-9]"), "digit": ("0-9", "[0-9]"),
    "P": (".,!?", "[.,!?]"), "Punctuation": (".,!?", "[.,!?]"),
    "Zs": (" ", " "), "Space_Separator": (" ", " "), "White_Space": (" ", " "),
    "M": ("", ""), "Mark": ("", ""), "Mn": ("", ""),
}
_PROPERTY = re.compile(r"\\([pP])\{([^}]*)\}")


def generation_form(pattern: str) -> str:
    """Return `pattern` in Python `re` syntax for building the generation tree: ECMA-only
    spellings rewritten (openapi/patterns.py), named groups in Python's form, and Unicode
    property escapes replaced by ASCII stand-ins (inside or outside a character class)."""
    pattern = translate(pattern)
    pattern = re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", pattern)
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            found = _PROPERTY.match(pattern, i)
            if found:
                name = found.group(2).split("=")[-1]
                inside, outside = _PROPERTY_STANDINS.get(name, ("A-Za-z0-9", "\\w"))
                if found.group(1) == "P":  # the complement: what is not a letter, digit ...
                    inside, outside = ("-_ ", "[-_ ]") if inside.strip(" ") else ("A-Za-z", "[A-Za-z]")
                out.append(inside if in_class else outside)
                i = found.end()
                continue
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class and out and out[-1] not in ("[", "[^"):
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


def _tree(pattern: str) -> Any:
    """Parse a pattern (in generation form) into the generation tree."""
    return _convert(_sre_parse.parse(generation_form(pattern)))


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> tuple[Any, Any]:
    """Return the compiled ECMA-262 pattern (openapi/patterns.py) and the generation tree for
    it (cached per pattern); raise PatternError when either cannot be made."""
    regex = compile_ecma(pattern)
    try:
        return regex, _tree(pattern)
    except (re.error, ValueError, OverflowError, RecursionError) as exc:
        raise PatternError(f"pattern {pattern!r} uses syntax the generator cannot expand ({exc}); "
                           "values for it are not generated from the pattern") from None


def _chars_of_in(items: Any) -> str:
    """Expand the items of a character class (`[...]`) into a sorted alphabet."""
    negate = False
    members: set[str] = set()
    for op, value in items:
        if op is _c.NEGATE:
            negate = True
        elif op is _c.LITERAL:
            members.add(chr(value))
        elif op is _c.RANGE:
            low, high = value
            # Cap huge Unicode ranges: a handful of members is plenty to pick from.
            members.update(chr(i) for i in range(low, min(high, low + 512) + 1))
        elif op is _c.CATEGORY:
            members.update(_CATEGORY_CHARS.get(value, ""))
    if negate:
        return "".join(ch for ch in _UNIVERSE if ch not in members) or "~"
    return "".join(sorted(members)) or "a"


def _convert(parsed: Any) -> Any:
    """Convert a `re._parser` subpattern into this module's tuple tree."""
    nodes: list[tuple[Any, ...]] = []
    for op, value in parsed:
        if op is _c.LITERAL:
            nodes.append(("lit", chr(value)))
        elif op is _c.NOT_LITERAL:
            nodes.append(("set", "".join(ch for ch in _UNIVERSE if ch != chr(value))))
        elif op is _c.ANY:
            nodes.append(("set", _UNIVERSE))
        elif op is _c.IN:
            nodes.append(("set", _chars_of_in(value)))
        elif op is _c.CATEGORY:
            nodes.append(("set", _CATEGORY_PREFERRED.get(value, "a")))
        elif op is _c.BRANCH:
            nodes.append(("alt", [_convert(branch) for branch in value[1]]))
        elif op is _c.SUBPATTERN:
            nodes.append(("group", value[0], _convert(value[-1])))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) or op is getattr(_c, "POSSESSIVE_REPEAT", None):
            low, high, sub = value
            high = None if high is _c.MAXREPEAT else high
            inner = _convert(sub)
            if len(inner[1]) == 1 and inner[1][0][0] == "set":
                # `[0-9a-f]{32}` and the like: drawn in one rng.choices call
                nodes.append(("repset", low, high, inner[1][0][1]))
            else:
                nodes.append(("rep", low, high, inner))
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            nodes.append(("group", None, _convert(value)))
        elif op is _c.GROUPREF:
            nodes.append(("ref", value))
        elif op is _c.GROUPREF_EXISTS:
            group, yes, no = value
            nodes.append(("alt", [_convert(yes), _convert(no) if no else ("seq", [])]))
        # AT (anchors), ASSERT and ASSERT_NOT generate nothing: the final re.search checks them.
    merged: list[Any] = []
    for node in nodes:  # adjacent literals become one string: fewer steps per generation
        if node[0] == "lit" and merged and merged[-1][0] == "lit":
            merged[-1] = ("lit", merged[-1][1] + node[1])
        else:
            merged.append(node)
    return ("seq", merged)


def _emit(node: Any, rng: random.Random, extra: int, groups: dict[int, str], out: list[str]) -> None:
    """Append one random expansion of `node` to `out`."""
    kind = node[0]
    if kind == "seq":
        for child in node[1]:
            _emit(child, rng, extra, groups, out)
    elif kind == "lit":
        out.append(node[1])
    elif kind == "set":
        out.append(rng.choice(node[1]))
    elif kind == "repset":
        low, high = node[1], node[2]
        top = low + extra if high is None else min(high, low + extra)
        out.append("".join(rng.choices(node[3], k=rng.randint(low, top) if top > low else low)))
    elif kind == "rep":
        low, high, sub = node[1], node[2], node[3]
        top = low + extra if high is None else min(high, low + extra)
        for _ in range(rng.randint(low, top)):
            _emit(sub, rng, extra, groups, out)
    elif kind == "alt":
        _emit(rng.choice(node[1]), rng, extra, groups, out)
    elif kind == "group":
        start = len(out)
        _emit(node[2], rng, extra, groups, out)
        if node[1] is not None:
            groups[node[1]] = "".join(out[start:])
    elif kind == "ref":
        out.append(groups.get(node[1], ""))


def generate_matching(
    pattern: str,
    rng: random.Random,
    min_length: int = 0,
    max_length: int | None = None,
    attempts: int = 12,
) -> str | None:
    """Return a string matching `pattern` within the length bounds, or None if none was found.

    Raises PatternError when the pattern cannot be parsed at all.
    """
    regex, tree = compile_pattern(pattern)
    extra = _DEFAULT_EXTRA
    for attempt in range(attempts):
        out: list[str] = []
        _emit(tree, rng, extra, {}, out)
        text = "".join(out)
        if len(text) < min_length:
            padded = _pad(regex, text, min_length, rng)
            if padded is not None and (max_length is None or len(padded) <= max_length):
                return padded
            extra = max(extra * 2, min_length)  # longer repeats may reach the lower bound
            continue
        if max_length is not None and len(text) > max_length:
            extra = 0 if attempt >= 2 else max(extra // 2, 1)
            continue
        if regex.search(text):
            return text
    return None


def _pad(regex: Any, text: str, min_length: int, rng: random.Random) -> str | None:
    """Return `text` lengthened to `min_length` on whichever side keeps the match, or None."""
    filler = "".join(rng.choice(string.ascii_lowercase) for _ in range(min_length - len(text)))
    for candidate in (text + filler, filler + text):
        if regex.search(candidate):
            return candidate
    return None
