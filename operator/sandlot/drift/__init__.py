"""Traffic drift: `sandlot mock SPEC --proxy UPSTREAM` measures how a real API differs from its spec.

A stage of the HTTP app (composed by http/compose.py) that forwards each request to a real test
or staging API and records where the exchange breaks the spec. `stage` is the proxy stage;
`upstream` forwards one request (standard library http.client); `guard` keeps live-looking
credentials from being sent; the checks themselves are the mock engine's (mock/conformance.py);
`store` aggregates findings in SQLite; `report` renders them (text, JSON, Markdown) for
`sandlot drift report` and `GET /__sandlot/drift`; `record` keeps redacted responses for offline
use (`--record DIR`) and `redact` decides what is secret. docs/drift.md is the user's guide.
"""
