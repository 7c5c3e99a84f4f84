"""The one builder of the app's environment: what a team's app is started with in a sandbox.

Called by the operator (reconcile/desired.py, the app Deployment's `env`) and by `sandlot up`
(the printed environment and `.sandlot/<name>/app.env`), so an app sees the same variables on
a laptop as in the cluster: the manifest's `spec.app.env`, each downstream's URL under its
`envVar`, `SANDLOT_SANDBOX=true`, and the sandbox key as `SANDLOT_TEST_API_KEY` (in the cluster
a reference to the credentials Secret, locally the key itself). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SANDBOX_FLAG = "SANDLOT_SANDBOX"
TEST_KEY_VAR = "SANDLOT_TEST_API_KEY"


def app_environment(declared: Iterable[Mapping[str, Any]], downstream_urls: Iterable[tuple[str, str]],
                    *, api_key: str | None = None, api_key_from: Mapping[str, Any] | None = None
                    ) -> list[dict[str, Any]]:
    """Return the app's env entries in order: declared, downstream URLs, the sandbox flag, the key.

    `declared` are `{name, value}` entries; `downstream_urls` are (env var, URL) pairs. Give the
    key either as `api_key` (a value) or as `api_key_from` (a Kubernetes `valueFrom`).
    """
    if (api_key is None) == (api_key_from is None):
        raise ValueError("give exactly one of api_key and api_key_from")
    env = [dict(entry) for entry in declared]
    env += [{"name": name, "value": url} for name, url in downstream_urls]
    env.append({"name": SANDBOX_FLAG, "value": "true"})
    env.append({"name": TEST_KEY_VAR, "value": api_key} if api_key is not None
               else {"name": TEST_KEY_VAR, "valueFrom": dict(api_key_from or {})})
    return env


def as_dotenv(env: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Return env entries that carry a literal value as NAME -> value (a `.env` file's content)."""
    return {str(e["name"]): str(e["value"]) for e in env if "value" in e}
