"""Render one Kubernetes object from a jinja2 template into a dict.

Pure: templates in render/templates/ (one per object kind) get a context and return YAML;
StrictUndefined turns a missing value into an error instead of an empty field. Values are
inserted with `tojson`, so no value can break the YAML around it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
import yaml


def _merge(*dicts: dict[str, Any]) -> dict[str, Any]:
    """Return one dict with the keys of all `dicts`, later ones winning."""
    out: dict[str, Any] = {}
    for d in dicts:
        out.update(d)
    return out


@cache
def _environment() -> jinja2.Environment:
    """Return the shared jinja2 environment (templates are compiled once per process)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sandlot.render", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_kwargs"] = {"sort_keys": True}
    env.globals["merge"] = _merge
    return env


def render(template: str, **context: Any) -> dict[str, Any]:
    """Render `template` (a file name under render/templates/) with `context` into an object."""
    text = _environment().get_template(template).render(**context)
    obj = yaml.safe_load(text)
    if not isinstance(obj, dict) or "kind" not in obj:
        raise ValueError(f"template {template} did not render a Kubernetes object")
    return obj
