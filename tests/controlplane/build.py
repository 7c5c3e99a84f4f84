"""Build the Kubernetes control plane the cluster test tier runs on, from Go modules, once.

Called by the `control_plane` fixture (tests/controlplane/fixtures.py), by `make cluster`
(`python -m tests.controlplane`) and by `python -m tests.controlplane.build`. The wrapper
modules under tests/controlplane/go/ pin every version (go.mod and go.sum); the binaries go
into `.cache/controlplane/<key>/bin/` (git-ignored), where the key hashes those files and
the Go version, so a changed pin builds anew and an unchanged one is reused. A build is
written to a temporary directory and renamed into place, so an interrupted build never
leaves a half-filled cache behind. Nothing built is committed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GO_DIR = Path(__file__).resolve().parent / "go"
CACHE_ROOT = REPO / ".cache" / "controlplane"
KUBERNETES_VERSION = "v1.36.3"
#: The oldest Go that builds Kubernetes 1.36 (its go.mod says 1.26).
MIN_GO = (1, 26)
#: What `kube-apiserver --version` reports: without these the build says v0.0.0-master.
VERSION_LDFLAGS = " ".join([
    f"-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}",
    "-X k8s.io/component-base/version.gitMajor=1",
    "-X k8s.io/component-base/version.gitMinor=36",
    "-X k8s.io/component-base/version.gitTreeState=clean",
])
#: (module directory, binary name, Go package, extra ldflags)
TARGETS = [
    ("kubernetes", "kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver", VERSION_LDFLAGS),
    ("kubernetes", "kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager", VERSION_LDFLAGS),
    ("kubernetes", "kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler", VERSION_LDFLAGS),
    ("kubernetes", "etcd", "go.etcd.io/etcd/server/v3", ""),
    ("kwok", "kwok", "sigs.k8s.io/kwok/cmd/kwok", ""),
]


class GoUnavailable(RuntimeError):
    """No usable Go toolchain: the message says what was found and what is needed."""


class BuildFailed(RuntimeError):
    """`go build` failed: the message holds the tail of its output."""


@dataclass(frozen=True)
class Binaries:
    """Paths of the control plane's executables."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path

    @classmethod
    def in_dir(cls, bin_dir: Path) -> Binaries:
        """Return the binaries expected in `bin_dir`."""
        return cls(etcd=bin_dir / "etcd", kube_apiserver=bin_dir / "kube-apiserver",
                   kube_controller_manager=bin_dir / "kube-controller-manager",
                   kube_scheduler=bin_dir / "kube-scheduler", kwok=bin_dir / "kwok")

    def all_present(self) -> bool:
        """Tell whether every binary (and kwok's stage files) exists."""
        stages = self.kwok.parent.parent / "kwok-stages"
        return all(p.is_file() and os.access(p, os.X_OK) for p in vars(self).values()) and all(
            (stages / Path(rel).name).is_file() for rel in KWOK_STAGES)


def go_version(go: str | None = None) -> tuple[int, int]:
    """Return the (major, minor) of the Go on PATH; raise GoUnavailable when there is none."""
    go = go or shutil.which("go")
    if go is None:
        raise GoUnavailable("no `go` on PATH; the cluster tier builds Kubernetes from Go modules and "
                            f"needs Go >= {MIN_GO[0]}.{MIN_GO[1]}")
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, env=_go_env(), check=False)
    match = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if out.returncode != 0 or not match:
        raise GoUnavailable(f"`go env GOVERSION` failed ({out.stderr.strip() or out.stdout.strip()})")
    found = (int(match.group(1)), int(match.group(2)))
    if found < MIN_GO:
        raise GoUnavailable(f"Go {found[0]}.{found[1]} is on PATH; the cluster tier needs Go >= "
                            f"{MIN_GO[0]}.{MIN_GO[1]} to build Kubernetes {KUBERNETES_VERSION}")
    return found


