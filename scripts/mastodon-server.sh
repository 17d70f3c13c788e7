#!/usr/bin/env bash
# A real Mastodon-client-API server on loopback for the end-to-end test: GoToSocial, a Go
# program built from the Go module proxy (no prebuilt download, no network at run time).
#
#   scripts/mastodon-server.sh install           build the binary and a template instance
#                                                with two confirmed accounts (once; minutes;
#                                                a no-op when done: rm GTS_HOME/installed to redo)
#   scripts/mastodon-server.sh install --if-possible
#                                                the same, but without Go, or when the build
#                                                fails, say so and succeed (`make test` uses
#                                                this: the Mastodon end-to-end test skips)
#   scripts/mastodon-server.sh start DIR PORT    a fresh instance in DIR on 127.0.0.1:PORT;
#                                                writes DIR/env with its URL and tokens
#   scripts/mastodon-server.sh stop DIR
#
# GTS_HOME (default ~/.cache/escalation-router/gotosocial) keeps the build between clones;
# GTS_VERSION picks the release (default v0.17.3). Needs: go, python3 with httpx.
set -euo pipefail

VERSION=${GTS_VERSION:-v0.17.3}
MODULE=github.com/superseriousbusiness/gotosocial
GTS_HOME=${GTS_HOME:-$HOME/.cache/escalation-router/gotosocial}
# GoToSocial v0.17.3 pins wazero v1.8.1, whose compiled SQLite crashes ("wasm error: out of
# bounds memory access") when built with Go >= 1.24 (tetratelabs/wazero#2375, fixed in
# v1.9.0); the build upgrades it, and the binary's name says so (a cached older build is
# not reused).
WAZERO=${GTS_WAZERO:-v1.9.0}
BIN=$GTS_HOME/bin/gotosocial-$VERSION-wazero-$WAZERO
PY=${PYTHON:-python3}
PASSWORD='Correct-Horse-Battery-9'
export GTS_WAZERO_COMPILATION_CACHE=$GTS_HOME/wazero

config() {  # config DIR PORT
  cat > "$1/config.yaml" <<EOF
host: "localhost:$2"
protocol: "http"
bind-address: "127.0.0.1"
port: $2
db-type: "sqlite"
db-address: "$1/db.sqlite"
storage-local-base-path: "$1/storage"
web-template-base-dir: "$GTS_HOME/src/web/template/"
web-asset-base-dir: "$GTS_HOME/src/web/assets/"
instance-languages: ["en"]
accounts-registration-open: false
letsencrypt-enabled: false
log-level: "warn"
EOF
}

wait_up() {  # wait_up URL PIDFILE
  for _ in $(seq 1 240); do
    if "$PY" -c "import httpx,sys; httpx.get(sys.argv[1], timeout=2).raise_for_status()" \
        "$1/api/v1/instance" 2>/dev/null; then return 0; fi
    kill -0 "$(cat "$2")" 2>/dev/null || { echo "gotosocial exited" >&2; return 1; }
    sleep 0.5
  done
  echo "gotosocial did not come up" >&2; return 1
}

token() {  # token BASE EMAIL: an OAuth token through the sign-in and authorize pages
  "$PY" - "$1" "$2" "$PASSWORD" <<'EOF'
import re, sys
import httpx
base, email, password = sys.argv[1:4]
oob = "urn:ietf:wg:oauth:2.0:oob"
with httpx.Client(base_url=base, follow_redirects=True, timeout=30) as c:
    app = c.post("/api/v1/apps", json={"client_name": "router-e2e", "redirect_uris": oob,
                                       "scopes": "read write"}).json()
    c.get("/oauth/authorize", params={"client_id": app["client_id"], "redirect_uri": oob,
                                      "response_type": "code", "scope": "read write"})
    r = c.post("/auth/sign_in", data={"username": email, "password": password})
    if "code" not in str(r.url):
        r = c.post("/oauth/authorize", data={})
    m = re.search(r"code=([A-Za-z0-9_-]+)", str(r.url)) or re.search(r"<code>([^<]+)</code>", r.text)
    if not m:
        sys.exit(f"no authorization code ({r.status_code} {r.url})")
    tok = c.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": m.group(1), "client_id": app["client_id"],
        "client_secret": app["client_secret"], "redirect_uri": oob, "scope": "read write"})
    print(tok.json()["access_token"])
EOF
}

installed() {  # the complete install for this version and wazero is in place
  [ "$(cat "$GTS_HOME/installed" 2>/dev/null)" = "$BIN" ] && [ -x "$BIN" ] &&
    [ -f "$GTS_HOME/template/db.sqlite" ]
}

