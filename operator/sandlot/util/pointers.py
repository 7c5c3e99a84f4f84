"""JSON pointers and `$ref`s in a parsed document: resolve, escape and follow them.

The one `deref` of the code base: the mock engine's schema index, the stateful model's
inference and the webhook readers follow local references through it. A reference it cannot
follow (external, dangling, or a cycle) becomes `{}`, the schema that says nothing.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

#: How many `$ref` hops `deref` follows before it calls the chain a cycle.
MAX_REF_HOPS = 64


def escape_token(token: str) -> str:
    """Escape one JSON pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def unescape_token(token: str) -> str:
    """Undo `escape_token` for one reference token."""
    return token.replace("~1", "/").replace("~0", "~")


def resolve_pointer(document: Any, pointer: str) -> Any:
    """Return the node at a JSON pointer ("" or "/a/b"); raise KeyError when it does not exist."""
    node = document
    if not pointer:
        return node
    if not pointer.startswith("/"):
        raise KeyError(pointer)
    for raw in pointer[1:].split("/"):
        token = unescape_token(urllib.parse.unquote(raw))
        if isinstance(node, list):
            try:
                node = node[int(token)]
            except (ValueError, IndexError):
                raise KeyError(pointer) from None
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise KeyError(pointer)
    return node


def deref(document: Any, node: Any) -> Any:
    """Follow local `$ref`s from `node` until a node that is not a reference.

    An external, dangling or cyclic reference gives `{}` (bundled specs hold only local ones).
    """
    for _ in range(MAX_REF_HOPS):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            return node
        ref = node["$ref"]
        if not ref.startswith("#"):
            return {}
        try:
            node = resolve_pointer(document, ref[1:])
        except KeyError:
            return {}
    return {}
