#!/bin/sh
# Runs an operator command (grants, inbox, replay, register-search-attributes, ...) from the TypeScript
# source in a checkout, or from the build in the production image:
#   npm run grants -- list      ->  sh src/cli/run.sh grants list
# Source when tsx (a dev dependency) is installed, as `npm start` runs it: no build step between
# an edit and a command. Otherwise dist/ (`npm ci --omit=dev` has no tsx): the image's way.
set -eu
name=${1:?usage: run.sh <command> [args...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -f "$root/node_modules/tsx/package.json" ] && [ -f "$root/src/cli/$name.ts" ]; then
  exec node --import tsx "$root/src/cli/$name.ts" "$@"
fi
if [ -f "$root/dist/src/cli/$name.js" ]; then
  exec node "$root/dist/src/cli/$name.js" "$@"
fi
echo "run.sh: neither src/cli/$name.ts with tsx installed nor dist/src/cli/$name.js (npm run build) exists" >&2
exit 1