install_if_possible() {
  if installed; then echo "GoToSocial $VERSION is already installed ($BIN)"; return 0; fi
  if ! command -v go >/dev/null; then
    echo "GoToSocial is not installed and there is no Go here; the Mastodon end-to-end test" \
         "will be skipped. To run it: install Go, then $0 install" >&2
    return 0
  fi
  # Its own process: "set -e" is off inside an "if" condition, and install must stop at
  # the first failing step.
  if ! bash "$0" install; then
    echo "WARNING: GoToSocial could not be built; the Mastodon end-to-end test will be" \
         "skipped. To retry: $0 install" >&2
  fi
  return 0
}

install() {
  if installed; then echo "GoToSocial $VERSION is already installed ($BIN)"; return 0; fi
  command -v go >/dev/null || { echo "needs Go (the module proxy must be reachable)" >&2; exit 1; }
  mkdir -p "$GTS_HOME/bin" "$GTS_WAZERO_COMPILATION_CACHE"
  rm -f "$GTS_HOME/installed"  # written last, naming the binary, once all of this worked
  if [ ! -x "$BIN" ]; then
    # The proxy serves the module; its go.sum pins every dependency we then fetch.
    dir=$(GOSUMDB=off GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" |
          "$PY" -c "import json,sys; print(json.load(sys.stdin)['Dir'])")
    rm -rf "$GTS_HOME/src" && cp -r "$dir" "$GTS_HOME/src" && chmod -R u+w "$GTS_HOME/src"
    (cd "$GTS_HOME/src" && GOSUMDB=off GOFLAGS=-mod=mod go get "github.com/tetratelabs/wazero@$WAZERO" \
       && GOFLAGS=-mod=mod go build -trimpath \
       -tags "netgo osusergo static_build kvformat" -ldflags=-checklinkname=0 \
       -o "$BIN" ./cmd/gotosocial)
  fi
  # The template appears only once it is complete: a failed install leaves none, so the
  # end-to-end test is skipped with the install instruction instead of failing to start.
  rm -rf "$GTS_HOME/template" "$GTS_HOME/template.new" && mkdir -p "$GTS_HOME/template.new"
  config "$GTS_HOME/template.new" 18999
  for who in acmesupport:support@acme.example ann:ann@customer.example; do
    "$BIN" --config-path "$GTS_HOME/template.new/config.yaml" admin account create \
      --username "${who%%:*}" --email "${who#*:}" --password "$PASSWORD" >/dev/null
    "$BIN" --config-path "$GTS_HOME/template.new/config.yaml" admin account confirm \
      --username "${who%%:*}" >/dev/null
  done
  mv "$GTS_HOME/template.new" "$GTS_HOME/template"
  # Start once so the WebAssembly compilation cache is warm for the tests.
  start_with "$GTS_HOME/warmup" 18998 && stop "$GTS_HOME/warmup" && rm -rf "$GTS_HOME/warmup"
  echo "$BIN" > "$GTS_HOME/installed"
  echo "installed $BIN ($VERSION)"
}

start() {  # start DIR PORT
  [ "$(cat "$GTS_HOME/installed" 2>/dev/null)" = "$BIN" ] && [ -x "$BIN" ] || {
    echo "run: $0 install" >&2; exit 1; }
  start_with "$1" "$2"
}

start_with() {  # start_with DIR PORT: start from the template (install's warm-up uses it too)
  local dir=$1 port=$2
  mkdir -p "$dir/storage"
  cp "$GTS_HOME/template/db.sqlite" "$dir/db.sqlite"
  config "$dir" "$port"
  nohup "$BIN" --config-path "$dir/config.yaml" server start > "$dir/server.log" 2>&1 &
  echo $! > "$dir/pid"
  local base="http://127.0.0.1:$port"
  wait_up "$base" "$dir/pid"
  {
    echo "MASTODON_E2E_URL=$base"
    echo "MASTODON_E2E_SUPPORT_TOKEN=$(token "$base" support@acme.example)"
    echo "MASTODON_E2E_CUSTOMER_TOKEN=$(token "$base" ann@customer.example)"
  } > "$dir/env"
}

stop() {  # stop DIR
  [ -f "$1/pid" ] || return 0
  local pid; pid=$(cat "$1/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  rm -f "$1/pid"
}

case "${1:-}" in
  install)
    case "${2:-}" in
      "") install ;;
      --if-possible) install_if_possible ;;
      *) echo "usage: $0 install [--if-possible]" >&2; exit 2 ;;
    esac ;;
  start) start "$2" "$3" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 install [--if-possible] | start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
