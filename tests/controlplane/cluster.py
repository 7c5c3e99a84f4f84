"""Start and stop a real Kubernetes control plane on 127.0.0.1 for the cluster test tier.

Used by tests/controlplane/fixtures.py (the `control_plane` fixture) and by `make cluster`.
Order, as a kubeadm cluster boots: etcd -> kube-apiserver (generated CA, serving and client
certificates, service-account signing keys, `--authorization-mode=Node,RBAC`) ->
kube-controller-manager (garbage collector, namespace, deployment/replicaset, job,
serviceaccount, root-CA publisher ...) -> kube-scheduler -> kwok, which fakes one Node and
moves the pods bound to it to Running and Ready with no container runtime. Every process logs
to `<workdir>/logs/<name>.log`; `stop()` ends each one (SIGTERM, then SIGKILL) in reverse order.
The flags follow controller-runtime's envtest (apiserver.go, auth.go), plus the controllers,
scheduler and kwok that envtest leaves out.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.controlplane.build import Binaries, kwok_stages_dir
from tests.ports import free_port

#: The Service network; the apiserver takes its first address for `kubernetes.default`.
SERVICE_CIDR = "10.96.0.0/16"
#: Fake nodes are big enough for the 1,000-sandbox benchmark (two pods per sandbox).
NODE_CAPACITY = {"cpu": "4000", "memory": "16Ti", "pods": "5000", "ephemeral-storage": "10Ti"}
NODE_NAME = "kwok-node-0"
#: Audit policy: every write a ServiceAccount makes (the operator runs as one) at Metadata level,
#: nothing else. Tests and benchmarks read it to count the operator's API writes and to prove
#: what it did or did not touch.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "userGroups": ["system:serviceaccounts"],
         "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}
#: An image whose tag is `nope` stands for one its registry does not have: kwok keeps such a
#: pod Pending in ImagePullBackOff, as a kubelet would, instead of running it.
UNPULLABLE_SUFFIX = ":nope"
_UNPULLABLE_KEY = f'.spec.containers.[] | select(.image | endswith("{UNPULLABLE_SUFFIX}")) | .name'
_PULL_FAILED_STAGE = {
    "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": "pod-image-pull-failed"},
    "spec": {
        "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
        "selector": {"matchExpressions": [
            {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
            {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
            {"key": _UNPULLABLE_KEY, "operator": "Exists"},
            {"key": ".status.containerStatuses.[].state.waiting.reason", "operator": "NotIn",
             "values": ["ImagePullBackOff"]},
        ]},
        "next": {"statusTemplate": """{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: PodScheduled
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    waiting:
      reason: ImagePullBackOff
      message: {{ printf "Back-off pulling image %q: manifest unknown" .image | Quote }}
{{ end }}
phase: Pending
"""},
    },
}


def kwok_config(stages_dir: Path, target: Path) -> Path:
    """Write kwok's configuration: its fast stages, with pods of unpullable images failing to pull."""
    docs = [yaml.safe_load(f.read_text()) for f in sorted(stages_dir.glob("*.yaml"))]
    for doc in docs:
        if doc["metadata"]["name"] in ("pod-ready", "pod-complete"):
            doc["spec"]["selector"]["matchExpressions"].append({"key": _UNPULLABLE_KEY, "operator": "DoesNotExist"})
    docs.append(_PULL_FAILED_STAGE)
    target.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return target


class ControlPlaneError(RuntimeError):
    """A component did not start; the message names it and the tail of its log."""


@dataclass
class Pki:
    """The files the components authenticate with, written under `<workdir>/pki`."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    sa_private: Path
    sa_public: Path
    clients: dict[str, tuple[Path, Path]] = field(default_factory=dict)


def _write_key(path: Path, key: Any) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def issue_certificate(subject: x509.Name, public_key: Any, issuer: x509.Name, signing_key: Any, *, ca: bool = False,
          sans: list[x509.GeneralName] | None = None, client: bool = False) -> x509.Certificate:
    """Return a certificate valid for a week: a CA, a serving or a client certificate."""
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=7))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    else:
        usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def make_pki(directory: Path, client_identities: dict[str, tuple[str, list[str]]]) -> Pki:
    """Write a CA, the apiserver's serving pair, service-account keys and one client pair per identity.

    `client_identities` maps a short name to (user name, groups); the groups become the
    certificate's organisations, which the apiserver reads as the user's groups.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandlot-test-ca")])
    ca_cert = issue_certificate(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)
    pki = Pki(ca_cert=directory / "ca.crt", ca_key=directory / "ca.key",
              serving_cert=directory / "apiserver.crt", serving_key=directory / "apiserver.key",
              sa_private=directory / "sa.key", sa_public=directory / "sa.pub")
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.ca_key, ca_key)

    serving_key = ec.generate_private_key(ec.SECP256R1())
    service_ip = next(ipaddress.ip_network(SERVICE_CIDR).hosts())
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"), x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"), x509.DNSName("kubernetes.default.svc.cluster.local"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(service_ip),
    ]
    serving = issue_certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
                    serving_key.public_key(), ca_name, ca_key, sans=sans)
    pki.serving_cert.write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.serving_key, serving_key)

    # RSA for service-account tokens: every client library verifies RS256.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pki.sa_private, sa_key)
    pki.sa_public.write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    for short, (user, groups) in client_identities.items():
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user),
                             *[x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]])
        cert = issue_certificate(subject, key.public_key(), ca_name, ca_key, client=True)
        cert_path, key_path = directory / f"{short}.crt", directory / f"{short}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
        pki.clients[short] = (cert_path, key_path)
    return pki


