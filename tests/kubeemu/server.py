"""Run the Kubernetes API emulator on 127.0.0.1 in a background thread, and point clients at it.

Used by the pytest fixtures (``fixtures.py``), by tests that need a second
emulator, and by ``python -m tests.kubeemu`` for manual runs. `KubeEmulator`
owns the catalog, the store and the request ledger, serves them on an
ephemeral port from its own event loop, and writes a kubeconfig (plain HTTP,
no auth) that the `kubernetes` client and kopf's login read.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from .app import RequestLedger, make_app
from .catalog import Catalog, ResourceType, read_crd_documents
from .errors import ApiError
from .store import CRDS, Store

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0  # open requests get this long to finish once the emulator stops


def kubeconfig_document(url: str, namespace: str = "default") -> dict[str, Any]:
    """Return a kubeconfig pointing at an emulator URL without TLS or credentials."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubeemu", "cluster": {"server": url}}],
        "users": [{"name": "kubeemu", "user": {}}],
        "contexts": [{"name": "kubeemu", "context": {"cluster": "kubeemu", "user": "kubeemu", "namespace": namespace}}],
        "current-context": "kubeemu",
    }


class KubeEmulator:
    """An in-memory Kubernetes API served over HTTP on 127.0.0.1 from a background thread."""

    def __init__(self, crd_paths: Iterable[str | Path] = (), history_size: int = 5000, host: str = "127.0.0.1",
                 enforce_crd_schemas: bool = False) -> None:
        self.catalog = Catalog()
        self.store = Store(self.catalog, history_size=history_size)
        self.enforce_crd_schemas = enforce_crd_schemas
        self.ledger = RequestLedger()
        self.host = host
        self.port: int | None = None
        self.kubeconfig_path: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.load_crds(crd_paths)

    # ----- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Return the base URL, e.g. http://127.0.0.1:41234."""
        if self.port is None:
            raise RuntimeError("the emulator is not started; call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}"

    def start(self) -> KubeEmulator:
        """Start serving on an ephemeral port; return once requests are accepted."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start_site())
            except BaseException as exc:  # report to the starting thread, which raises it
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="kubeemu", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_SECONDS) or failure:
            raise RuntimeError(f"the Kubernetes emulator did not start: {failure[0] if failure else 'timeout'}")
        return self

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(make_app(self.catalog, self.store, self.ledger), access_log=None,
                                     handle_signals=False, shutdown_timeout=STOP_TIMEOUT_SECONDS)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # aiohttp exposes no public accessor

    def stop(self) -> None:
        """Close the watch streams, stop the server and its thread."""
        if self._loop is None or self._thread is None:
            return
        self.store.close_watches()
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            future.result(timeout=START_TIMEOUT_SECONDS + STOP_TIMEOUT_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=START_TIMEOUT_SECONDS)
        self._loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """Write a kubeconfig for this emulator to a file and remember it as .kubeconfig_path."""
        path = Path(path)
        path.write_text(yaml.safe_dump(kubeconfig_document(self.url, namespace)))
        self.kubeconfig_path = path
        return path

    # ----- set-up and inspection for tests -------------------------------------------------------

    def load_crds(self, paths: Iterable[str | Path]) -> list[ResourceType]:
        """Create (or replace) the CustomResourceDefinitions found in YAML files; return their types."""
        crd_type = self.catalog.by_key(CRDS)
        loaded = []
        for doc in read_crd_documents(paths):
            name = doc["metadata"]["name"]
            try:
                current = self.store.get(crd_type, None, name)
                replacement = {**doc, "metadata": {**doc["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
                self.store.replace(crd_type, None, name, replacement)
            except ApiError as exc:
                if exc.code != 404:
                    raise
                self.store.create(crd_type, None, doc)
            spec = doc["spec"]
            loaded.append(self.catalog.by_key((spec["group"], spec["names"]["plural"])))
        return loaded

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[dict[str, Any]]:
        """Return stored objects, optionally only of a kind (kind, plural or short name) or namespace."""
        types = None if kind is None else {t.key for t in self.catalog.by_kind(kind)}
        if types is not None and not types:
            raise ValueError(f"unknown kind {kind!r}: use a served kind, plural or short name, e.g. 'ConfigMap'")
        return self.store.objects(types, namespace)

    @property
    def enforce_crd_schemas(self) -> bool:
        """Tell whether custom resources are pruned, defaulted and validated by their CRD schema."""
        return self.store.enforce_crd_schemas

    @enforce_crd_schemas.setter
    def enforce_crd_schemas(self, enabled: bool) -> None:
        self.store.enforce_crd_schemas = enabled

    @property
    def request_counts(self) -> collections.Counter[str]:
        """Return the requests served so far by verb (get, list, watch, create, update, patch, delete ...)."""
        return self.ledger.by_verb

    @property
    def write_count(self) -> int:
        """Return how many write requests (create, update, patch, delete, deletecollection) were served."""
        return self.ledger.writes()

    def simulate_workloads(self, enabled: bool = True, unpullable_images: Iterable[str] = ()) -> None:
        """Make Deployments become available and Jobs complete after each change, as controllers would.

        Images in `unpullable_images` never start: their Deployments stay unavailable
        (ProgressDeadlineExceeded) and their Jobs fail (BackoffLimitExceeded).
        """
        self.store.workloads.enabled = enabled
        self.store.workloads.unpullable_images = set(unpullable_images)

    def inject_fault(self, verb: str, resource: str, code: int = 500, times: int | None = 1,
                     message: str = "injected fault") -> None:
        """Make the next `times` requests of a verb on a resource (plural) fail with `code`."""
        self.ledger.inject_fault(verb, resource, code, times, message)
