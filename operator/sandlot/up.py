"""`sandlot up MANIFEST`: run a SandboxEnvironment on this machine, no cluster needed.

Called by the command line (cli/sandbox.py: `sandlot up`, the README's `make run`). Reads
the SandboxEnvironment and the ConfigMaps it refers to (other YAML documents in the same file, or YAML files in the
same directory: the files a team `kubectl apply`s), starts one stub per downstream on a
local port (stateful ones with the seed loaded), issues one sandbox key valid on every stub,
prints the URLs, key and the env vars the app needs, and serves until Ctrl-C.

All stubs share one uvicorn server listening on several sockets; a small dispatcher sends
each request to the stub that owns the port it arrived on. So one signal handler stops all.

While it serves, `SpecFollower` watches the manifest and the YAML files beside it: when a
downstream's spec (a ConfigMap there) changes, that stub is reloaded in place (its stateful
data stays: the store is untouched, the state stage infers its collections again) and the
changes, found by `sandlot diff`'s engine, are reported with the breaking ones first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandlot.api.v1alpha1 import Downstream, SandboxEnvironment
from sandlot.diff.formats import Report, render_summary
from sandlot.diff.inputs import DiffInputError, load_input
from sandlot.diff.run import compare, display_path
from sandlot.http.app import HttpApp
from sandlot.http.asgi import Receive, Scope, Send
from sandlot.http.compose import BESIDE_STATE, build_app
from sandlot.state.config import SandboxConfig
from sandlot.state.fixtures import FixtureError, Fixtures, fixtures_source, parse_fixtures
from sandlot.state.keys import IssuedKey, hash_key, issue_key, key_from_secret
from sandlot.state.stage import StateStage
from sandlot.util.appenv import app_environment, as_dotenv
from sandlot.util.sources import SourceError, read_source

log = logging.getLogger("sandlot.up")

CREDENTIALS_FILE = "credentials.env"
APP_ENV_FILE = "app.env"


class UpError(Exception):
    """A manifest `sandlot up` cannot run: the message says what to fix."""


@dataclass
class Stub:
    """One running downstream: its name, env var, listening socket and app."""

    name: str
    env_var: str
    sock: socket.socket
    app: HttpApp
    root: str  # the URL without the spec's base path: where /__sandlot/ lives
    spec: str = ""  # what the stub loads: the file written from its ConfigMap (or S3 object), or the URL

    @property
    def state(self) -> StateStage | None:
        """Return the stub's state stage (None for a stateless mock)."""
        return self.app.pipeline.state

    @property
    def url(self) -> str:
        """Return the stub's base URL: its root and the spec's first server base path (a GraphQL
        stub's endpoint, `/graphql`)."""
        engine = self.app.holder.engine
        endpoint = getattr(engine, "path", None) if getattr(engine, "graphql", None) is not None else None
        return self.root + (endpoint or (engine.base_paths or [""])[0].rstrip("/"))


@dataclass
class LocalSandbox:
    """Everything `sandlot up` started, for the summary, the tests and shutdown."""

    name: str
    state_dir: Path
    stubs: list[Stub]
    key: IssuedKey
    tenant_id: str
    admin_token: str
    app_env: dict[str, str] = field(default_factory=dict)
    manifest: Path = Path()

    def close(self) -> None:
        """Close every socket and store."""
        _close(self.stubs)


def _close(stubs: list[Stub]) -> None:
    for stub in stubs:
        stub.sock.close()
        stub.app.pipeline.close()


