"""Run a stub Deployment's container as a local `sandlot mock` process on 127.0.0.1.

The operator's stub pods never run here (kwok only fakes them), so the tests that check what a
stub really does start its exact container arguments and environment locally: Secret
references are resolved from the given credentials, each volume mount becomes a folder holding
the given files, and the listening address becomes 127.0.0.1 on a free port. Used on rendered
Deployments (test_stub_contract.py) and on the ones the operator created in the real control
plane (test_attacks.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.ports import free_port


def request(url: str, token: str | None, method: str = "GET", body: dict | None = None) -> tuple[int, dict]:
    """Send one request with `Authorization: Bearer token` (if any); return (status, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def project(folder: Path, files: dict[str, str]) -> None:
    """Write a ConfigMap volume's files into `folder` as the kubelet does, first or again (its AtomicWriter).

    The files live in a timestamped folder `..<time>`; `..data` links to it and each file name links
    to `..data/<name>`. An update writes a new timestamped folder, renames a fresh `..data_tmp` link
    over `..data` (one atomic step: a reader sees the old set or the new one) and removes the old
    folder. This is how a changed ConfigMap reaches a running pod, which is never restarted for it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "..data"
    old = os.readlink(data) if data.is_symlink() else None
    stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    (folder / stamp).mkdir()
    for name, text in files.items():
        (folder / stamp / name).write_text(text)
    (folder / "..data_tmp").symlink_to(stamp)
    os.rename(folder / "..data_tmp", data)
    for name in files:
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(Path("..data") / name)
    if old is not None:
        shutil.rmtree(folder / old)


@contextmanager
def stub_process(deployment: dict[str, Any], secrets: dict[str, dict[str, str]],
                 files: dict[str, dict[str, str]], workdir: Path, projected: frozenset[str] = frozenset()
                 ) -> Iterator[str]:
    """Start the Deployment's first container locally; yield its base URL (http://127.0.0.1:PORT).

    `secrets` maps a Secret name to its values (for `secretKeyRef`s); `files` maps a volume
    mount path (`/spec`) to the files it holds ({name: text}); the mount paths in `projected` are
    laid out as the kubelet projects a ConfigMap (`project`), so a test can update them as it does.
    """
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["mountPath"]: workdir / m["name"] for m in container.get("volumeMounts") or []}
    for path, folder in mounts.items():
        folder.mkdir(parents=True, exist_ok=True)
        if path in projected:
            project(folder, files.get(path) or {})
            continue
        for name, text in (files.get(path) or {}).items():
            (folder / name).write_text(text)
    args = list(container["args"])
    for i, arg in enumerate(args):
        for path, folder in mounts.items():
            if arg.startswith(path + "/"):
                args[i] = str(folder) + arg[len(path):]
    port = free_port()
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    env = {"PATH": "/usr/bin:/bin"}
    for item in container.get("env") or []:
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        env[item["name"]] = secrets[ref["name"]][ref["key"]] if ref else item.get("value", "")
    proc = subprocess.Popen([sys.executable, "-m", "sandlot.cli", *args], env=env, cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request(f"{base}/__sandlot/health", None)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise AssertionError(f"the stub did not start: {proc.communicate()[0]}") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
