"""A start-up cache for SDL schemas: the merged document a schema's SDL parses to, kept in the
user's cache directory so that serving the same SDL again skips graphql-core's parser.

Called by `load_schema` (graphql/schema.py) for SDL sources. Parsing SDL in Python is most of a
large schema's start-up (GitHub's 1.2 MB SDL: ~0.7 s of parsing, block-string descriptions
mostly; ~0.3 s to build the schema from the document); reading the parsed document back costs
less than half of the parse. What is stored is the document after duplicates were merged and
Sandlot's directives declared, without source locations (only the cold path reports places),
and the warnings the merge gave, so a warm start logs the same warnings.

Where: `$XDG_CACHE_HOME/sandlot/graphql/` (default `~/.cache/sandlot/graphql/`); the
environment variable `SANDLOT_GRAPHQL_CACHE` names another directory (an absolute path), or
turns the cache off (`0`). The key is a SHA-256 of the
cache format, the graphql-core and Sandlot versions and every source's name and text, so a
changed file or an upgrade never reads an old entry. An entry is trusted only after checking:
its header (format, versions, key), a SHA-256 of its body, and an unpickler that refuses every
class except graphql-core's AST nodes (a crafted file cannot run code). Anything that fails
(corrupt, truncated, another version, unreadable, not writable) is ignored: the schema is parsed
as without a cache and the entry is written again. Entries are written atomically (a temporary
file renamed into place), so concurrent starts never read half a file; the newest 16 are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import pickle
import tempfile
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from graphql import DocumentNode
from graphql import version as graphql_version
from graphql.language import ast

from sandlot import __version__ as sandlot_version

log = logging.getLogger("sandlot.graphql")

#: Bump when what is stored changes.
FORMAT = 1
_MAGIC = b"sandlot-graphql-sdl-cache\n"
#: The most entries kept: writing one more removes the least recently written.
KEEP = 16
ENV_SWITCH = "SANDLOT_GRAPHQL_CACHE"


def cache_dir() -> Path | None:
    """Return the directory of the cache, or None when it is turned off."""
    switch = os.environ.get(ENV_SWITCH, "").strip()
    if switch.lower() in ("0", "off", "false", "no"):
        return None
    if switch and os.path.isabs(switch):
        return Path(switch)
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if base and os.path.isabs(base):
        return Path(base) / "sandlot" / "graphql"
    try:
        return Path.home() / ".cache" / "sandlot" / "graphql"
    except (RuntimeError, KeyError):  # no home directory to find: no cache
        return None


def key_for(texts: Sequence[tuple[str, str]]) -> str:
    """Return the cache key of SDL sources: (name, text) in order, with the versions that parse them."""
    digest = hashlib.sha256(f"{FORMAT}\0{graphql_version}\0{sandlot_version}".encode())
    for name, text in texts:
        digest.update(b"\0name\0" + name.encode("utf-8", "surrogatepass"))
        digest.update(b"\0text\0" + text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _header(key: str, body: bytes) -> dict[str, Any]:
    return {"format": FORMAT, "graphql-core": graphql_version, "sandlot": sandlot_version, "key": key,
            "sha256": hashlib.sha256(body).hexdigest()}


def _none() -> None:
    """What a source location becomes in the cache (locations are not stored)."""
    return None


class _WithoutLocations(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, ast.Location | ast.Token):
            return _none, ()
        return NotImplemented


class _OnlyAst(pickle.Unpickler):
    """An unpickler that builds graphql-core AST nodes and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if module == ast.__name__:
            found = getattr(ast, name, None)
            if isinstance(found, type) and issubclass(found, ast.Node | Enum):
                return found
        if (module, name) == (__name__, "_none"):
            return _none
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in the SDL cache")


def load(key: str) -> tuple[DocumentNode, list[str]] | None:
    """Return the cached (document, warnings) for a key, or None when there is no sound entry."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"{key}.sdl-cache"
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    try:
        if not raw.startswith(_MAGIC):
            raise ValueError("not a cache entry")
        header_line, _, body = raw[len(_MAGIC):].partition(b"\n")
        if json.loads(header_line) != _header(key, body):
            raise ValueError("another version, key or a damaged body")
        document, warnings = _OnlyAst(io.BytesIO(body)).load()
        if not isinstance(document, DocumentNode) or not isinstance(warnings, list) or \
                not all(isinstance(w, str) for w in warnings):
            raise ValueError("not a document")
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with an entry, it is rebuilt
        log.info("graphql: ignoring the SDL cache entry %s (%s); parsing the schema", path, exc)
        return None
    log.debug("graphql: schema document read from the cache %s", path)
    return document, warnings


def store(key: str, document: DocumentNode, warnings: Sequence[str]) -> None:
    """Write a cache entry (atomically); a cache that cannot be written is skipped, with a note."""
    folder = cache_dir()
    if folder is None:
        return
    buffer = io.BytesIO()
    try:
        _WithoutLocations(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump((document, list(warnings)))
    except (pickle.PicklingError, RecursionError, TypeError) as exc:
        log.info("graphql: the schema document cannot be cached (%s)", exc)
        return
    body = buffer.getvalue()
    data = _MAGIC + json.dumps(_header(key, body), sort_keys=True).encode() + b"\n" + body
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".sdl-cache")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, folder / f"{key}.sdl-cache")
        except BaseException:
            os.unlink(temporary)
            raise
        _prune(folder)
    except OSError as exc:
        log.info("graphql: the SDL cache %s is not writable (%s); starting without it", folder, exc)


def _prune(folder: Path) -> None:
    """Remove the oldest entries beyond KEEP (each edit of a watched schema writes a new one)."""
    entries = []
    for path in folder.glob("*.sdl-cache"):
        try:
            entries.append((path.stat().st_mtime, path))
        except OSError:
            continue
    for _, path in sorted(entries, reverse=True)[KEEP:]:
        with contextlib.suppress(OSError):
            path.unlink()
