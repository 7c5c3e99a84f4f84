"""Read OLD and NEW for `sandlot diff`: OpenAPI documents through the project's one loader, or GraphQL SDL.

Called by sandlot.diff.run. A source is a file (JSON/YAML, split over many files or not), an
http(s) URL, a ConfigMap manifest holding the document under one data key (as `sandlot mock`
and `sandlot up` accept), or a GraphQL schema (`.graphql`, `.graphqls`, `.gql`, `.sdl`). What cannot be
read raises DiffInputError naming the source and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graphql import print_schema

from sandlot.openapi.loader import ExternalRefRefused, Spec, SpecError, load_spec
from sandlot.openapi.sourcemap import SourceMap
from sandlot.util.introspection import (
    SDL_SUFFIXES,
    IntrospectionError,
    looks_like_introspection,
    schema_from_introspection,
)
from sandlot.util.sources import SourceError, configmap_payload


class DiffInputError(Exception):
    """OLD or NEW cannot be compared: the message names the source and how to fix it.

    `self_contained` is False when the document refers to another file or URL that was not read
    (text_input): it may be fine, it just cannot be compared from its text alone.
    """

    def __init__(self, message: str, *, self_contained: bool = True) -> None:
        super().__init__(message)
        self.self_contained = self_contained


@dataclass
class Input:
    """One side of a diff: an OpenAPI spec (with its source map) or a GraphQL schema's text."""

    source: str          # as given on the command line
    spec: Spec | None = None
    sources: SourceMap | None = None
    sdl: str | None = None

    @property
    def kind(self) -> str:
        """Return "openapi" or "graphql"."""
        return "graphql" if self.sdl is not None else "openapi"


def load_input(source: str) -> Input:
    """Load one side of a diff (raises DiffInputError)."""
    is_url = source.startswith(("http://", "https://"))
    path = Path(source)
    if not is_url and not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise DiffInputError(f"{source} {problem}: give an OpenAPI document (JSON or YAML), a GraphQL schema "
                             f"(.graphql), a ConfigMap manifest holding one, or an http(s) URL")
    try:
        if source.lower().endswith(SDL_SUFFIXES):
            return Input(source, sdl=path.read_text(encoding="utf-8") if not is_url else _fetch(source))
        if not is_url:
            text = path.read_text(encoding="utf-8", errors="replace")
            payload = configmap_payload(text, source)
            if payload is not None:
                key, content = payload
                if key.lower().endswith(SDL_SUFFIXES):
                    return Input(source, sdl=content)
                # Lines inside a ConfigMap's key are not lines of the manifest: report the file only.
                spec = load_spec(source, text=content.encode("utf-8"))
                return Input(source, spec, SourceMap(spec, lines=False))
        spec = load_spec(source)
        return Input(source, spec, SourceMap(spec))
    except SpecError as exc:
        raise DiffInputError(f"{exc}; fix the document (`sandlot mock {source} --check` shows every problem)") \
            from None
    except (SourceError, OSError, UnicodeDecodeError) as exc:
        raise DiffInputError(f"{source}: {exc}") from None


def text_input(name: str, text: str) -> Input:
    """Return one side of a diff from a document's text alone (raises DiffInputError).

    `name` (a file name: `openapi.yaml`, `schema.graphql`) names it in messages and says whether
    it is GraphQL SDL. Nothing else is read: a `$ref` to another file or URL is refused, so the
    operator can compare what a tenant's source served without fetching anything unguarded.
    """
    if name.lower().endswith(SDL_SUFFIXES):
        return Input(name, sdl=text)
    if name.lower().endswith(".json") and looks_like_introspection(text):
        return Input(name, sdl=introspection_sdl(name, text))
    try:
        spec = load_spec(name, text=text.encode("utf-8"), external_refs=False)
    except ExternalRefRefused as exc:
        raise DiffInputError(str(exc), self_contained=False) from None
    except SpecError as exc:
        raise DiffInputError(str(exc)) from None
    return Input(name, spec)  # no source map: a text has no file whose lines could be shown


def _fetch(url: str) -> str:
    """Return the text at an http(s) URL (GraphQL schemas; OpenAPI URLs go through the loader)."""
    from sandlot.openapi.loader import _read

    try:
        return _read(url).decode("utf-8")
    except SpecError as exc:
        raise DiffInputError(f"{exc}") from None


def introspection_sdl(name: str, text: str) -> str:
    """Return the SDL of a GraphQL introspection result, so it is compared as a schema is (raises DiffInputError)."""
    try:
        return print_schema(schema_from_introspection(text))
    except IntrospectionError as exc:
        raise DiffInputError(f"{name}: {exc}") from None
