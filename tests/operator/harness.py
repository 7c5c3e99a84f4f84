"""Run the real kopf operator in-process against the Kubernetes API emulator.

`OperatorRunner` starts `kopf.operator()` with Sandlot's handlers in a thread with its own
event loop, and stops it through kopf's stop flag, so a test can also kill it mid-way and
start a fresh one (a restart). `Cluster` wraps the emulator with the few helpers the tests
need: apply a CR, wait for a condition, and play the kubelet by marking workloads available.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kopf
import kubernetes
from kubernetes.client.exceptions import ApiException

from sandlot.kube import Kube

GROUP, VERSION, PLURAL = "sandlot.dev", "v1alpha1", "sandboxenvironments"


class OperatorRunner:
    """One in-process operator: start it, stop it, start another."""

    def __init__(self, stubs: Any = None) -> None:
        #: How the operator reaches the stubs (controller/stubs.py); None: over HTTP at their in-cluster URLs.
        self.stubs = stubs
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.error: BaseException | None = None

    def start(self, timeout: float = 30) -> OperatorRunner:
        """Start the operator and wait until it watches."""
        from sandlot.controller.handlers import build_registry

        self._stop, self._ready = threading.Event(), threading.Event()
        registry = build_registry(stubs=self.stubs)

        def run() -> None:
            try:
                asyncio.run(kopf.operator(registry=registry, clusterwide=True, standalone=True,
                                          stop_flag=self._stop, ready_flag=self._ready, memo=kopf.Memo()))
            except BaseException as exc:  # surfaced to the test through .error
                self.error = exc

        self._thread = threading.Thread(target=run, name="kopf-operator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"operator did not become ready: {self.error}")
        return self

    def stop(self, timeout: float = 30) -> None:
        """Stop the operator the way a SIGTERM would, and wait for its thread."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        alive = self._thread.is_alive()
        self._thread = None
        if alive:
            raise RuntimeError("operator did not stop in time")

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


#: Kinds a test may list in a namespace on either backend (what the operator creates, and Pods/Events).
NAMESPACED_KINDS = [
    ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "ServiceAccount"), ("v1", "ResourceQuota"),
    ("v1", "LimitRange"), ("v1", "Pod"), ("apps/v1", "Deployment"), ("batch/v1", "Job"),
    ("networking.k8s.io/v1", "NetworkPolicy"), ("v1", "Event"),
]


