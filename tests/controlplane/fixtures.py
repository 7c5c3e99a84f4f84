"""Pytest fixtures of the cluster tier: a real control plane, the chart installed, the operator's identity.

Registered from tests/conftest.py. `control_plane` builds the binaries on first use (cached),
starts one control plane per test session and stops it at the end; `sandlot_release` installs
charts/sandlot into it with the real Helm CLI and yields the kubeconfig of the chart's
ServiceAccount (a TokenRequest token), so an operator run with it has exactly the chart's
ClusterRole. Without Go >= 1.26 the tier is skipped with the reason, unless
SANDLOT_REQUIRE_CLUSTER=1 (set by .ci/run), where it fails instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.controlplane.build import BuildFailed, GoUnavailable, ensure_built
from tests.controlplane.cluster import ControlPlane, write_kubeconfig

REPO = Path(__file__).resolve().parents[2]
RELEASE, RELEASE_NAMESPACE = "sandlot", "sandlot-system"
#: Set to 1 to make a missing Go or a failed build an error instead of a skip (CI does).
REQUIRE_VARIABLE = "SANDLOT_REQUIRE_CLUSTER"
CONTROL_PLANE_KEY = pytest.StashKey[ControlPlane]()


def tier_unavailable(reason: str) -> None:
    """Skip the test with `reason`, or fail it when the tier is required."""
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"the cluster tier is required ({REQUIRE_VARIABLE}=1) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"cluster tier skipped: {reason}")


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """Yield a started control plane (etcd, apiserver, controller-manager, scheduler, kwok) for the session."""
    try:
        binaries = ensure_built(lambda msg: print(msg, file=sys.stderr, flush=True))
    except (GoUnavailable, BuildFailed) as exc:
        tier_unavailable(str(exc))
    plane = ControlPlane.started(binaries)
    request.config.stash[CONTROL_PLANE_KEY] = plane
    try:
        yield plane
    finally:
        plane.stop()





@dataclass
class Release:
    """The chart installed in the control plane, and the operator's credentials."""

    plane: ControlPlane
    operator_kubeconfig: Path
    service_account: str
    namespace: str = RELEASE_NAMESPACE


def helm(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real helm CLI against the control plane; raise with its output on failure."""
    from tests.chart.cluster_tools import find_helm

    cmd = [str(find_helm()), *args, "--kubeconfig", str(plane.admin_kubeconfig)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def service_account_token(plane: ControlPlane, namespace: str, name: str, seconds: int = 86400) -> str:
    """Return a token for a ServiceAccount from the TokenRequest API."""
    status, body = plane.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                                 {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                  "spec": {"expirationSeconds": seconds}})
    if status != 201:
        raise AssertionError(f"TokenRequest for {namespace}/{name} failed ({status}): {body}")
    return body["status"]["token"]


@pytest.fixture(scope="session")
def sandlot_release(control_plane: ControlPlane) -> Iterator[Release]:
    """Install charts/sandlot with helm and yield the operator ServiceAccount's kubeconfig."""
    helm(control_plane, "install", RELEASE, str(REPO / "charts" / "sandlot"), "--namespace", RELEASE_NAMESPACE,
         "--create-namespace", "--wait=false")
    account = f"{RELEASE}"  # the chart names its ServiceAccount after the release's full name
    status, sa = control_plane.request("GET", f"/api/v1/namespaces/{RELEASE_NAMESPACE}/serviceaccounts/{account}")
    assert status == 200, f"the chart created no ServiceAccount {RELEASE_NAMESPACE}/{account}: {sa}"
    token = service_account_token(control_plane, RELEASE_NAMESPACE, account)
    kubeconfig = write_kubeconfig(control_plane.workdir / "operator.kubeconfig", control_plane.server,
                                  control_plane.pki.ca_cert, user=f"system:serviceaccount:{RELEASE_NAMESPACE}:{account}",
                                  token=token)
    yield Release(control_plane, kubeconfig, account)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the last log lines of every control plane component to a failed cluster-tier test."""
    outcome = yield
    report = outcome.get_result()
    plane = item.config.stash.get(CONTROL_PLANE_KEY, None)
    if report.failed and plane is not None and item.get_closest_marker("cluster") is not None:
        report.sections.append(("control plane logs", plane.log_tails()))