def _go_env() -> dict[str, str]:
    """Return the environment for the go command: this machine's Go, static binaries."""
    env = dict(os.environ)
    env.setdefault("GOTOOLCHAIN", "local")  # never switch toolchains behind the user's back
    env["CGO_ENABLED"] = "0"
    env.setdefault("GOFLAGS", "-mod=readonly")
    return env


def cache_key() -> str:
    """Return the cache key: Kubernetes version plus a digest of the pins and the Go version."""
    digest = hashlib.sha256()
    for path in sorted(GO_DIR.rglob("go.*")):
        digest.update(path.relative_to(GO_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(repr(go_version()).encode())
    return f"{KUBERNETES_VERSION}-{digest.hexdigest()[:12]}"


def cached_binaries() -> Binaries | None:
    """Return the cached build for the current pins, or None when it has not been built."""
    bins = Binaries.in_dir(CACHE_ROOT / cache_key() / "bin")
    return bins if bins.all_present() else None


def ensure_built(progress: Callable[[str], None] = print) -> Binaries:
    """Return the control plane binaries, building them first if the cache lacks them."""
    key = cache_key()
    final = CACHE_ROOT / key
    bins = Binaries.in_dir(final / "bin")
    if bins.all_present():
        return bins
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}.building-", dir=CACHE_ROOT))
    started = time.monotonic()
    progress(f"building the Kubernetes {KUBERNETES_VERSION} control plane from Go modules into {final} "
             "(first time only: tens of minutes on 2 cores, about 1 GB of modules)")
    try:
        for module, name, package, ldflags in TARGETS:
            _go_build(GO_DIR / module, package, staging / "bin" / name, ldflags, progress)
        _copy_kwok_stages(staging / "kwok-stages")
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"control plane built in {time.monotonic() - started:.0f} s")
    return bins


#: kwok's own stage files (Apache-2.0, in its module): fake nodes that stay Ready and pods that
#: run, complete (Jobs) and go away; cluster.py adds a stage for images that cannot be pulled.
KWOK_STAGES = ["node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
               "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml"]


def _copy_kwok_stages(target: Path) -> None:
    """Copy kwok's stage files from its module (the pinned version) next to the binaries."""
    out = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"], cwd=GO_DIR / "kwok",
                         env=_go_env(), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise BuildFailed(f"cannot locate the kwok module: {out.stderr.strip()}")
    source = Path(out.stdout.strip()) / "kustomize" / "stage"
    target.mkdir(parents=True, exist_ok=True)
    for rel in KWOK_STAGES:
        shutil.copyfile(source / rel, target / Path(rel).name)


def kwok_stages_dir(binaries: Binaries) -> Path:
    """Return where the build put kwok's stage files."""
    return binaries.kwok.parent.parent / "kwok-stages"


def _go_build(module_dir: Path, package: str, output: Path, ldflags: str,
              progress: Callable[[str], None]) -> None:
    """Build one Go main package into `output`, reporting progress every 30 seconds."""
    output.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["go", "build", "-v", "-trimpath", "-ldflags", f"-s -w {ldflags}".strip(), "-o", str(output), package]
    progress(f"  go build {package}")
    proc = subprocess.Popen(cmd, cwd=module_dir, env=_go_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    stop = threading.Event()
    begun = time.monotonic()

    def report() -> None:
        while not stop.wait(30):
            progress(f"    ... {len(lines)} packages compiled, {time.monotonic() - begun:.0f} s")

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
    code = proc.wait()
    stop.set()
    if code != 0:
        tail = "\n".join(lines[-40:])
        raise BuildFailed(f"go build {package} failed (exit {code}) in {module_dir}:\n{tail}")


def main() -> int:
    """Build (or find) the binaries and print where they are."""
    try:
        bins = ensure_built(lambda msg: print(msg, file=sys.stderr, flush=True))
    except (GoUnavailable, BuildFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(bins.kube_apiserver.parent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
