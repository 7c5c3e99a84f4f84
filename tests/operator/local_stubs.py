"""Run a sandbox's stub pods for real, as local `sandlot mock` processes, where kwok only pretends.

On the test control plane kwok marks pods Running and Ready but runs nothing, so nothing answers
at a stub's in-cluster URL. For the sleep tests a test plays the kubelet for the stubs: it reads
the stub Deployment the operator wrote and runs exactly its container's arguments and
environment (the spec from the operator's ConfigMap, the keys from the sandbox's Secret) as a
`sandlot mock` process on 127.0.0.1, with a fresh state directory per start as a new pod gets a
fresh emptyDir. `LocalStubs.resolve` maps the in-cluster URL the operator calls to that process
(`HttpStubClient(resolve=...)`); a stub with no process maps to a closed port.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from sandlot.kube import Kube
from tests.operator.harness import wait_for
from tests.ports import free_port

CLOSED = "http://127.0.0.1:9"


class LocalStubs:
    """Stub processes keyed by (sandbox namespace, downstream)."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.workdir = Path(tempfile.mkdtemp(prefix="sandlot-stubs-"))
        self.procs: dict[tuple[str, str], tuple[subprocess.Popen[bytes], str]] = {}
        self.starts = 0

    def resolve(self, url: str) -> str:
        """Map `http://stub-<d>.<namespace>.svc...:port` to the local process, else to a closed port."""
        host = urlsplit(url).hostname or ""
        service, _, rest = host.partition(".")
        found = self.procs.get((rest.split(".", 1)[0], service.removeprefix("stub-")))
        return found[1] if found else CLOSED

    def url(self, namespace: str, downstream: str) -> str:
        return self.procs[(namespace, downstream)][1]

    def start(self, namespace: str, downstream: str) -> str:
        """Start the stub as its Deployment says, with a fresh state directory; return its local URL."""
        deployment = self.kube.get("apps/v1", "Deployment", f"stub-{downstream}", namespace)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        secret = {k: base64.b64decode(v).decode()
                  for k, v in self.kube.get("v1", "Secret", "sandlot-credentials", namespace)["data"].items()}
        env = {e["name"]: secret[e["valueFrom"]["secretKeyRef"]["key"]] for e in container["env"]}
        self.starts += 1
        root = self.workdir / f"{namespace}-{downstream}-{self.starts}"
        for volume in ("spec", "state", "tmp"):
            (root / volume).mkdir(parents=True)
        configmap = self.kube.get("v1", "ConfigMap", f"openapi-{downstream}", namespace)
        for name, text in configmap["data"].items():
            (root / "spec" / name).write_text(text)
        port = free_port()
        args = [a.replace("/spec/", f"{root}/spec/").replace("/state/", f"{root}/state/") for a in container["args"]]
        args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(port)
        log = (root / "stub.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "sandlot.cli", *args, "--no-watch", "--log-level", "warning"],
                                env={**os.environ, **env, "TMPDIR": str(root / "tmp")}, stdout=log,
                                stderr=subprocess.STDOUT)
        local = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the local stub exited: {(root / 'stub.log').read_text()}")
            try:
                with urllib.request.urlopen(local + "/__sandlot/health", timeout=1):
                    return True
            except OSError:
                return False

        wait_for(up, timeout=30, what=f"local stub {downstream} of {namespace}")
        self.procs[(namespace, downstream)] = (proc, local)
        return local

    def stop(self, namespace: str, downstream: str) -> None:
        """Stop the stub (its pod is gone), state and all."""
        proc, _ = self.procs.pop((namespace, downstream))
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def close(self) -> None:
        for key in list(self.procs):
            self.stop(*key)
