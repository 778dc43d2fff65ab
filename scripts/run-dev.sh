#!/usr/bin/env bash
# Start the stand-in provider (demo credentials, loopback only) and the app in dev
# mode; stop both on Ctrl-C. Called by `make run` after migrations and the seed.
set -euo pipefail
standin_port="${1:-8765}"

python -m connections_app.standin --port "$standin_port" >"${CONNECTIONS_DATA_DIR:-data}/standin.log" 2>&1 &
standin_pid=$!
trap 'kill "$standin_pid" 2>/dev/null || true' EXIT INT TERM

# Point the catalog at the stand-in, exactly as an installation overrides base URLs.
while IFS= read -r line; do export "${line?}"; done \
  < <(python -m connections_app.standin --port "$standin_port" --print-env)

# Register the stand-in's OAuth clients (demo values) so "Connect with …" works.
while read -r app client_id client_secret; do
  printf '%s' "$client_secret" | connections-admin oauth-client set --app "$app" \
    --client-id "$client_id" >/dev/null
done < <(python -m connections_app.standin --print-oauth-clients)

cat <<MSG

  Connections is starting (the first start builds the frontend: a minute or two).

    App:        ${CONNECTIONS_APP_URL:-http://localhost:3000}
    Stand-in:   http://127.0.0.1:${standin_port} (demo provider: API keys and OAuth sign-in
                for Slack, HubSpot and GitHub — pick any account name on its consent page)

  Demo logins (password: connections-demo)
    ada@northstar.test   account admin (every workspace, LLM keys)
    wes@northstar.test   workspace admin, Acme Corp
    bea@northstar.test   builder, Acme Corp and Globex
    vic@northstar.test   viewer, Acme Corp
    cleo@acme.test       client portal, Acme Corp

MSG
# Reload on code changes only: the SQLite files under data/ change on every request.
export REFLEX_HOT_RELOAD_OVERRIDE_PATHS="$PWD/connections_app"
reflex run
