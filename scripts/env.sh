# Sourced by the other scripts: puts the project's own Node 22 and pnpm first on PATH,
# installing them from the npm registry into .tools/ when the system Node is older.
TETHER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TETHER_NODE_VERSION=22.23.3
TETHER_PNPM_VERSION=10.34.9

tether_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

tether_ensure_toolchain() {
  local tools="$TETHER_ROOT/.tools"
  export PATH="$TETHER_ROOT/node_modules/.bin:$tools/node_modules/.bin:$PATH"
  if [ "$(tether_node_major)" -ge 22 ] && command -v pnpm >/dev/null && [ "$(pnpm --version)" = "$TETHER_PNPM_VERSION" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    echo "tether: npm is needed to fetch Node $TETHER_NODE_VERSION; install Node.js (any version) with npm first" >&2
    return 1
  fi
  echo "tether: installing Node $TETHER_NODE_VERSION and pnpm $TETHER_PNPM_VERSION into .tools/ (one time)" >&2
  mkdir -p "$tools"
  [ -f "$tools/package.json" ] || echo '{"private":true}' > "$tools/package.json"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
    "node@$TETHER_NODE_VERSION" "pnpm@$TETHER_PNPM_VERSION" >&2
  hash -r
  if [ "$(tether_node_major)" -lt 22 ]; then
    echo "tether: Node 22 did not install into $tools; see the npm output above" >&2
    return 1
  fi
}

tether_ensure_deps() {
  tether_ensure_toolchain || return 1
  (cd "$TETHER_ROOT" && pnpm install --frozen-lockfile --reporter=append-only >&2 2>&1 || pnpm install --reporter=append-only >&2) || return 1
  export PATH="$TETHER_ROOT/node_modules/.bin:$PATH"
}
