#!/bin/sh
# Builds the compose stack's Temporal programs from the Go module proxy, once per version, at the
# versions docker-compose.yml pins its images to (one pin: the image tags):
#
#   provision-temporal.sh server   .tools/temporal-server/<temporalio/server tag>/
#                                    temporal-server     go.temporal.io/server/cmd/server
#                                    temporal-sql-tool   go.temporal.io/server/cmd/tools/sql
#                                    (the tool carries its version's schemas: setup-postgres.sh uses them)
#   provision-temporal.sh ui       .tools/temporal-ui/<temporalio/ui tag>/
#                                    ui-server           github.com/temporalio/ui-server/v2/cmd/server
#                                    config/docker.yaml  the image's environment-driven config template
#   provision-temporal.sh          both
#
# Prints each directory on a line of its own. TEMPORAL_SERVER_VERSION / TEMPORAL_UI_VERSION and
# TEMPORAL_SERVER_DIR / TEMPORAL_UI_DIR override the versions and the directories.
# Used by npm run test:production (dev/production/). The server module needs Go >= 1.26.10: the
# toolchain comes from the Go module proxy like the modules (GOTOOLCHAIN below), so any installed
# go >= 1.21 will do. Cold (empty module and build caches) the server takes minutes on 2 cores:
# docs/development.md "The stack without Docker" has the measured figures.
set -eu

export GOTOOLCHAIN=go1.27.3
export CGO_ENABLED=0
export GOFLAGS=-buildvcs=false

root=$(cd "$(dirname "$0")/../.." && pwd)
image_tag() {
  sed -n "s|^ *image: temporalio/$1:\([0-9][0-9.]*\) *\$|\1|p" "$root/docker-compose.yml" | head -n 1
}
command -v go >/dev/null 2>&1 || { echo "provision-temporal: the Go toolchain (go) is not on PATH" >&2; exit 1; }

# build <dest> <module>@<version> <package>=<name>... : go install into <dest>, renaming each binary.
build() {
  dest=$1
  version=$2
  shift 2
  if [ -f "$dest/.complete" ]; then
    echo "$dest"
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  # Built next to its final place and renamed in one step: a run stopped half-way leaves no
  # half-installed directory that a later run would take for done.
  work=$(mktemp -d "$dest.partial-XXXXXX")
  chmod 755 "$work"
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
  started=$(date +%s)
  packages=
  for spec in "$@"; do packages="$packages ${spec%%=*}@$version"; done
  echo "provision-temporal: go install$packages with $GOTOOLCHAIN (minutes when the Go caches are cold)" >&2
  # shellcheck disable=SC2086
  GOBIN="$work" go install -ldflags '-s -w' $packages
  for spec in "$@"; do
    built=$(basename "${spec%%=*}")
    [ "$built" = "${spec#*=}" ] || mv "$work/$built" "$work/${spec#*=}"
  done
  after_build "$work" "$version"
  echo "built $packages with $GOTOOLCHAIN in $(($(date +%s) - started)) s on $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/.complete"
  if ! mv "$work" "$dest" 2>/dev/null; then
    # Another run finished first: its copy is as good as ours.
    [ -f "$dest/.complete" ] || { echo "provision-temporal: could not move the build to $dest" >&2; exit 1; }
  fi
  trap - EXIT INT TERM
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
  echo "$dest"
}

server() {
  version=${TEMPORAL_SERVER_VERSION:-$(image_tag server)}
  [ -n "$version" ] || { echo "provision-temporal: no temporalio/server:<version> image in docker-compose.yml" >&2; exit 1; }
  after_build() { :; }
  build "${TEMPORAL_SERVER_DIR:-$root/.tools/temporal-server/$version}" "v$version" \
    go.temporal.io/server/cmd/server=temporal-server \
    go.temporal.io/server/cmd/tools/sql=temporal-sql-tool
}

ui() {
  version=${TEMPORAL_UI_VERSION:-$(image_tag ui)}
  [ -n "$version" ] || { echo "provision-temporal: no temporalio/ui:<version> image in docker-compose.yml" >&2; exit 1; }
  # The image runs `ui-server --env docker start` with config/docker.yaml from the module: the same file here.
  after_build() {
    mkdir -p "$1/config"
    cp "$(go env GOMODCACHE)/github.com/temporalio/ui-server/v2@$2/config/docker.yaml" "$1/config/docker.yaml"
    chmod 644 "$1/config/docker.yaml"
  }
  build "${TEMPORAL_UI_DIR:-$root/.tools/temporal-ui/$version}" "v$version" \
    github.com/temporalio/ui-server/v2/cmd/server=ui-server
}

case "${1:-all}" in
  server) server ;;
  ui) ui ;;
  all) server && ui ;;
  *) echo "usage: provision-temporal.sh [server|ui]" >&2; exit 2 ;;
esac
