"""Stand in for the Deployment and Job controllers, which the emulator does not run.

Off by default: a Deployment created in the emulator never becomes available,
as nothing schedules pods. `KubeEmulator.simulate_workloads()` switches this on;
the store then calls `WorkloadSimulator.status_for` after every write of a
Deployment or Job (not after /status writes) and stores the status it returns,
as a controller would. Images listed in `unpullable_images` never start: their
Deployment stays unavailable and their Job fails, with the apiserver's reasons.
Pure except for the settings it holds; no pods or ReplicaSets are created.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

DEPLOYMENTS = ("apps", "deployments")
JOBS = ("batch", "jobs")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, status: bool, reason: str, message: str) -> dict[str, Any]:
    now = _now()
    return {"type": kind, "status": "True" if status else "False", "reason": reason, "message": message,
            "lastUpdateTime": now, "lastTransitionTime": now}


def _images(obj: dict[str, Any]) -> list[str]:
    pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]
    return [c.get("image", "") for c in containers]


@dataclasses.dataclass
class WorkloadSimulator:
    """Decide the status a Deployment or Job would reach once its controller has acted."""

    enabled: bool = False
    unpullable_images: set[str] = dataclasses.field(default_factory=set)

    def status_for(self, rtkey: tuple[str, str], obj: dict[str, Any]) -> dict[str, Any] | None:
        """Return the status the controller would write for this object, or None to leave it alone."""
        if not self.enabled or rtkey not in (DEPLOYMENTS, JOBS):
            return None
        blocked = [image for image in _images(obj) if image in self.unpullable_images]
        if rtkey == DEPLOYMENTS:
            if (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get("generation", 1):
                return None  # nothing new to roll out (a metadata-only change)
            return self._deployment_status(obj, blocked)
        return self._job_status(obj, blocked)

    @staticmethod
    def _deployment_status(obj: dict[str, Any], blocked: list[str]) -> dict[str, Any]:
        name, generation = obj["metadata"]["name"], obj["metadata"].get("generation", 1)
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        status: dict[str, Any] = {"observedGeneration": generation}
        if replicas:
            status.update(replicas=replicas, updatedReplicas=replicas)
        if blocked:
            if replicas:
                status["unavailableReplicas"] = replicas
            status["conditions"] = [
                _condition("Available", False, "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
                _condition("Progressing", False, "ProgressDeadlineExceeded",
                           f'ReplicaSet "{name}" has timed out progressing: image {blocked[0]} cannot be pulled'),
            ]
            return status
        if replicas:
            status.update(readyReplicas=replicas, availableReplicas=replicas)
        status["conditions"] = [
            _condition("Available", True, "MinimumReplicasAvailable", "Deployment has minimum availability."),
            _condition("Progressing", True, "NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.'),
        ]
        return status

    @staticmethod
    def _job_status(obj: dict[str, Any], blocked: list[str]) -> dict[str, Any]:
        current = obj.get("status") or {}
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in current.get("conditions") or []):
            return current  # a finished Job stays finished
        now = _now()
        if blocked:
            backoff = (obj.get("spec") or {}).get("backoffLimit", 6)
            return {"startTime": now, "failed": backoff + 1, "conditions": [
                _condition("Failed", True, "BackoffLimitExceeded", "Job has reached the specified backoff limit")]}
        return {"startTime": now, "completionTime": now, "succeeded": 1, "conditions": [
            _condition("Complete", True, "Completed", "Job completed")]}
