"""Find where a JSON pointer of a loaded spec is written: the file and the line.

Called by the spec diff (sandlot.diff) to point each change at the line a person edits. The
loader keeps no positions (serving never needs them), so a file is read again, and only when a
pointer in it is asked for: JSON through the standard library's C scanner (each object passed on
the way is indexed once, so many look-ups in a 13 MB file cost about one parse), YAML through
PyYAML's composer, whose nodes carry their line. Pointers into `#/x-sandlot-bundled/NAME` are
mapped back to the file the loader bundled NAME from.
"""

from __future__ import annotations

import bisect
import json
import re
from pathlib import Path
from typing import Any

import yaml

from sandlot.openapi.loader import BUNDLE_KEY, Spec, _is_url, _NoTimestampLoader
from sandlot.util.pointers import unescape_token

_WS = re.compile(r"[ \t\n\r]*")
_NEWLINE = re.compile("\n")
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[attr-defined]


class SourceMap:
    """Map JSON pointers of one loaded spec to (file, line); files are read on first use."""

    def __init__(self, spec: Spec, *, lines: bool = True) -> None:
        self.spec = spec
        self.lines = lines  # False when the text the loader parsed is not the file on disk (a ConfigMap key)
        self._finders: dict[str, _JsonLines | _YamlLines | None] = {}

    def locate(self, pointer: str) -> tuple[str, int | None]:
        """Return (file or URL, 1-based line or None) of the node at `pointer` in the loaded document."""
        location, inner = self.origin(pointer)
        if not self.lines or _is_url(location):
            return location, None
        finder = self._finder(location)
        return location, finder.line(_tokens(inner)) if finder else None

    def origin(self, pointer: str) -> tuple[str, str]:
        """Return (file or URL, pointer inside it) for a pointer of the bundled document."""
        prefix = f"/{BUNDLE_KEY}/"
        if pointer.startswith(prefix):
            name, _, rest = pointer[len(prefix):].partition("/")
            found = self.spec.origins.get(unescape_token(name))
            if found:
                return found[0], found[1] + ("/" + rest if rest else "")
        return self.spec.source, pointer

    def _finder(self, location: str) -> _JsonLines | _YamlLines | None:
        if location not in self._finders:
            try:
                text = Path(location).read_text(encoding="utf-8")
            except (OSError, ValueError):
                self._finders[location] = None
            else:
                self._finders[location] = _JsonLines(text) if text.lstrip()[:1] in ("{", "[") else _YamlLines(text)
        return self._finders[location]


def _tokens(pointer: str) -> list[str]:
    return [unescape_token(t) for t in pointer.split("/")[1:]] if pointer else []


class _JsonLines:
    """Lines of pointers in JSON text: containers on the path are indexed as they are passed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [m.start() for m in _NEWLINE.finditer(text)]
        self.members: dict[int, dict[str, tuple[int, int]]] = {}  # container offset -> token -> (key, value) offsets

    def line(self, tokens: list[str]) -> int | None:
        """Return the line of the key (or array item) the tokens lead to, or None."""
        try:
            at = _WS.match(self.text, 0).end()  # type: ignore[union-attr]
            key_at = at
            for token in tokens:
                key_at, at = self._index(at)[token]
        except (KeyError, ValueError, IndexError, StopIteration):
            return None
        return bisect.bisect_right(self.newlines, key_at - 1) + 1

    def _index(self, at: int) -> dict[str, tuple[int, int]]:
        if at in self.members:
            return self.members[at]
        text, found = self.text, {}
        opener = text[at]
        if opener not in "{[":
            raise ValueError(at)
        pos, index = _WS.match(text, at + 1).end(), 0  # type: ignore[union-attr]
        while text[pos] not in "}]":
            key_at = pos
            if opener == "{":
                key, pos = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
                pos = _WS.match(text, pos).end() + 1  # type: ignore[union-attr]  # past ':'
                pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            else:
                key, index = str(index), index + 1
            found[key] = (key_at, pos)
            pos = _SCAN(text, pos)[1]
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos] == ",":
                pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        self.members[at] = found
        return found


class _YamlLines:
    """Lines of pointers in YAML text, from PyYAML's node tree."""

    def __init__(self, text: str) -> None:
        try:
            self.root: Any = yaml.compose(text, Loader=_NoTimestampLoader)
        except yaml.YAMLError:
            self.root = None

    def line(self, tokens: list[str]) -> int | None:
        """Return the line of the key (or sequence item) the tokens lead to, or None."""
        node, mark = self.root, None
        for token in tokens:
            if isinstance(node, yaml.MappingNode):
                pair = next((p for p in node.value if str(p[0].value) == token), None)
                if pair is None:
                    return None
                mark, node = pair[0].start_mark, pair[1]
            elif isinstance(node, yaml.SequenceNode) and token.isdigit() and int(token) < len(node.value):
                node = node.value[int(token)]
                mark = node.start_mark
            else:
                return None
        if node is None:
            return None
        return (mark or node.start_mark).line + 1