def read_manifests(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return (the SandboxEnvironment, every YAML document in its file and directory)."""
    if not path.exists():
        raise UpError(f"{path} does not exist")
    own = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
    siblings = [] if path.is_dir() else sorted(p for p in path.parent.glob("*.y*ml") if p != path)
    docs: list[dict[str, Any]] = []
    envs: list[dict[str, Any]] = []
    for file in [*own, *siblings]:
        try:
            loaded = [d for d in yaml.safe_load_all(file.read_text(encoding="utf-8")) if isinstance(d, dict)]
        except yaml.YAMLError as exc:
            if file in own:
                raise UpError(f"{file}: not valid YAML: {exc}") from None
            continue  # an unrelated broken neighbour must not stop the sandbox
        docs += loaded
        if file in own:
            envs += [d for d in loaded if d.get("kind") == "SandboxEnvironment"]
    if len(envs) != 1:
        raise UpError(f"{path}: expected exactly one SandboxEnvironment document, found {len(envs)}")
    return envs[0], docs


def parse_environment(doc: Mapping[str, Any], where: str) -> SandboxEnvironment:
    """Validate a SandboxEnvironment with the CRD's models; errors name each field."""
    from pydantic import ValidationError

    try:
        return SandboxEnvironment.model_validate(dict(doc))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise UpError(f"{where}: the SandboxEnvironment is not valid: {problems}") from None


def materialize_spec(downstream: Downstream, docs: list[dict[str, Any]], spec_dir: Path, where: str) -> str:
    """Return a source the engine can load for a downstream: a file written from a ConfigMap
    or S3 object (and a GraphQL schema's URL, so its file name says it is GraphQL), or an
    OpenAPI document's http(s) URL as given."""
    source = downstream.source
    if source.url is not None and downstream.graphql is None:
        return source.url
    text = read_source(source, docs, where)
    suffix = ".json" if text.lstrip().startswith("{") else ".yaml"
    if downstream.graphql is not None and suffix != ".json":
        suffix = ".graphql"
    spec_dir.mkdir(parents=True, exist_ok=True)
    target = spec_dir / f"{downstream.name}{suffix}"
    target.write_text(text, encoding="utf-8")
    return str(target)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UpError(f"cannot listen on {host}:{port} ({exc.strerror}); stop what uses it, "
                      "or pass --port N (or --port 0 for any free port)") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _load_credentials(state_dir: Path) -> dict[str, str]:
    """Return the variables of a state directory's credentials.env (none if it is absent)."""
    path = state_dir / CREDENTIALS_FILE
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def saved_credentials(base: Path = Path(".sandlot")) -> dict[str, str]:
    """Return the credentials.env of the one sandbox `sandlot up` keeps under `base`, or {}
    when there is none or several (then the caller cannot guess which one is meant)."""
    found = sorted(base.glob(f"*/{CREDENTIALS_FILE}")) if base.is_dir() else []
    return _load_credentials(found[0].parent) if len(found) == 1 else {}


def _write_private(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)


def start_sandbox(manifest: Path, *, host: str = "127.0.0.1", port: int = 4010,
                  state_dir: Path | None = None, fresh: bool = False,
                  config: SandboxConfig | None = None, lenient: bool = False) -> LocalSandbox:
    """Prepare every stub of a manifest (sockets bound, seeds loaded, key issued); serve later.

    `lenient` makes every stub lenient (`sandlot up --lenient`); a downstream's own `lenient: true`
    does it for that one."""
    doc, docs = read_manifests(manifest)
    env = parse_environment(doc, str(manifest))
    name = (env.metadata or {}).get("name") or "sandbox"
    state_dir = state_dir or Path(".sandlot") / name
    if fresh and state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    saved = _load_credentials(state_dir)
    config = config or SandboxConfig()
    admin_token = (config.admin_token or saved.get("SANDLOT_ADMIN_TOKEN")
                   or "adm_" + secrets.token_urlsafe(24))
    fixtures: Fixtures = {}
    if env.spec.seed is not None and env.spec.seed.fixtures is not None:
        fixtures = parse_fixtures(read_source(env.spec.seed.fixtures, docs, str(manifest)),
                                  f"{manifest}: seed.fixtures")
    config = config.with_admin_token(admin_token)
    count = len(env.spec.downstreams)
    if port and port + count - 1 > 65535:
        raise UpError(f"--port {port} leaves no room for {count} downstreams (ports {port}-"
                      f"{port + count - 1}); use a port up to {65536 - count}, or 0 for free ports")
    stubs: list[Stub] = []
    sock: socket.socket | None = None
    try:
        for i, downstream in enumerate(env.spec.downstreams):
            spec = materialize_spec(downstream, docs, state_dir / "specs", str(manifest))
            sock = _bind(host, port + i if port else 0)
            db = state_dir / f"{downstream.name}.db" if downstream.stateful else None
            # Stateless stubs get no admin token, as `sandlot mock` without one; their journal has
            # its own file in the state directory (a stateful stub's is in its state file).
            journal = BESIDE_STATE if db is not None else state_dir / f"{downstream.name}.journal.db"
            app = build_app(spec, db=db, config=config, default_scenario=downstream.scenario,
                            lenient=lenient or downstream.lenient, journal=journal)
            root = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}"
            stubs.append(Stub(downstream.name, downstream.envVar, sock, app, root, spec))
            sock = None
            state = app.pipeline.state
            if state is not None:
                known = state.model.collections
                state.register_seed({c: v for c, v in fixtures.items() if c in known}, fixtures_source(fixtures))
        claimed = {c for s in stubs if s.state for c in s.state.model.collections}
        unknown = sorted(set(fixtures) - claimed)
        if unknown:
            raise FixtureError(f"{manifest}: seed fixtures name collection(s) {', '.join(unknown)} "
                               f"that no stateful downstream defines (known: "
                               f"{', '.join(sorted(claimed)) or 'none'})")
        key, tenant_id = _credential(stubs, saved)
    except BaseException:
        if sock is not None:
            sock.close()
        _close(stubs)
        raise
    # SANDLOT_URL is where `sandlot trigger` and the admin API go: the first stateful stub.
    first = next((s for s in stubs if s.state), stubs[0] if stubs else None)
    _write_private(state_dir / CREDENTIALS_FILE,
                   f"SANDLOT_KEY={key.secret}\nSANDLOT_TENANT={tenant_id}\n"
                   f"SANDLOT_ADMIN_TOKEN={admin_token}\n"
                   + (f"SANDLOT_URL={first.root}\n" if first else ""))
    app_env = as_dotenv(app_environment([e.to_wire() for e in env.spec.app.env],
                                        [(s.env_var, s.url) for s in stubs], api_key=key.secret))
    # It holds the sandbox key, as the credentials file does: only the owner may read it.
    _write_private(state_dir / APP_ENV_FILE, "".join(f"{k}={v}\n" for k, v in app_env.items()))
    return LocalSandbox(name, state_dir, stubs, key, tenant_id, admin_token, app_env, manifest)


