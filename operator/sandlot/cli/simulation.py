"""The simulation's command-line pieces: `sandlot magic SPEC` and `sandlot trigger EVENT` (and
`call`, how the commands reach a running stub's admin API).

The command line's parser (cli/__init__.py) calls `add_scenario_commands`; only argparse is
imported at that point, each command imports its work lazily.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def add_scenario_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `magic` and `trigger` to the top-level sub-commands."""
    magic = sub.add_parser("magic", help="print a spec's magic values as a Markdown table")
    magic.add_argument("spec", help="path or URL of the OpenAPI document")
    magic.add_argument("--config", default=None, help="sidecar YAML whose `magic:` rules are added")
    magic.set_defaults(func=_cmd_magic)

    trigger = sub.add_parser("trigger", help="send a webhook event now, from a running sandbox stub")
    trigger.add_argument("event", nargs="+", help="event name(s), e.g. charge.succeeded")
    trigger.add_argument("--url", default=None,
                         help="the stub's root URL (default $SANDLOT_URL, else the one in "
                              ".sandlot/<name>/credentials.env, else http://127.0.0.1:4010)")
    trigger.add_argument("--key", default=None,
                         help="the tenant's sandbox key (default $SANDLOT_KEY, else "
                              ".sandlot/<name>/credentials.env)")
    trigger.add_argument("--admin-token", default=os.environ.get("SANDLOT_ADMIN_TOKEN"),
                         help="admin token, with --tenant or --key naming the tenant")
    trigger.add_argument("--tenant", default=None, help="tenant id (with --admin-token)")
    trigger.add_argument("--body", default=None,
                         help="JSON (or @file) deep-merged over the generated payload")
    trigger.add_argument("--object", default=None, help="JSON (or @file) put in the payload's data.object")
    trigger.add_argument("--fault", action="append", default=[],
                         choices=["duplicate", "delay", "out_of_order", "bad_signature"],
                         help="deliver with a fault (repeatable)")
    trigger.add_argument("--delay", default=None, help="deliver this much (virtual) time later, e.g. 30s")
    trigger.set_defaults(func=_cmd_trigger)


class UsageError(ValueError):
    """An argument that cannot be used (a file that cannot be read, text that is not JSON)."""


def _read(path: str, option: str) -> str:
    """Return a file's text, or raise UsageError naming the option and the reason."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{option}: cannot read {path}: {reason}") from None


def _json_arg(value: str | None, name: str) -> object:
    if value is None:
        return None
    text = _read(value[1:], f"--{name} {value}") if value.startswith("@") else value
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--{name} is not JSON: {exc}") from None


def trigger_request(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, object]]:
    """Return the headers and JSON body of `POST /__sandlot/webhooks/trigger` for the arguments."""
    body: dict[str, object] = {"events": args.event} if len(args.event) > 1 else {"event": args.event[0]}
    for name in ("body", "object"):
        value = _json_arg(getattr(args, name), name)
        if value is not None:
            body[name] = value
    if args.fault:
        body["fault"] = args.fault
    if args.delay:
        body["delay"] = args.delay
    headers = {"content-type": "application/json"}
    if args.admin_token:
        headers["authorization"] = f"Bearer {args.admin_token}"
        if args.tenant:
            body["tenant"] = args.tenant
        elif args.key:
            body["key"] = args.key
    elif args.key:
        headers["authorization"] = f"Bearer {args.key}"
    return headers, body


def with_sandbox_defaults(args: argparse.Namespace, saved: dict[str, str]) -> argparse.Namespace:
    """Fill --url and --key left out: $SANDLOT_URL/$SANDLOT_KEY, else what `sandlot up` saved
    in its credentials.env (`saved`), else the default port."""
    args.url = args.url or os.environ.get("SANDLOT_URL") or saved.get("SANDLOT_URL") \
        or "http://127.0.0.1:4010"
    if args.key is None:
        args.key = os.environ.get("SANDLOT_KEY") or saved.get("SANDLOT_KEY")
    return args


def call(method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, str]:
    """Call a stub's admin API; return (status, body text). Raises OSError when it cannot be reached."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10.0) as response:  # noqa: S310 - the user's own URL
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:  # an answer all the same: the problem it carries
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, ValueError) as exc:
        raise OSError(str(exc.reason) if isinstance(exc, urllib.error.URLError) else str(exc)) from None


def _cmd_trigger(args: argparse.Namespace) -> int:
    from sandlot.up import saved_credentials

    args = with_sandbox_defaults(args, saved_credentials())
    try:
        headers, body = trigger_request(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    url = args.url.rstrip("/") + "/__sandlot/webhooks/trigger"
    try:
        status, text = call("POST", url, headers, json.dumps(body).encode())
    except OSError as exc:
        print(f"error: cannot reach {url}: {exc}; is the sandbox running (sandlot up / sandlot mock)?",
              file=sys.stderr)
        return 2
    print(text)
    return 0 if status == 202 else 1


def _cmd_magic(args: argparse.Namespace) -> int:
    from sandlot.openapi.loader import SpecError
    from sandlot.simulation.magic import MagicError, magic_table_for

    try:
        rules = _magic_rules(args.config)
        sys.stdout.write(magic_table_for(args.spec, rules))
    except (SpecError, MagicError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _magic_rules(config: str | None) -> object:
    """Return the `magic:` rules of the sidecar config file (None without one)."""
    if not config:
        return None
    import yaml

    option = f"--config {config}"
    try:
        data = yaml.safe_load(_read(config, option))
    except yaml.YAMLError as exc:
        raise UsageError(f"{option}: not YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise UsageError(f"{option}: must be a mapping of settings (with a `magic:` list)")
    return (data or {}).get("magic")
