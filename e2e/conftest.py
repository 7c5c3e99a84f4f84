"""Fixtures for the e2e tests: a reachable cluster, kubectl/helm, and an image it can run.

Run with `make e2e`. Everything here is opt-in: without KUBECONFIG, or with a cluster that
does not answer, every test is skipped with the reason. The image comes from
SANDLOT_E2E_IMAGE (repository:tag the cluster can pull or already has), or is built with
docker and loaded into a kind or k3d cluster when those tools are present.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "chart"))
from cluster_tools import ToolUnavailable, find_tool  # noqa: E402

LOCAL_TAG = "sandlot:e2e"


@dataclass(frozen=True)
class Cluster:
    """The cluster under test and the command-line tools that talk to it."""

    kubectl: Path
    helm: Path
    context: str

    def run(self, tool: str, args: Sequence[str], timeout: float = 120,
            check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run kubectl or helm against the cluster; with check, fail the test with stderr on error."""
        binary = self.kubectl if tool == "kubectl" else self.helm
        done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout,
                              check=False, input=input_text, cwd=REPO)
        if check and done.returncode != 0:
            pytest.fail(f"{tool} {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done

    def kubectl_text(self, *args: str, timeout: float = 60) -> str:
        """Return kubectl's stdout for `args`."""
        return self.run("kubectl", args, timeout=timeout).stdout


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """Return the cluster in KUBECONFIG, or skip every e2e test saying why there is none."""
    if not os.environ.get("KUBECONFIG"):
        pytest.skip("e2e needs a cluster: KUBECONFIG is not set (e.g. `kind create cluster` and "
                    "`export KUBECONFIG=~/.kube/config`, then `make e2e`)")
    try:
        kubectl, helm = find_tool("kubectl"), find_tool("helm")
    except ToolUnavailable as exc:
        pytest.skip(f"e2e needs kubectl and helm: {exc}")
    probe = subprocess.run([str(kubectl), "get", "--raw", "/readyz", "--request-timeout=10s"],
                           capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"the cluster in KUBECONFIG={os.environ['KUBECONFIG']} is not reachable: "
                    f"{probe.stderr.strip()[:300]}")
    context = subprocess.run([str(kubectl), "config", "current-context"], capture_output=True,
                             text=True, timeout=30, check=False).stdout.strip()
    return Cluster(kubectl=kubectl, helm=helm, context=context)


@pytest.fixture(scope="session")
def sandlot_image(cluster: Cluster) -> tuple[str, str]:
    """Return (repository, tag) of a Sandlot image the cluster can run, building it if needed."""
    given = os.environ.get("SANDLOT_E2E_IMAGE")
    if given:
        repository, _, tag = given.rpartition(":")
        if not repository or "/" in tag:
            pytest.fail(f"SANDLOT_E2E_IMAGE={given} must be repository:tag, e.g. ghcr.io/acme/sandlot:dev")
        return repository, tag
    docker = shutil.which("docker")
    loader = _image_loader(cluster.context)
    if docker is None or loader is None:
        pytest.skip("no image for the cluster: set SANDLOT_E2E_IMAGE=repository:tag (pullable by the "
                    "cluster), or run against a kind/k3d cluster with docker and kind/k3d installed")
    build = subprocess.run([docker, "build", "-f", "images/sandlot/Dockerfile", "-t", LOCAL_TAG, "."],
                           cwd=REPO, capture_output=True, text=True, timeout=1200, check=False)
    if build.returncode != 0:
        pytest.fail(f"docker build failed:\n{build.stderr[-3000:]}")
    load = subprocess.run([*loader, LOCAL_TAG], capture_output=True, text=True, timeout=600, check=False)
    if load.returncode != 0:
        pytest.fail(f"loading the image into the cluster failed:\n{load.stderr[-2000:]}")
    return LOCAL_TAG.split(":")[0], LOCAL_TAG.split(":")[1]


def _image_loader(context: str) -> list[str] | None:
    """Return the command that loads a local image into a kind or k3d cluster, if this is one."""
    if context.startswith("kind-") and shutil.which("kind"):
        return ["kind", "load", "docker-image", "--name", context.removeprefix("kind-")]
    if context.startswith("k3d-") and shutil.which("k3d"):
        return ["k3d", "image", "import", "--cluster", context.removeprefix("k3d-")]
    return None


@pytest.fixture
def unique() -> str:
    """Return a short random suffix so parallel or leftover runs never collide."""
    return uuid.uuid4().hex[:6]


@pytest.fixture
def work_namespace(cluster: Cluster, unique: str) -> Iterator[str]:
    """Create a namespace for the test's SandboxEnvironment and remove it afterwards."""
    name = f"sandlot-e2e-team-{unique}"
    cluster.run("kubectl", ["create", "namespace", name])
    yield name
    cluster.run("kubectl", ["delete", "namespace", name, "--wait=false", "--ignore-not-found"], check=False)
