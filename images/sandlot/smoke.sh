#!/bin/sh
# Smoke check of an installed `sandlot`: every command starts, and `sandlot mock` answers a
# request over HTTP on 127.0.0.1. Run by the image build (images/sandlot/Dockerfile) and by
# tests/install/test_wheel.py against a wheel installed without extras, so the two agree.
# Needs `sandlot` and `python` on PATH; SMOKE_PORT picks the port (default 4010).
set -eu
port="${SMOKE_PORT:-4010}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cat > "$dir/spec.yaml" <<'EOF'
openapi: 3.0.3
info: {title: smoke, version: "1"}
paths:
  /ping:
    get:
      responses:
        "200":
          description: pong
          content:
            application/json:
              example: {pong: true}
EOF
sandlot --help >/dev/null
sandlot operator --help >/dev/null
sandlot mock "$dir/spec.yaml" --check
sandlot mock "$dir/spec.yaml" --host 127.0.0.1 --port "$port" --no-watch --log-level warning &
pid=$!
status=0
python - "http://127.0.0.1:$port/ping" <<'EOF' || status=$?
import json, sys, time, urllib.request
deadline = time.monotonic() + 30
while True:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
            body = json.load(response)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"smoke: `sandlot mock` did not answer {sys.argv[1]} within 30 s")
        time.sleep(0.1)
if body != {"pong": True}:
    sys.exit(f"smoke: GET /ping answered {body!r}, expected the spec's example")
print("smoke: sandlot mock answered GET /ping")
EOF
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
exit "$status"