def write_kubeconfig(path: Path, server: str, ca_cert: Path, *, user: str, cert: Path | None = None,
                     key: Path | None = None, token: str | None = None, namespace: str = "default") -> Path:
    """Write a kubeconfig with one cluster, one user (client certificate or bearer token) and one context."""
    credentials: dict[str, str] = {}
    if cert is not None and key is not None:
        credentials["client-certificate-data"] = base64.b64encode(cert.read_bytes()).decode()
        credentials["client-key-data"] = base64.b64encode(key.read_bytes()).decode()
    if token is not None:
        credentials["token"] = token
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "sandlot-test",
        "clusters": [{"name": "sandlot-test", "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca_cert.read_bytes()).decode()}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "sandlot-test", "context": {"cluster": "sandlot-test", "user": user,
                                                          "namespace": namespace}}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


@dataclass
class Process:
    """One running component and its log."""

    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        """Start the component in its own process group, appending to its log."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n=== {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            self.popen = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True, env=env)

    def alive(self) -> bool:
        """Tell whether the component is still running."""
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10) -> None:
        """End the component: SIGTERM to its group, SIGKILL after `timeout` seconds."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.popen.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.popen = None

    def tail(self, lines: int = 40) -> str:
        """Return the last lines of the log."""
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on 127.0.0.1."""

    def __init__(self, workdir: Path, binaries: Binaries) -> None:
        self.workdir = workdir
        self.bins = binaries
        self.logs = workdir / "logs"
        self.etcd_port, self.etcd_peer_port, self.api_port = free_port(), free_port(), free_port()
        self.kwok_port = free_port()
        self.server = f"https://127.0.0.1:{self.api_port}"
        self.audit_log = workdir / "logs" / "audit.jsonl"
        self.pki = make_pki(workdir / "pki", {
            "admin": ("sandlot-test-admin", ["system:masters"]),
            "controller-manager": ("system:kube-controller-manager", ["system:masters"]),
            "scheduler": ("system:kube-scheduler", []),
        })
        self.admin_kubeconfig = self._kubeconfig("admin")
        kcm_config, sched_config = self._kubeconfig("controller-manager"), self._kubeconfig("scheduler")
        b = binaries
        self.procs = {
            "etcd": Process("etcd", [
                str(b.etcd), "--name=sandlot-test", f"--data-dir={workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
                f"--initial-cluster=sandlot-test=http://127.0.0.1:{self.etcd_peer_port}",
                "--unsafe-no-fsync", "--log-level=warn", "--quota-backend-bytes=4294967296",
            ], self.logs / "etcd.log"),
            "kube-apiserver": Process("kube-apiserver", [
                str(b.kube_apiserver), f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.api_port}",
                f"--cert-dir={workdir / 'apiserver-certs'}",
                f"--tls-cert-file={self.pki.serving_cert}", f"--tls-private-key-file={self.pki.serving_key}",
                f"--client-ca-file={self.pki.ca_cert}",
                f"--service-account-key-file={self.pki.sa_public}",
                f"--service-account-signing-key-file={self.pki.sa_private}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
                "--allow-privileged=true", "--event-ttl=1h", "--v=1",
                f"--audit-policy-file={self._write_yaml('audit-policy.yaml', AUDIT_POLICY)}",
                f"--audit-log-path={self.audit_log}", "--audit-log-maxsize=0", "--audit-log-mode=blocking",
                # The loopback address cannot back the `kubernetes` Service; nothing in the tests uses it.
                "--endpoint-reconciler-type=none",
            ], self.logs / "kube-apiserver.log"),
            "kube-controller-manager": Process("kube-controller-manager", [
                str(b.kube_controller_manager), f"--kubeconfig={kcm_config}",
                "--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false",
                f"--service-account-private-key-file={self.pki.sa_private}",
                f"--root-ca-file={self.pki.ca_cert}", "--cluster-name=sandlot-test",
                # Finish terminating namespaces and collect garbage quickly: tests wait on both.
                "--concurrent-namespace-syncs=10", "--concurrent-gc-syncs=20",
                "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
                "--kube-api-qps=200", "--kube-api-burst=400", "--v=1",
            ], self.logs / "kube-controller-manager.log"),
            "kube-scheduler": Process("kube-scheduler", [
                str(b.kube_scheduler), f"--kubeconfig={sched_config}", "--leader-elect=false",
                "--secure-port=0", "--kube-api-qps=200", "--kube-api-burst=400", "--v=1",
            ], self.logs / "kube-scheduler.log"),
            "kwok": Process("kwok", [
                str(b.kwok), f"--kubeconfig={self.admin_kubeconfig}", "--manage-all-nodes=true",
                f"--config={kwok_config(kwok_stages_dir(b), workdir / 'kwok.yaml')}",
                f"--server-address=127.0.0.1:{self.kwok_port}", "--cidr=10.244.0.0/16", "--node-ip=10.0.0.2",
                # kwok renews the node Lease (the heartbeat the node controller reads); without it the
                # fake node turns NotReady after 40 s and every pod with it.
                "--node-lease-duration-seconds=40",
            ], self.logs / "kwok.log"),
        }

    def _write_yaml(self, name: str, doc: Any) -> Path:
        path = self.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def audit_events(self, user: str | None = None) -> list[dict[str, Any]]:
        """Return the audit log's events (ServiceAccount writes), optionally only those of `user`."""
        if not self.audit_log.exists():
            return []
        events = []
        for line in self.audit_log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written right now
            if user is None or event.get("user", {}).get("username") == user:
                events.append(event)
        return events

    def _kubeconfig(self, short: str) -> Path:
        cert, key = self.pki.clients[short]
        return write_kubeconfig(self.workdir / f"{short}.kubeconfig", self.server, self.pki.ca_cert,
                                user=short, cert=cert, key=key)

    # ----- lifecycle -------------------------------------------------------------------------

    @classmethod
    def started(cls, binaries: Binaries, workdir: Path | None = None, attempts: int = 3) -> ControlPlane:
        """Return a started control plane in `workdir` (a new temporary one by default), with
        new ports when a component could not listen on one of them: a port picked free can be
        taken before the component binds it (an outgoing connection's source port, for one)."""
        for attempt in range(attempts):
            home = workdir / f"try-{attempt}" if workdir is not None and attempt else workdir
            home = home or Path(tempfile.mkdtemp(prefix="sandlot-cluster-"))
            home.mkdir(parents=True, exist_ok=True)
            try:
                return cls(home, binaries).start()
            except ControlPlaneError as exc:
                if "address already in use" not in str(exc) or attempt == attempts - 1:
                    raise
                print(f"control plane: a port was taken before it was bound; starting again ({exc})".splitlines()[0],
                      file=sys.stderr, flush=True)
        raise AssertionError("unreachable")

    def start(self, timeout: float = 120) -> ControlPlane:
        """Start every component in order and wait until the cluster runs pods; stop all on failure."""
        try:
            self._start("etcd")
            self._wait(lambda: self._etcd_healthy(), "etcd", timeout)
            self.start_apiserver(timeout)
            for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
                self._start(name)
            self._create_node()
            self._wait(self._default_service_account_exists, "kube-controller-manager (default ServiceAccount)",
                       timeout)
            self._wait(self._node_ready, "kwok (Node Ready)", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_apiserver(self, timeout: float = 120) -> None:
        """Start kube-apiserver and wait until /readyz answers ok."""
        self._start("kube-apiserver")
        self._wait(self.apiserver_ready, "kube-apiserver (/readyz)", timeout)

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver only (etcd keeps the data; the other components keep retrying)."""
        self.procs["kube-apiserver"].stop()

    def stop(self) -> None:
        """Stop every component, last started first."""
        for proc in reversed(list(self.procs.values())):
            proc.stop()

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, name: str) -> None:
        self.procs[name].start(env={**os.environ, "KUBECONFIG": ""})

    def _wait(self, check: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p for p in self.procs.values() if p.popen is not None and not p.alive()]
            if dead:
                raise ControlPlaneError(f"{dead[0].name} exited (code {dead[0].popen.returncode}) while waiting for "
                                        f"{what}; last log lines:\n{dead[0].tail()}")
            try:
                if check():
                    return
            except (OSError, urllib.error.URLError, ssl.SSLError, json.JSONDecodeError):
                pass
            time.sleep(0.2)
        name = what.split(" ")[0]
        proc = self.procs.get(name)
        raise ControlPlaneError(f"{what} not ready after {timeout:.0f} s; last log lines:\n"
                                f"{proc.tail() if proc else '(no log)'}")

    # ----- checks ----------------------------------------------------------------------------

    def _etcd_healthy(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.etcd_port}/health", timeout=2) as resp:
            return json.loads(resp.read()).get("health") == "true"

    def ssl_context(self) -> ssl.SSLContext:
        """Return a TLS context that trusts the test CA and presents the admin certificate."""
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        cert, key = self.pki.clients["admin"]
        ctx.load_cert_chain(str(cert), str(key))
        return ctx

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json") -> tuple[int, Any]:
        """Call the API as the admin and return (status, decoded JSON body or text)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as resp:
                raw, status = resp.read(), resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace")

    def apiserver_ready(self) -> bool:
        """Tell whether the apiserver answers /readyz with ok."""
        status, _ = self.request("GET", "/readyz")
        return status == 200

    def _default_service_account_exists(self) -> bool:
        status, _ = self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        return status == 200

    def _create_node(self) -> None:
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": NODE_NAME, "annotations": {"kwok.x-k8s.io/node": "fake",
                                                               "node.alpha.kubernetes.io/ttl": "0"},
                             "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux",
                                        "kubernetes.io/arch": "amd64", "type": "kwok"}},
                "spec": {}, "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY}}
        status, body = self.request("POST", "/api/v1/nodes", node)
        if status not in (201, 409):
            raise ControlPlaneError(f"creating the fake Node failed ({status}): {body}")

    def _node_ready(self) -> bool:
        status, node = self.request("GET", f"/api/v1/nodes/{NODE_NAME}")
        conditions = ((node or {}).get("status") or {}).get("conditions") or [] if status == 200 else []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def log_tails(self, lines: int = 30) -> str:
        """Return the last log lines of every component, for a failed test's report."""
        return "\n".join(f"--- {p.name} ({p.log}) ---\n{p.tail(lines)}" for p in self.procs.values())
