"""The SDL start-up cache (graphql/cache.py): a second load of the same SDL reads the parsed
document from $XDG_CACHE_HOME instead of parsing, and serves the same schema (directives' hints,
merge warnings); a changed file, another version, a damaged or crafted entry and a cache that
cannot be written are all ignored (the schema is parsed again), never trusted."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from graphql import print_schema

from sandlot.graphql import cache
from sandlot.graphql import schema as gschema
from sandlot.graphql.engine import GraphQLEngine, GraphQLRequest

SHOP = Path(__file__).parent / "fixtures" / "shop.graphql"
DUPLICATED = "type Query { a: Int a: Int b: String }"


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(cache.ENV_SWITCH, raising=False)
    return tmp_path / "xdg" / "sandlot" / "graphql"


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.sdl-cache")) if folder.is_dir() else []


def _parse_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("parsed although the cache holds the document")
    monkeypatch.setattr(gschema, "parse", refuse)


def test_a_second_load_reads_the_cache_and_serves_the_same_schema(cache_home: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    query = GraphQLRequest("{ viewer { name nickname motto tags orders(first: 2) { totalCount } } }")
    cold = GraphQLEngine.from_source(str(SHOP))
    [entry] = _entries(cache_home)
    assert entry.name == f"{cache.key_for([(str(SHOP), SHOP.read_text())])}.sdl-cache"
    _parse_forbidden(monkeypatch)
    warm = GraphQLEngine.from_source(str(SHOP))
    assert print_schema(warm.schema) == print_schema(cold.schema)
    answer = warm.execute(query).result
    assert answer == cold.execute(query).result
    assert answer["data"]["viewer"]["motto"] in ("carpe diem", "veni, vidi, vici")  # @examples read from the cache
    assert len(answer["data"]["viewer"]["tags"]) == 2  # @listLength


def test_merge_warnings_come_back_from_the_cache(cache_home: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    sdl = tmp_path / "dup.graphql"
    sdl.write_text(DUPLICATED)
    cold = gschema.load_schema(str(sdl))
    assert len(cold.warnings) == 1 and "Query.a is defined twice" in cold.warnings[0]
    _parse_forbidden(monkeypatch)
    assert gschema.load_schema(str(sdl)).warnings == cold.warnings


def test_a_changed_file_is_parsed_again(cache_home: Path, tmp_path: Path) -> None:
    sdl = tmp_path / "s.graphql"
    sdl.write_text("type Query { a: Int }")
    gschema.load_schema(str(sdl))
    sdl.write_text("type Query { a: Int b: String }")
    assert set(gschema.load_schema(str(sdl)).schema.query_type.fields) == {"a", "b"}
    assert len(_entries(cache_home)) == 2


def _only_entry(folder: Path) -> tuple[Path, bytes, dict, bytes]:
    [entry] = _entries(folder)
    raw = entry.read_bytes()
    header, _, body = raw[len(cache._MAGIC):].partition(b"\n")
    return entry, raw, json.loads(header), body


def _write(entry: Path, header: dict, body: bytes) -> None:
    entry.write_bytes(cache._MAGIC + json.dumps(header).encode() + b"\n" + body)


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "other graphql-core", "other key", "not an entry"])
def test_a_damaged_or_foreign_entry_is_ignored_and_rebuilt(cache_home: Path, damage: str) -> None:
    GraphQLEngine.from_source(str(SHOP))
    entry, raw, header, body = _only_entry(cache_home)
    if damage == "truncated":
        entry.write_bytes(raw[: len(raw) // 2])
    elif damage == "flipped byte":
        middle = len(body) // 2
        _write(entry, header, body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:])
    elif damage == "other graphql-core":
        _write(entry, {**header, "graphql-core": "0.0.1"}, body)
    elif damage == "other key":
        _write(entry, {**header, "key": "0" * 64}, body)
    else:
        entry.write_bytes(b"hello")
    assert cache.load(cache.key_for([(str(SHOP), SHOP.read_text())])) is None
    engine = GraphQLEngine.from_source(str(SHOP))
    assert "viewer" in engine.schema.query_type.fields
    assert entry.read_bytes() == raw  # written again, sound
    assert cache.load(header["key"]) is not None


class _Touch:
    """A pickle that would create a file if it were ever unpickled by a plain unpickler."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_crafted_entry_with_a_valid_checksum_runs_no_code(cache_home: Path, tmp_path: Path) -> None:
    GraphQLEngine.from_source(str(SHOP))
    entry, _, header, _ = _only_entry(cache_home)
    marker = tmp_path / "pwned"
    body = pickle.dumps((_Touch(marker), []))
    _write(entry, {**header, "sha256": cache.hashlib.sha256(body).hexdigest()}, body)
    assert cache.load(header["key"]) is None
    assert not marker.exists()
    assert "viewer" in GraphQLEngine.from_source(str(SHOP)).schema.query_type.fields


def test_no_cache_when_turned_off_or_not_writable(cache_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv(cache.ENV_SWITCH, "0")
    GraphQLEngine.from_source(str(SHOP))
    assert _entries(cache_home) == []
    monkeypatch.delenv(cache.ENV_SWITCH)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert "viewer" in GraphQLEngine.from_source(str(SHOP)).schema.query_type.fields


def test_the_cache_lives_under_xdg_cache_home_or_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(cache.ENV_SWITCH, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "sandlot" / "graphql"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, as the spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "sandlot" / "graphql"


def test_only_the_newest_entries_are_kept(cache_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "KEEP", 2)
    sdl = tmp_path / "s.graphql"
    for version in range(4):
        sdl.write_text(f"type Query {{ a{version}: Int }}")
        gschema.load_schema(str(sdl))
    kept = _entries(cache_home)
    assert len(kept) == 2
    assert cache.load(cache.key_for([(str(sdl), sdl.read_text())])) is not None  # the latest is among them


def test_no_home_directory_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv(cache.ENV_SWITCH, raising=False)

    def homeless() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(cache.Path, "home", staticmethod(homeless))
    assert cache.cache_dir() is None
    assert "viewer" in GraphQLEngine.from_source(str(SHOP)).schema.query_type.fields


def test_sandlot_graphql_cache_names_another_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(cache.ENV_SWITCH, str(tmp_path / "elsewhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "elsewhere"
    GraphQLEngine.from_source(str(SHOP))
    assert len(_entries(tmp_path / "elsewhere")) == 1 and _entries(tmp_path / "xdg" / "sandlot" / "graphql") == []
