"""The sandbox commands: `sandlot up`, `sandlot keys create|list|revoke` and `sandlot reset`.

The command line's parser (cli/__init__.py) calls `add_sandbox_commands`; only argparse is
imported at that point, and each command imports its work lazily (up.py, the state store).
"""

from __future__ import annotations

import argparse
import sys
import time

from sandlot.cli.args import LOG_LEVELS, listen_port
from sandlot.cli.mock import DEFAULT_DB


def add_sandbox_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `up`, `keys` and `reset` to the top-level sub-commands."""
    up = sub.add_parser("up", help="run a SandboxEnvironment manifest on this machine")
    up.add_argument("manifest", help="SandboxEnvironment YAML file (ConfigMaps in it or next to it)")
    up.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    up.add_argument("--port", type=listen_port, default=4010,
                    help="port of the first downstream; the next ones count up (0: any free port)")
    up.add_argument("--state-dir", default=None,
                    help="where state lives (default .sandlot/<sandbox name>/)")
    up.add_argument("--fresh", action="store_true", help="delete the saved state first")
    up.add_argument("--no-watch", action="store_true",
                    help="do not follow spec changes (by default an edited spec is served at once and its "
                         "changes are printed, breaking ones first: docs/drift.md)")
    up.add_argument("--config", default=None,
                    help="sidecar YAML applied to every stateful stub (quota, retention, overrides)")
    up.add_argument("--lenient", action="store_true",
                    help="every stub accepts what server frameworks coerce, as `sandlot mock --lenient` "
                         "(a downstream's `lenient: true` does it for that one)")
    up.add_argument("--log-level", default="warning", type=str.lower, choices=LOG_LEVELS,
                    help="log level (default warning)")
    up.set_defaults(func=_cmd_up)

    keys = sub.add_parser("keys", help="issue, list or revoke sandbox keys in a state file")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="issue a key (printed once) for a new or given tenant")
    create.add_argument("--tenant", default=None, help="existing tenant id (default: a new tenant)")
    create.add_argument("--name", default="", help="name of a new tenant")
    listing = keys_sub.add_parser("list", help="list keys (never the secrets)")
    listing.add_argument("--tenant", default=None, help="only this tenant's keys")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its key_id")
    revoke.add_argument("key_id")
    for parser in (create, listing, revoke):
        parser.add_argument("--db", default=DEFAULT_DB, help=f"SQLite state file (default {DEFAULT_DB})")
    keys.set_defaults(func=_cmd_keys)

    reset = sub.add_parser("reset", help="return one tenant to exactly its seeded state")
    who = reset.add_mutually_exclusive_group(required=True)
    who.add_argument("--tenant", help="tenant id")
    who.add_argument("--key", help="one of the tenant's keys")
    reset.add_argument("--db", default=DEFAULT_DB, help=f"SQLite state file (default {DEFAULT_DB})")
    reset.set_defaults(func=_cmd_reset)


def _open(db: str):  # type: ignore[no-untyped-def]
    from pathlib import Path

    from sandlot.state.schema import StateFileError
    from sandlot.state.sqlite_store import SQLiteStore

    if not Path(db).exists():
        print(f"error: no state file {db}; start `sandlot mock --stateful --db {db}` or "
              "`sandlot up` first, or pass --db", file=sys.stderr)
        return None
    try:
        return SQLiteStore(db)
    except StateFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _cmd_keys(args: argparse.Namespace) -> int:
    from sandlot.state.auth import issue_for_tenant

    store = _open(args.db)
    if store is None:
        return 2
    try:
        if args.keys_command == "create":
            if args.tenant and store.get_tenant(args.tenant) is None:
                print(f"error: no tenant {args.tenant!r} in {args.db}; omit --tenant to create one",
                      file=sys.stderr)
                return 2
            tenant_id, key = issue_for_tenant(store, time.time(), tenant_id=args.tenant,
                                              name=args.name)
            print(key.secret)
            print(f"key_id {key.key_id}, tenant {tenant_id} (the key is shown only once)",
                  file=sys.stderr)
        elif args.keys_command == "list":
            for record in store.list_keys(args.tenant):
                state = "revoked" if record.revoked_at else "active"
                print(f"{record.key_id}\t{record.tenant_id}\t{record.hint}\t{state}")
        else:
            if not store.revoke_key(args.key_id, time.time()):
                print(f"error: no active key {args.key_id!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.key_id}")
        return 0
    finally:
        store.close()


def _cmd_reset(args: argparse.Namespace) -> int:
    from sandlot.state.auth import authenticate

    store = _open(args.db)
    if store is None:
        return 2
    try:
        tenant_id = args.tenant or authenticate(store, args.key)
        if not tenant_id or store.get_tenant(tenant_id) is None:
            print("error: no such tenant (unknown tenant id, or the key is unknown or revoked)",
                  file=sys.stderr)
            return 1
        started = time.perf_counter()
        count = store.reset_tenant(tenant_id, time.time())
        print(f"reset tenant {tenant_id}: {count} seeded objects restored in "
              f"{(time.perf_counter() - started) * 1000:.1f} ms")
        return 0
    finally:
        store.close()


def _cmd_up(args: argparse.Namespace) -> int:
    """Run `sandlot up`: start, print the summary, serve until Ctrl-C; return the exit code."""
    import logging
    import os
    from pathlib import Path

    from sandlot.http.compose import INPUT_ERRORS
    from sandlot.state.config import load_config
    from sandlot.up import SpecFollower, UpError, serve, start_sandbox, summary

    logging.basicConfig(level=str(args.log_level).upper(), format="%(asctime)s %(levelname)s %(message)s")
    try:
        sandbox = start_sandbox(Path(args.manifest), host=args.host, port=args.port,
                                state_dir=Path(args.state_dir) if args.state_dir else None,
                                fresh=args.fresh, config=load_config(args.config).with_admin_token(
                                    os.environ.get("SANDLOT_ADMIN_TOKEN")), lenient=args.lenient)
    except (UpError, *INPUT_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(sandbox), flush=True)
    if not args.no_watch:
        print(f"\nFollowing the specs in {args.manifest} and the YAML files beside it: an edited spec is served at "
              "once, its changes printed (--no-watch: do not).", flush=True)
    follower = None if args.no_watch else SpecFollower(
        sandbox, lambda text: print(text, flush=True), color=sys.stdout.isatty())
    try:
        serve(sandbox, args.log_level, follower)
    finally:
        sandbox.close()  # writes every request journal and closes the stores
    print("Sandbox stopped.", flush=True)
    return 0
