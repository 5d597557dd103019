#!/bin/sh
# One-shot (temporal-setup in docker-compose.yml, image temporalio/admin-tools): waits until the
# server is healthy, creates the namespace if missing and registers the product's search
# attributes (SEARCH_ATTRIBUTES: `Name=Type` pairs, those of src/domain/search-attributes.ts).
# The server accepts an attribute again with the same type; another type fails this container,
# and with it the start of the worker and the ingress (which depend on it).
set -eu
: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${SEARCH_ATTRIBUTES:?}"

tries=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "Temporal at $TEMPORAL_ADDRESS is not healthy after 60 tries" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" --retention "${RETENTION:-30d}"
fi

set --
for pair in $SEARCH_ATTRIBUTES; do
  set -- "$@" --name "${pair%%=*}" --type "${pair#*=}"
done
# A namespace just created takes a moment to reach every frontend cache: a few tries.
tries=0
until temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" "$@"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 10 ]; then
    echo "could not register the search attributes (a type conflict is reported above)" >&2
    exit 1
  fi
  sleep 3
done
temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE"
