"""The proxy stage: forward each request to the real API, check both halves against the spec,
record the drift, and answer with the real response.

Composed into the HTTP app (http/compose.py) by `sandlot mock SPEC --proxy UPSTREAM`, after the
admin router and instead of the simulation, state and engine: what the client gets is the real
API's answer, never a generated one. For each request context (mock/context.py) it:

1. refuses, with 403 and without forwarding, a request that carries a live-looking credential
   (drift/guard.py), unless `--allow-live-upstream`;
2. routes once (the context's route) and checks the request with the mock's own validation;
3. forwards it (drift/upstream.py): an upstream that does not answer is a 502/504 problem;
4. checks the real response against the operation (mock/conformance.py);
5. adds the findings to the drift record (drift/store.py), each with a redacted sample, and,
   with `--record DIR`, keeps the response (drift/record.py);
6. returns the real response.

Forwarding blocks, so the app runs this pipeline on worker threads (`Pipeline.blocking`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandlot.drift.guard import check_configured, live_credential, refusal_detail
from sandlot.drift.record import Recorder
from sandlot.drift.redact import redact_query, redact_value
from sandlot.drift.store import DriftRecord, DriftStore
from sandlot.drift.upstream import Upstream, UpstreamResponse, UpstreamUnavailable
from sandlot.mock.conformance import Finding, check_request, check_response
from sandlot.mock.context import Next, RequestContext
from sandlot.mock.engine import Engine, Match
from sandlot.mock.messages import MockRequest, MockResponse, problem_response

log = logging.getLogger("sandlot.drift")

#: The longest sample value kept, as JSON text.
SAMPLE_VALUE_MAX = 200
_ID_SEGMENT = re.compile(r"^(\d+|[0-9a-fA-F-]{32,36}|(?=.*\d)[^/]{8,})$")


@dataclass(frozen=True)
class ProxySettings:
    """What `--proxy` and its options say: the upstream, the drift record, the recording, the guard."""

    upstream: Upstream
    drift_db: Path
    record_dir: Path | None = None
    allow_live_upstream: bool = False


def operation_name(req: MockRequest, match: Match | None) -> str:
    """Return the operation a request is counted under: "GET /pets/{petId}", or for an undocumented
    one its method and path with id-like segments written {*} ("GET /pets/{*}/toys")."""
    if match is not None:
        return f"{match.operation.method} {match.operation.path}"
    segments = ["{*}" if _ID_SEGMENT.match(s) else s for s in req.path.split("/")]
    return f"{req.method} {'/'.join(segments)}"


def secret_names(document: Mapping[str, Any]) -> frozenset[str]:
    """Return the header, query and cookie names the spec's apiKey security schemes use."""
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    return frozenset(str(s.get("name")) for s in schemes.values()
                     if isinstance(s, Mapping) and s.get("type") == "apiKey" and s.get("name"))


class ProxyStage:
    """Forward, check, record, answer with the real response (see the module docstring)."""

    def __init__(self, settings: ProxySettings, spec: str, clock: Callable[[], float] = time.time) -> None:
        """Open the drift record (raises DriftStoreError) after checking the configured credentials
        (raises LiveUpstreamError unless live upstreams are allowed)."""
        if not settings.allow_live_upstream:
            check_configured(settings.upstream.headers, settings.upstream.query)
        self.settings = settings
        self.upstream = settings.upstream
        self.clock = clock
        self.store = DriftStore(settings.drift_db)
        self.store.describe(self.upstream.url, spec)
        self.recorder = Recorder(settings.record_dir, self.upstream.url) if settings.record_dir else None
        self._secrets: tuple[int, frozenset[str]] = (0, frozenset())

    def __call__(self, ctx: RequestContext, call_next: Next) -> MockResponse:
        """Answer with the real API's response (or a 403/502/504 problem); see the module docstring."""
        req = ctx.request
        if not self.settings.allow_live_upstream:
            found = live_credential(req.headers.items(), req.query)
            if found is not None:
                log.warning("not forwarded: %s %s carries a live-looking credential (%s)", req.method, req.path,
                            found.pattern)
                return _live_refusal(refusal_detail(found, self.upstream.origin))
        routed = ctx.route()
        findings = check_request(ctx.engine, req, routed)
        try:
            real = self.upstream.forward(req)
        except UpstreamUnavailable as exc:
            log.error("%s", exc)
            return problem_response(exc.status, str(exc))
        match = routed if isinstance(routed, Match) else None
        if match is not None:
            findings += check_response(ctx.engine, req, match, real.status, real.headers, real.body)
        operation = operation_name(req, match)
        secrets = self._secret_names(ctx.engine)
        self.store.add(operation, findings, [_sample(f, req, real, secrets) for f in findings], self.clock())
        if findings:
            log.warning("drift: %s %s -> %d: %s", req.method, req.path, real.status,
                        "; ".join(f"{f.rule} ({f.location} {f.at})".replace(" )", ")") for f in findings[:5])
                        + (f"; and {len(findings) - 5} more" if len(findings) > 5 else ""))
        if self.recorder is not None and match is not None:
            self.recorder.save(match, req, real, findings, secrets)
        return MockResponse(real.status, list(real.headers), real.body)

    def _secret_names(self, engine: Engine) -> frozenset[str]:
        if self._secrets[0] != id(engine):
            self._secrets = (id(engine), secret_names(engine.spec.document))
        return self._secrets[1]

    def report(self) -> DriftRecord:
        """Return the drift recorded so far (`GET /__sandlot/drift`)."""
        return self.store.read()

    def close(self, engine: Engine) -> None:
        """Write the recorded examples (with `--record`) and close the drift record."""
        try:
            if self.recorder is not None:
                path = self.recorder.write_examples(engine)
                log.info("recorded responses are examples in %s: `sandlot mock %s` serves them offline", path, path)
        finally:
            self.store.close()


def _sample(finding: Finding, req: MockRequest, real: UpstreamResponse, secrets: frozenset[str]) -> dict[str, Any]:
    """Return the redacted sample kept with a group: message, request line, status, where, value."""
    query = redact_query(req.query, secrets)
    sample: dict[str, Any] = {"message": finding.message,
                              "request": f"{req.method} {req.path}" + (f"?{query}" if query else ""),
                              "status": real.status}
    if finding.at and finding.at != finding.pointer:
        sample["at"] = finding.at
    if finding.value is not None:
        value = redact_value(finding.value)
        text = json.dumps(value, ensure_ascii=False, default=str)
        sample["value"] = value if len(text) <= SAMPLE_VALUE_MAX else text[:SAMPLE_VALUE_MAX - 1] + "…"
    return sample


def _live_refusal(detail: str) -> MockResponse:
    body = {"type": "https://sandlot.dev/problems/live-upstream-credential",
            "title": "Live credentials are not sent upstream", "status": 403, "detail": detail}
    return MockResponse(403, [("content-type", "application/problem+json")],
                        json.dumps(body, ensure_ascii=False).encode())
