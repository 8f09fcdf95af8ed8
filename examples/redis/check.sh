#!/usr/bin/env bash
# Starts the shielded redis-server, drives it from the host, stops it with SIGTERM.
set -euo pipefail
nacre=$1 port=$2
"$nacre" run redis-server.manifest.sgx > OUTPUT 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$port" set greeting "hello from the host" >/dev/null
[ "$(redis-cli -p "$port" get greeting)" = "hello from the host" ]
redis-benchmark -p "$port" -q -n 2000 -t set,get
kill -TERM $pid
status=0; wait $pid || status=$?
echo "nacre exited with $status"
echo "[ Success ]"
