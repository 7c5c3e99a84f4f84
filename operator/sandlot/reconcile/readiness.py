"""Decide whether a sandbox's workloads are ready, from the objects the API reports.

Pure: the handlers list Deployments, Jobs and Pods of the sandbox namespace and this
module turns them into a verdict whose reason and message a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_IMAGE_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
_CRASHES = {"CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError"}


@dataclass(frozen=True)
class Verdict:
    """Whether the sandbox is ready, and if not, why and what to do."""

    ready: bool
    reason: str
    message: str
    failed: bool = False


def _deployment_ready(dep: dict[str, Any]) -> bool:
    """Return True when a Deployment has rolled out its current generation."""
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    wanted = spec.get("replicas", 1)
    if (status.get("observedGeneration") or 0) < (dep["metadata"].get("generation") or 0):
        return False
    return bool((status.get("updatedReplicas") or 0) >= wanted and (status.get("availableReplicas") or 0) >= wanted)


def _field_of(component: str, downstream: str | None) -> str:
    """Return the CR field a person should look at for a failing component."""
    if component == "app":
        return "spec.app.image"
    if component == "seed":
        return "spec.seed.job.image"
    return f"the stub image of downstream {downstream!r} (operator setting SANDLOT_STUB_IMAGE)"


def _pod_problem(pods: list[dict[str, Any]]) -> Verdict | None:
    """Return a failing verdict for the first pod stuck on its image or crashing, if any."""
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        component = labels.get("app.kubernetes.io/component", "app")
        downstream = labels.get("sandlot.dev/downstream")
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            detail = waiting.get("message") or reason
            if reason in _IMAGE_FAILURES:
                return Verdict(False, "ImagePullFailed",
                               f"{_field_of(component, downstream)}: image {cs.get('image')!r} cannot be pulled "
                               f"({detail}); push the image or fix the reference", failed=True)
            if reason in _CRASHES:
                return Verdict(False, "ContainerFailing",
                               f"{component} container {cs.get('name')!r} in pod {pod['metadata']['name']} "
                               f"is failing ({detail}); check `kubectl logs -n {pod['metadata']['namespace']} "
                               f"{pod['metadata']['name']}`")
    return None


def assess(deployments: list[dict[str, Any]], jobs: list[dict[str, Any]], pods: list[dict[str, Any]]) -> Verdict:
    """Return the readiness verdict for a sandbox's workloads."""
    problem = _pod_problem(pods)
    if problem is not None:
        return problem
    for job in jobs:
        conditions = (job.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Failed" and c.get("status") == "True" for c in conditions):
            return Verdict(False, "SeedJobFailed",
                           f"seed Job {job['metadata']['name']} failed; see `kubectl logs -n "
                           f"{job['metadata']['namespace']} job/{job['metadata']['name']}` and fix spec.seed.job",
                           failed=True)
    waiting = sorted(d["metadata"]["name"] for d in deployments if not _deployment_ready(d))
    pending_jobs = sorted(j["metadata"]["name"] for j in jobs if not (j.get("status") or {}).get("succeeded"))
    if waiting or pending_jobs:
        parts = []
        if waiting:
            parts.append("Deployments not yet available: " + ", ".join(waiting))
        if pending_jobs:
            parts.append("Jobs not yet complete: " + ", ".join(pending_jobs))
        return Verdict(False, "Provisioning", "; ".join(parts))
    return Verdict(True, "Ready", "the app and every stub are available")