def _credential(stubs: list[Stub], saved: Mapping[str, str]) -> tuple[IssuedKey, str]:
    """Reuse the saved key when every stateful stub still knows it, else issue a new one
    and register it (same tenant id) on every stateful stub."""
    stateful = [s.state for s in stubs if s.state is not None]
    secret = saved.get("SANDLOT_KEY")
    tenant_id = saved.get("SANDLOT_TENANT")
    if secret and tenant_id and all(s.store.find_key(hash_key(secret)) for s in stateful):
        return key_from_secret(secret), tenant_id
    key = issue_key()
    tenant_id = None
    for state in stateful:
        tenant_id, _ = state.issue_key(tenant_id=tenant_id, name="local", secret=key)
    return key, tenant_id or "none"


def summary(sandbox: LocalSandbox) -> str:
    """Return the text printed once the sandbox is up."""
    lines = [f'Sandbox "{sandbox.name}" is up (state in {sandbox.state_dir}/; Ctrl-C stops it)', ""]
    for stub in sandbox.stubs:
        if stub.state:
            seeded = sum(stub.state.store.seed_counts().values())
            what = (f"stateful: {', '.join(stub.state.model.collections) or 'no collections'}"
                    f" ({seeded} seeded objects)")
        else:
            what = "stateless mock"
        lines.append(f"  {stub.name:<12} {stub.url:<36} {what}")
        lines.append(f"  {'':<12} {stub.root + '/__sandlot/ui':<36} inspector")
    lines += ["", "Environment for the app (also in " f"{sandbox.state_dir / APP_ENV_FILE}):"]
    lines += [f"  {k}={v}" for k, v in sandbox.app_env.items()]
    lines += ["", f"Sandbox key (tenant {sandbox.tenant_id}): {sandbox.key.secret}",
              f"Admin token: {sandbox.admin_token}"]
    first = next((s for s in sandbox.stubs if s.state), sandbox.stubs[0] if sandbox.stubs else None)
    if first is not None:
        root = first.root
        collection = next(iter(first.state.model.collections), "") if first.state else ""
        lines += ["", "Try:",
                  f'  curl -H "Authorization: Bearer {sandbox.key.secret}" {first.url}/{collection}',
                  f'  curl -X POST -H "Authorization: Bearer {sandbox.key.secret}" '
                  f"{root}/__sandlot/reset"]
    return "\n".join(lines)


