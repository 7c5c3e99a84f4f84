"""The stub's settings, and the sidecar config file (YAML) that sets them.

Built by `sandlot mock --stateful --config FILE` and `sandlot up`; read by the stateful
handler, the admin API and quota checks. The same file carries the inference overrides
(`collections`, `paths`, `ignore`), see docs/stateful.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from sandlot.state.journal import DEFAULT_BODY_BYTES, DEFAULT_MAX_AGE, DEFAULT_SIZE, JournalSettings
from sandlot.state.keys import DEFAULT_LIVE_KEY_PATTERNS
from sandlot.util.durations import DurationError, parse_duration

#: Keys read by the simulation stage (docs/scenarios.md): kept as given, checked there.
SIMULATION_KEYS = ("scenarios", "magic", "rateLimit", "webhooks")
_KNOWN_KEYS = {"collections", "paths", "ignore", "retention", "quota", "liveKeyPatterns", "journal", "log",
               "adminToken", "graphql", *SIMULATION_KEYS}


class ConfigError(ValueError):
    """A sidecar config that cannot be used: names the key and the fix."""


@dataclass(frozen=True)
class SandboxConfig:
    """Everything tunable about a stateful stub; defaults suit a laptop."""

    retention_seconds: float | None = None
    max_objects: int | None = None
    requests_per_day: int | None = None
    journal: JournalSettings = JournalSettings()
    live_key_patterns: tuple[str, ...] = DEFAULT_LIVE_KEY_PATTERNS
    admin_token: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    simulation: dict[str, Any] = field(default_factory=dict)
    #: A GraphQL stub's settings (docs/graphql.md): path, examples, magic, subscriptions.
    graphql: dict[str, Any] = field(default_factory=dict)

    def with_admin_token(self, token: str | None) -> SandboxConfig:
        """Return a copy with the admin token set (when `token` is given)."""
        return replace(self, admin_token=token) if token else self


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> SandboxConfig:
    """Build a `SandboxConfig` from the sidecar file's parsed content."""
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(_KNOWN_KEYS))}")
    quota = data.get("quota") or {}
    # `log:` is the request journal's former name (kept so older config files still work).
    journal_key = "journal" if data.get("journal") is not None else "log"
    journal = data.get(journal_key) or {}
    if not isinstance(journal, dict):
        raise ConfigError(f"{source}: {journal_key} must be a mapping: {{size: 1000, maxAge: 7d, bodyBytes: 4096}}")
    unknown_journal = set(journal) - {"size", "maxAge", "bodyBytes"}
    if unknown_journal:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(sorted(unknown_journal))} in {journal_key}; "
                          "known: bodyBytes, maxAge, size")

    def positive(value: Any, where: str) -> int | None:
        if value is None:
            return None
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{source}: {where} must be a whole number of at least 1, got {value!r}")
        return value

    try:
        retention = (parse_duration(data["retention"], f"{source}: retention")
                     if data.get("retention") is not None else None)
        max_age = (parse_duration(journal["maxAge"], f"{source}: {journal_key}.maxAge")
                   if journal.get("maxAge") is not None else DEFAULT_MAX_AGE)
    except DurationError as exc:
        raise ConfigError(str(exc)) from None
    return SandboxConfig(
        retention_seconds=retention,
        max_objects=positive(quota.get("objects"), "quota.objects"),
        requests_per_day=positive(quota.get("requestsPerDay"), "quota.requestsPerDay"),
        journal=JournalSettings(
            size=positive(journal.get("size"), f"{journal_key}.size") or DEFAULT_SIZE, max_age=max_age,
            body_bytes=positive(journal.get("bodyBytes"), f"{journal_key}.bodyBytes") or DEFAULT_BODY_BYTES),
        live_key_patterns=tuple(data.get("liveKeyPatterns") or DEFAULT_LIVE_KEY_PATTERNS),
        admin_token=data.get("adminToken"),
        overrides={k: data[k] for k in ("collections", "paths", "ignore") if k in data},
        simulation={k: data[k] for k in SIMULATION_KEYS if k in data},
        graphql=_graphql_settings(data.get("graphql"), source),
    )


def _graphql_settings(value: Any, source: str) -> dict[str, Any]:
    """Check the shape of the `graphql:` section (its contents are checked by the GraphQL engine)."""
    if value is None:
        return {}
    known = {"path", "examples", "magic", "subscriptions"}
    if not isinstance(value, dict) or set(value) - known:
        raise ConfigError(f"{source}: graphql must be a mapping with some of {', '.join(sorted(known))}")
    path = value.get("path")
    if path is not None and (not isinstance(path, str) or not path.startswith("/") or path.startswith("/__sandlot")):
        raise ConfigError(f"{source}: graphql.path must be a path such as /graphql, got {path!r}")
    return dict(value)


def load_config(path: str | Path | None) -> SandboxConfig:
    """Read the sidecar config file, or return the defaults when there is none."""
    if path is None:
        return SandboxConfig()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping (collections:, quota:, ...)")
    return config_from_dict(data, str(path))