class Cluster:
    """Test-side access to a Kubernetes API, the emulator's or a real apiserver's, through the official client.

    `backend` is "emulator" or "kube-apiserver". The few places the two differ are methods
    here: `mark_workloads_available` plays the Deployment/Job controllers and the kubelet on the
    emulator (on the real control plane they and kwok do it, so it marks nothing), and
    `objects` reads the emulator's store or lists through the API.
    """

    def __init__(self, kubeconfig: Path, *, emulator: Any = None, plane: Any = None, namespace: str = "team") -> None:
        self.emulator = emulator
        self.plane = plane
        self.backend = "emulator" if emulator is not None else "kube-apiserver"
        self.ns = namespace
        #: The kubeconfig an operator under test uses (on the real control plane: the chart's ServiceAccount).
        self.operator_kubeconfig: Path = kubeconfig
        self.api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        self.kube = Kube(self.api)
        self.custom = kubernetes.client.CustomObjectsApi(self.api)

    def close(self) -> None:
        self.api.close()

    def ensure_namespace(self, name: str) -> None:
        """Create the namespace if missing; on the real control plane, return once it is filled.

        kube-controller-manager puts kube-root-ca.crt and the default ServiceAccount into every
        new namespace on its own time; a snapshot taken before that would count them as changes.
        """
        if self.kube.get("v1", "Namespace", name) is None:
            self.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        if self.plane is not None:
            self.wait_namespace_filled(name)

    def wait_namespace_filled(self, name: str, timeout: float = 60) -> None:
        """Wait until kube-controller-manager has put its own objects into namespace `name`."""
        deadline = time.monotonic() + timeout
        while (self.kube.get("v1", "ConfigMap", "kube-root-ca.crt", name) is None
               or self.kube.get("v1", "ServiceAccount", "default", name) is None):
            if time.monotonic() > deadline:
                raise AssertionError(f"kube-controller-manager did not fill namespace {name} in {timeout:.0f} s")
            time.sleep(0.1)

    def apply_sandbox(self, namespace: str, name: str, spec: dict[str, Any],
                      annotations: dict[str, str] | None = None) -> dict[str, Any]:
        """Create a SandboxEnvironment (as `kubectl apply` of a new object would)."""
        metadata: dict[str, Any] = {"name": name, "namespace": namespace}
        if annotations:
            metadata["annotations"] = annotations
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "SandboxEnvironment", "metadata": metadata, "spec": spec}
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    def patch_sandbox(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.kube.patch(f"{GROUP}/{VERSION}", "SandboxEnvironment", name, patch, namespace=namespace)

    def sandbox(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get(f"{GROUP}/{VERSION}", "SandboxEnvironment", name, namespace)

    def delete_sandbox(self, namespace: str, name: str) -> None:
        self.kube.delete(f"{GROUP}/{VERSION}", "SandboxEnvironment", name, namespace)

    def configmap(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self.ensure_namespace(namespace)
        self.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": name, "namespace": namespace}, "data": data})

    def ready_condition(self, namespace: str, name: str) -> dict[str, Any]:
        body = self.sandbox(namespace, name) or {}
        for cond in (body.get("status") or {}).get("conditions") or []:
            if cond["type"] == "Ready":
                return cond
        return {}

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[dict[str, Any]]:
        """Return the objects of a kind (or of every kind a test looks at) in a namespace (or all)."""
        if self.emulator is not None:
            return self.emulator.objects(kind, namespace)
        if kind == "Namespace":
            return self.kube.list("v1", "Namespace")
        kinds = [k for k in NAMESPACED_KINDS if kind is None or k[1] == kind]
        if not kinds:
            raise ValueError(f"unknown kind {kind!r}")
        found = []
        for api_version, k in kinds:
            if k == "Event":  # not a kind the operator's client knows; read through the typed client
                core = kubernetes.client.CoreV1Api(self.api)
                listed = core.list_namespaced_event(namespace) if namespace else core.list_event_for_all_namespaces()
                found += [{**self.api.sanitize_for_serialization(e), "kind": "Event"} for e in listed.items]
                continue
            for obj in self.kube.list(api_version, k, namespace):
                obj.setdefault("kind", k)
                found.append(obj)
        return found

    def managed(self, namespace: str) -> list[tuple[str, str]]:
        """Return (kind, name) of what the operator manages in `namespace`, sorted.

        Pods (made by the ReplicaSet controller from the operator's pod templates, so they carry
        its labels) and Events are not the operator's objects and are left out.
        """
        return sorted((o["kind"], o["metadata"]["name"]) for o in self.objects(namespace=namespace)
                      if o["kind"] not in ("Event", "Pod")
                      and (o["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "sandlot")

    def event_reasons(self, namespace: str) -> set[str]:
        """Return the reasons of the Events in `namespace`."""
        return {e.get("reason") for e in self.objects("Event", namespace)}

    def mark_workloads_available(self, namespace: str) -> int:
        """Play the Deployment/Job controllers on the emulator: report every workload in `namespace` as done.

        Returns how many were marked; on a real control plane the controllers and kwok do this,
        so nothing is marked and 0 is returned.
        """
        if self.emulator is None:
            return 0
        marked = 0
        for dep in self.kube.list("apps/v1", "Deployment", namespace):
            replicas = dep["spec"].get("replicas", 1)
            status = {"observedGeneration": dep["metadata"]["generation"], "replicas": replicas,
                      "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}
            if dep.get("status") != status:
                self.kube.patch("apps/v1", "Deployment", dep["metadata"]["name"], {"status": status},
                                namespace=namespace, status=True)
                marked += 1
        for job in self.kube.list("batch/v1", "Job", namespace):
            if not (job.get("status") or {}).get("succeeded"):
                self.kube.patch("batch/v1", "Job", job["metadata"]["name"], {"status": {"succeeded": 1}},
                                namespace=namespace, status=True)
                marked += 1
        return marked


class Repeating:
    """Call `step()` every `every` seconds from a thread while the `with` block lasts (samplers, traffic)."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def step(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.every)


def wait_for(predicate: Callable[[], Any], *, timeout: float = 60, interval: float = 0.1,
             what: str = "condition", details: Callable[[], Any] | None = None) -> Any:
    """Poll `predicate` until it returns a truthy value; fail with `what` (and `details()`) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except ApiException as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    extra = f"; details: {details()!r}" if details is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}{extra}")


class OperatorProcess:
    """`sandlot operator` as a separate process (as in a pod): started, SIGKILLed or stopped by a test.

    Its output goes to `log`; `kubeconfig` is the identity it runs as. Extra arguments (such as
    `--peering NAME`) are passed through; without `--peering` it runs standalone.
    """

    def __init__(self, kubeconfig: Path, log: Path, *args: str) -> None:
        self.kubeconfig = kubeconfig
        self.log = log
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.health_port = 0

    def start(self) -> OperatorProcess:
        """Start the process and wait until its liveness endpoint answers."""
        from tests.ports import free_port

        self.health_port = free_port()
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        with self.log.open("ab") as out:
            out.write(b"\n=== operator start\n")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sandlot.cli", "operator", "--health-port", str(self.health_port),
                 "--metrics-port", str(free_port()), *self.args],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._healthy, timeout=60, what="the operator process's /healthz",
                 details=lambda: self.text()[-3000:])
        return self

    def _healthy(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"the operator process exited ({self.proc and self.proc.returncode}):\n"
                                 f"{self.text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the process (no clean-up of any kind, as when a node dies)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM the process and wait for it; return its exit code."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.proc = None
        return code

    def text(self) -> str:
        """Return everything the process has logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def lines_about(self, name: str) -> list[dict[str, Any]]:
        """Return the JSON log lines kopf wrote about the object called `name`."""
        found = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if (entry.get("object") or {}).get("name") == name:
                    found.append(entry)
        return found