class SpecFollower:
    """Follow the downstreams' specs as their manifests are edited (see the module docstring).

    Only specs held in ConfigMaps beside the manifest are followed: a URL or S3 source is read
    at start (the operator polls those in a cluster). `report` gets one text per event: the
    changes of a reloaded spec, or why a change is not served."""

    def __init__(self, sandbox: LocalSandbox, report: Callable[[str], None], *, color: bool = False) -> None:
        self.sandbox = sandbox
        self.report = report
        self.color = color
        self.served = {stub.name: _read_text(stub.spec) for stub in sandbox.stubs}
        self.seen = dict(self.served)  # the last text read, served or not (a broken edit is reported once)
        self._last_problem: str | None = None

    def check(self) -> list[str]:
        """Read the manifests again; reload every stub whose spec changed; return (and report) what happened."""
        reports: list[str] = []
        try:
            doc, docs = read_manifests(self.sandbox.manifest)
            env = parse_environment(doc, str(self.sandbox.manifest))
            # GraphQL downstreams are not followed (their schema is read at start).
            texts = {d.name: read_source(d.openapi, docs, str(self.sandbox.manifest))
                     for d in env.spec.downstreams if d.openapi is not None and d.openapi.configMap is not None}
        except (UpError, SourceError) as exc:
            problem = f"{self.sandbox.manifest}: {exc}" if str(self.sandbox.manifest) not in str(exc) else str(exc)
            if problem != self._last_problem:
                reports.append(f"cannot read the changed manifest, still serving the last good specs: {problem}")
            self._last_problem = problem
            return self._send(reports)
        self._last_problem = None
        for stub in self.sandbox.stubs:
            text = texts.get(stub.name)
            if text is None or text == self.seen.get(stub.name):
                continue
            self.seen[stub.name] = text
            reports.append(self._update(stub, text))
        return self._send(reports)

    def _update(self, stub: Stub, text: str) -> str:
        """Serve a stub's new spec text; return the report (the diff summary, or why it is not served)."""
        current = Path(stub.spec)
        previous = current.with_name(f"{current.stem}.previous{current.suffix}")
        previous.write_text(self.served[stub.name], encoding="utf-8")
        current.write_text(text, encoding="utf-8")
        holder = stub.app.holder
        if not holder.reload():  # the file keeps the text the error's lines point into
            return (f"{stub.name}: the changed spec cannot be served, still serving the last good one: "
                    f"{holder.last_error}")
        self.served[stub.name] = text
        old, new = display_path(str(previous)), display_path(str(current))
        try:
            report = Report(old, new, compare(load_input(str(previous)), load_input(str(current))))
        except DiffInputError as exc:
            return f"{stub.name}: the spec changed and is served; it could not be compared: {exc}"
        kept = "stateful data kept" if stub.state is not None else "stateless"
        return (f"{stub.name}: the spec changed and is served now ({kept}): "
                + render_summary(report, color=self.color).rstrip("\n"))

    def _send(self, reports: list[str]) -> list[str]:
        for text in reports:
            self.report(text)
        return reports

    async def run(self) -> None:
        """Check on every change to the watched files, until cancelled."""
        import watchfiles

        folder = self.sandbox.manifest if self.sandbox.manifest.is_dir() else self.sandbox.manifest.parent

        def watched(_change: object, path: str) -> bool:
            return path.endswith((".yaml", ".yml"))

        async for _changes in watchfiles.awatch(folder, watch_filter=watched, recursive=False, debounce=200, step=50):
            try:
                await asyncio.to_thread(self.check)
            except Exception:  # noqa: BLE001 - a surprise in one check must not stop following
                log.exception("following the specs failed; still serving the last good ones")


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return ""  # a URL: not followed


Background = Callable[[], Coroutine[None, None, None]]


class Dispatcher:
    """An ASGI app that hands each connection to the stub listening on its local port, and runs
    `background` (the spec follower) while it serves."""

    def __init__(self, by_port: Mapping[int, HttpApp], background: Background | None = None) -> None:
        self.by_port = dict(by_port)
        self.background = background

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        server = scope.get("server") or ("", 0)
        app = self.by_port.get(int(server[1] or 0))
        if app is None:
            return
        await app(scope, receive, send)

    def answer_at_once_for(self, port: int) -> Any:
        """Return how the stub on `port` answers a request without a body at once (http/serve.py), or None."""
        app = self.by_port.get(port)
        return None if app is None else app.answer_at_once

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        task: asyncio.Task[None] | None = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for app in self.by_port.values():
                    app.pipeline.resume()
                if self.background is not None:
                    task = asyncio.create_task(self.background())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if task is not None:
                    task.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return


def serve(sandbox: LocalSandbox, log_level: str = "warning", follower: SpecFollower | None = None) -> None:
    """Serve every stub until SIGINT/SIGTERM, following the specs with `follower`; uvicorn stops
    accepting, finishes the requests in flight and returns (the signal is not re-raised, so the
    caller cleans up)."""
    from sandlot.http.reload import freeze_heap
    from sandlot.http.serve import serve_until_stopped

    freeze_heap()  # every stub's spec and state loaded: out of the collector's way
    dispatcher = Dispatcher({s.sock.getsockname()[1]: s.app for s in sandbox.stubs},
                            follower.run if follower is not None else None)
    serve_until_stopped(dispatcher, sockets=[s.sock for s in sandbox.stubs], lifespan="on",
                        access_log=False, log_level=log_level)
