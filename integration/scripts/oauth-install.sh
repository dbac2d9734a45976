#!/usr/bin/env bash
# Installs the oidc-provider test authorization server's dependencies
# (integration/oauth) from the committed package-lock.json, only when
# node_modules is missing or older than package-lock.json.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../oauth" && pwd)"
cd "$dir"
# Test packages may start servers in parallel: one install at a time.
if command -v flock >/dev/null; then
  exec 9>"$dir/.install.lock"
  flock 9
fi
stamp=node_modules/.package-lock.json # written by npm on every install
if [[ -f "$stamp" && ! package-lock.json -nt "$stamp" ]]; then
  exit 0
fi
command -v npm >/dev/null || { echo "oauth-install: npm not found (need Node.js >= 20.19)" >&2; exit 1; }
echo "oauth-install: npm ci in $dir" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
touch "$stamp"
