"""`sandlot requests`: read (or clear) a running stub's request journal, as a table or JSON.

The command line's parser (cli/__init__.py) calls `add_requests_command`; the command asks the
stub's admin API (`GET|DELETE /__sandlot/requests`, docs/inspector.md) with the sandbox key
(its own tenant) or the admin token (every tenant, or `--tenant`). Where to go and with which
key is found as `sandlot trigger` finds it (cli/simulation.py). The table is built by the pure
`table` below, tested on its exact output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from sandlot.cli.simulation import call, with_sandbox_defaults

#: The filters `sandlot requests` passes on, as (option, query parameter).
FILTERS = (("operation", "operation"), ("method", "method"), ("path", "path"), ("status", "status"),
           ("scenario", "scenario"), ("since", "since"), ("text", "q"), ("limit", "limit"))


def add_requests_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `requests` to the top-level sub-commands."""
    cmd = sub.add_parser("requests", help="show what reached a running stub: its request journal",
                         description="Exit codes: 0 answered, 1 the stub refused (the problem is printed), "
                                     "2 the stub cannot be reached.")
    cmd.add_argument("--url", default=None,
                     help="the stub's root URL (default $SANDLOT_URL, else the one in "
                          ".sandlot/<name>/credentials.env, else http://127.0.0.1:4010)")
    cmd.add_argument("--key", default=None,
                     help="a sandbox key: its tenant's requests (default $SANDLOT_KEY, else credentials.env)")
    cmd.add_argument("--admin-token", default=os.environ.get("SANDLOT_ADMIN_TOKEN"),
                     help="admin token: every tenant's requests, or --tenant's (default $SANDLOT_ADMIN_TOKEN)")
    cmd.add_argument("--tenant", default=None, help="only this tenant (with --admin-token)")
    cmd.add_argument("--operation", help="operationId, e.g. createCharge")
    cmd.add_argument("--method", help="HTTP method")
    cmd.add_argument("--path", help="path prefix, e.g. /v1/charges")
    cmd.add_argument("--status", help="404, 4xx, 500-599 or a comma-separated list")
    cmd.add_argument("--scenario", help="scenario name")
    cmd.add_argument("--errors", action="store_true", help="only requests with validation errors")
    cmd.add_argument("--since", help="10m, 2h, Unix seconds or an ISO 8601 time")
    cmd.add_argument("-q", "--text", help="text in the bodies, path or query")
    cmd.add_argument("--limit", type=int, default=50, help="how many, newest first (default 50, at most 1000)")
    cmd.add_argument("--id", type=int, default=None, help="one request in full")
    cmd.add_argument("--json", action="store_true", help="print JSON (what the API answers) instead of a table")
    cmd.add_argument("--clear", action="store_true", help="delete the journal's requests (the tenant's, or all)")
    cmd.set_defaults(func=_cmd_requests)


def request_of(args: argparse.Namespace) -> tuple[str, str, dict[str, str]]:
    """Return (method, URL, headers) of the admin API call the arguments ask for."""
    params: dict[str, str] = {}
    for option, name in FILTERS:
        value = getattr(args, option)
        if value not in (None, ""):
            params[name] = str(value)
    if args.errors:
        params["errors"] = "true"
    headers: dict[str, str] = {}
    if args.admin_token:
        headers["authorization"] = f"Bearer {args.admin_token}"
        if args.tenant:
            params["tenant"] = args.tenant
    elif args.key:
        headers["authorization"] = f"Bearer {args.key}"
    root = args.url.rstrip("/") + "/__sandlot/requests"
    if args.clear:
        return "DELETE", root + ("?" + urllib.parse.urlencode({"tenant": args.tenant}) if args.tenant
                                 and args.admin_token else ""), headers
    if args.id is not None:
        return "GET", f"{root}/{args.id}", headers
    return "GET", root + "?" + urllib.parse.urlencode(params), headers


def _cell(value: Any) -> str:
    return "-" if value in (None, "") else str(value)


def table(entries: Sequence[Mapping[str, Any]]) -> str:
    """Return journal entries as an aligned text table, newest first, one line each."""
    headers = ["ID", "TIME", "TENANT", "METHOD", "PATH", "STATUS", "MS", "OPERATION", "SCENARIO", "ERRORS"]
    rows = [[str(e["id"]), e["time"], e["tenant"], e["method"], e["url"], str(e["status"]),
             f"{e['duration_ms']:.1f}", _cell(e["operation"]), _cell(e["scenario"]),
             str(e["validation_errors"])] for e in entries]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [headers, *rows]]
    return "\n".join(lines) + "\n"


def detail(entry: Mapping[str, Any]) -> str:
    """Return one journal entry in full as text: the exchange, then why it was refused."""
    out = [f"#{entry['id']} {entry['time']} tenant {entry['tenant']} · {_cell(entry['operation'])} · "
           f"{entry['duration_ms']} ms" + (f" · scenario {entry['scenario']}" if entry["scenario"] else ""), ""]
    for title, part, first in (("Request", entry["request"], f"{entry['method']} {entry['url']}"),
                               ("Response", entry["response"], f"{entry['status']}")):
        out.append(f"{title}: {first}")
        out += [f"  {k}: {v}" for k, v in part["headers"].items()]
        if part["body"]:
            out += ["", "  " + part["body"].replace("\n", "\n  ")]
            if part["truncated"]:
                out.append(f"  … ({part['size']} bytes in all)")
        out.append("")
    why = entry.get("explanation")
    if why:
        out.append(f"Why: {why['summary']}")
        for error in why.get("errors") or []:
            rule = f" [{error['rule']}]" if error.get("rule") else ""
            out.append(f"  {error['location']}{error['pointer']}: {error['message']}{rule}")
        for route in why.get("closest") or []:
            out.append(f"  did you mean {route['method']} {route['path']}"
                       + (f" ({route['operation']})" if route["operation"] else "") + "?")
    return "\n".join(out).rstrip() + "\n"


def _cmd_requests(args: argparse.Namespace) -> int:
    from sandlot.up import saved_credentials

    args = with_sandbox_defaults(args, saved_credentials())
    method, url, headers = request_of(args)
    try:
        status, text = call(method, url, headers)
    except OSError as exc:
        print(f"error: cannot reach {url}: {exc}; is the sandbox running (sandlot up / sandlot mock)?",
              file=sys.stderr)
        return 2
    if status != 200:
        print(text, file=sys.stderr)
        return 1
    answer = json.loads(text)
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    elif args.clear:
        print(f"deleted {answer['deleted']} requests")
    elif args.id is not None:
        sys.stdout.write(detail(answer))
    else:
        sys.stdout.write(table(answer["requests"]))
    return 0
