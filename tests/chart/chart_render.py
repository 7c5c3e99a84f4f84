"""Render charts/sandlot/ with the real helm and pick objects out of the result.

Used by the chart tests (through conftest.py fixtures) and by e2e/ for the helm calls.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import yaml
from cluster_tools import REPO

CHART = REPO / "charts" / "sandlot"
RELEASE = "sandlot"
NAMESPACE = "sandlot-system"


def run_helm(helm: Path, args: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run helm with `args` from the repository root and return the finished process."""
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO,
    )


def template_args(*, kube_version: str = "1.33.0", include_crds: bool = False,
                  values_file: Path | None = None, sets: Sequence[str] = ()) -> list[str]:
    """Build the argument list of `helm template` for the chart."""
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", kube_version]
    if include_crds:
        args.append("--include-crds")
    if values_file is not None:
        args += ["--values", str(values_file)]
    for item in sets:
        args += ["--set", item]
    return args


def parse_manifests(text: str) -> list[dict]:
    """Return the non-empty YAML documents of a rendered manifest stream."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    """Return the objects of one kind, in rendering order."""
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict], kind: str) -> dict:
    """Return the single object of `kind`, failing when there is not exactly one."""
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def named(objects: list[dict], kind: str, name: str) -> dict:
    """Return the object of `kind` called `name`, failing when it is not rendered."""
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]
