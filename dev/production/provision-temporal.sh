#!/bin/sh
# Builds the self-hosted Temporal server and its SQL schema tool from the Go module proxy, once per
# version, into .tools/temporal-server/<version>/ (gitignored with .tools/):
#   temporal-server     go.temporal.io/server/cmd/server
#   temporal-sql-tool   go.temporal.io/server/cmd/tools/sql
# (the SQL tool carries the schemas of its version: deploy/temporal/setup-postgres.sh uses those)
# Used by npm run test:production (dev/production/); prints the directory on its last line.
#
# The module needs Go >= 1.26.10; the toolchain comes from the Go module proxy like the module
# itself (GOTOOLCHAIN below), so any installed go >= 1.21 will do. Cold (empty module and build
# caches) this takes minutes on 2 cores: README "Running in production" has the measured figure.
set -eu

VERSION=${TEMPORAL_SERVER_VERSION:-1.32.2}
export GOTOOLCHAIN=go1.27.3
export CGO_ENABLED=0
export GOFLAGS=-buildvcs=false

root=$(cd "$(dirname "$0")/../.." && pwd)
dest=${TEMPORAL_SERVER_DIR:-$root/.tools/temporal-server/$VERSION}

if [ -x "$dest/temporal-server" ] && [ -x "$dest/temporal-sql-tool" ]; then
  echo "$dest"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "provision-temporal: the Go toolchain (go) is not on PATH" >&2; exit 1; }

mkdir -p "$(dirname "$dest")"
# Built next to its final place and renamed in one step: a run stopped half-way leaves no
# half-installed directory that a later run would take for done.
work=$(mktemp -d "$dest.partial-XXXXXX")
chmod 755 "$work"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
echo "provision-temporal: building go.temporal.io/server v$VERSION with $GOTOOLCHAIN (minutes when the Go caches are cold)" >&2
started=$(date +%s)
GOBIN="$work" go install -ldflags '-s -w' \
  "go.temporal.io/server/cmd/server@v$VERSION" \
  "go.temporal.io/server/cmd/tools/sql@v$VERSION"
mv "$work/server" "$work/temporal-server"
mv "$work/sql" "$work/temporal-sql-tool"
echo "go.temporal.io/server v$VERSION, built with $GOTOOLCHAIN in $(( $(date +%s) - started )) s on $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/SOURCE"
if ! mv "$work" "$dest" 2>/dev/null; then
  # Another run finished first: its copy is as good as ours.
  [ -x "$dest/temporal-server" ] || { echo "provision-temporal: could not move the build to $dest" >&2; exit 1; }
fi
trap - EXIT INT TERM
rm -rf "$work" 2>/dev/null || true
echo "$dest"
