"""Installs and locates what the benchmark needs that the venv does not hold.

Called once by `python -m bench` before measuring: npm packages (Prism, the two large public specs
and redocly, which bundles multi-file specs for schemathesis) go into `.cache/bench/`; `wrk` comes
from Debian when it is missing and we are root; the petstore copy with a documented example is
written next to them.
Every step is bounded in time and reports what it did, so a fresh machine needs no manual set-up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import specinfo
from bench.config import (
    CACHE_DIR,
    GITHUB_SPEC,
    NPM_PACKAGES,
    PET_EXAMPLE,
    PETSTORE_EXAMPLE_SPEC,
    PETSTORE_SPEC,
    PRISM_BIN,
    REDOCLY_BIN,
    REPO_ROOT,
    STRIPE_SPEC,
)

NPM_TIMEOUT_S = 900
APT_TIMEOUT_S = 600
BUNDLE_TIMEOUT_S = 120


@dataclass(frozen=True)
class Toolbox:
    """What set-up found: the load generator to use and whether Prism can run."""

    wrk: str | None          # path of wrk, or None to use the Python load generator
    prism_ok: bool
    notes: tuple[str, ...]   # one line per thing set-up did or could not do


def _npm_ready() -> bool:
    return all(p.exists() for p in (PRISM_BIN, REDOCLY_BIN, STRIPE_SPEC, GITHUB_SPEC))


def ensure_npm_packages(log) -> str | None:
    """Install Prism and the spec packages into the cache; return a problem, or None when ready."""
    if _npm_ready():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm not found: install Node.js 18+ (Debian: apt-get install nodejs npm) to compare with Prism"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}@{version}" for name, version in NPM_PACKAGES.items()]
    log(f"set-up: npm install --prefix {CACHE_DIR} {' '.join(specs)}")
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(CACHE_DIR), "--no-audit", "--no-fund", *specs],
            capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        return f"npm install did not finish within {NPM_TIMEOUT_S} s"
    if done.returncode != 0 or not _npm_ready():
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return "npm install failed: " + " | ".join(tail)
    return None


def ensure_wrk(log) -> tuple[str | None, str]:
    """Return the path of wrk (installing it with apt-get when root) and a note saying how."""
    found = shutil.which("wrk")
    if found:
        return found, f"load generator: wrk ({found})"
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        log("set-up: apt-get update && apt-get install -y wrk")
        try:
            for args in (["update", "-qq"], ["install", "-y", "-qq", "wrk"]):
                subprocess.run(
                    [apt, *args], capture_output=True, timeout=APT_TIMEOUT_S, check=True,
                    env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                )
        except (subprocess.SubprocessError, OSError) as exc:
            log(f"set-up: apt-get could not install wrk ({exc.__class__.__name__})")
        found = shutil.which("wrk")
        if found:
            return found, f"load generator: wrk ({found}, installed by apt-get)"
    return None, (
        "load generator: Python asyncio fallback (wrk missing; `apt-get install wrk` as root to use it); "
        "the fallback shares the CPU with the servers, so absolute figures are lower than wrk's"
    )


def bundle_spec(spec: Path, out_dir: Path) -> tuple[Path, str]:
    """Bundle a multi-file spec into one file with redocly; return (path to use, note)."""
    if not REDOCLY_BIN.exists():
        return spec, "not bundled (redocly unavailable): schemathesis may fail on external $refs"
    out = out_dir / f"{spec.stem}.bundled.yaml"
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [str(REDOCLY_BIN), "bundle", str(spec), "-o", str(out)], capture_output=True, text=True,
            timeout=BUNDLE_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        return spec, f"not bundled: redocly took over {BUNDLE_TIMEOUT_S} s"
    if done.returncode != 0 or not out.exists():
        return spec, "not bundled: " + " | ".join((done.stderr or done.stdout).strip().splitlines()[-2:])
    return out, "bundled into one file with redocly for schemathesis"


def write_example_petstore() -> None:
    """Write the petstore copy that documents an example for GET /pets/{petId}."""
    document = specinfo.with_response_example(
        specinfo.load_document(PETSTORE_SPEC), "/pets/{petId}", "get", PET_EXAMPLE)
    PETSTORE_EXAMPLE_SPEC.parent.mkdir(parents=True, exist_ok=True)
    PETSTORE_EXAMPLE_SPEC.write_text(yaml.safe_dump(document, sort_keys=False))


def compile_sandlot(log) -> None:
    """Write the bytecode of Sandlot's modules, as `pip install` does for the wheel users and the
    image install (images/sandlot/Dockerfile). The bench runs the editable install of this
    checkout, and under PYTHONDONTWRITEBYTECODE=1 (set on these machines and in the image) it
    would compile every module from source at every start: about 0.3 s that no installed
    Sandlot pays, in every start-up figure."""
    import compileall

    if not compileall.compile_dir(REPO_ROOT / "operator" / "sandlot", quiet=1):
        log("set-up: some of Sandlot's modules did not compile to bytecode; start-up figures include compiling them")


def prepare(log, python_load: bool = False) -> Toolbox:
    """Run every set-up step and return what is available (python_load: never use wrk)."""
    write_example_petstore()
    compile_sandlot(log)
    notes = []
    problem = ensure_npm_packages(log)
    if problem:
        notes.append(f"Prism and the Stripe/GitHub specs are unavailable: {problem}")
    elif shutil.which("node") is None:
        problem = "node not found"
        notes.append("Prism is unavailable: node not found on PATH")
    wrk, how = (None, "load generator: Python asyncio fallback (--python-load)") if python_load else ensure_wrk(log)
    notes.append(how)
    return Toolbox(wrk=wrk, prism_ok=problem is None, notes=tuple(notes))
