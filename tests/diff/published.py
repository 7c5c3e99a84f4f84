"""Published versions of GitHub's OpenAPI description, fetched from npm and cached under .cache/diff/.

Used by test_published_specs.py and measure_diff.py (`make bench`). `@octokit/openapi` ships
`generated/api.github.com.json` (13 MB) in every release; `npm pack` downloads one release's
tarball (the npm registry is reachable in CI and here), and the one file is kept (tests/npm.py).
"""

from __future__ import annotations

from pathlib import Path

from tests.npm import Unavailable, package_file

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "diff"
PACKAGE = "@octokit/openapi"
MEMBER = "generated/api.github.com.json"

__all__ = ["CACHE", "Unavailable", "github_spec"]


def github_spec(version: str, cache: Path = CACHE) -> Path:
    """Return the path of api.github.com.json from @octokit/openapi@version, fetching it once."""
    return package_file(PACKAGE, version, MEMBER, cache / f"octokit-openapi-{version}" / "api.github.com.json")
