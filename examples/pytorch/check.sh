#!/usr/bin/env bash
# make check: the owner's secret server releases the key to the attested
# inference manifest; the shield classifies the encrypted input with the
# encrypted model and writes an encrypted result; the owner decrypts it.
set -euo pipefail
: "${NACRE:?}" "${PORT:?}" "${APP:?}" "${VARIANT:?}"
fail() { echo "check: FAILED: $*" >&2; exit 1; }
log=server-$VARIANT.log
"$NACRE" secret-server --policy "policy-$VARIANT.toml" --cert ssl/server.crt --key ssl/server.key \
	--listen "127.0.0.1:$PORT" 2>"$log" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true; wait $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	grep -q "server listening" "$log" && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; fail "secret-server did not start"; }
	sleep 0.1
done

rm -f "enc-$VARIANT/result.txt" "result-$VARIANT.txt"
"$NACRE" run --platform sim "$APP.manifest.sgx" >"OUTPUT-$VARIANT" 2>"OUTPUT-$VARIANT.err" ||
	{ cat "OUTPUT-$VARIANT" "OUTPUT-$VARIANT.err" "$log" >&2; fail "nacre run"; }
grep -q "classified 6 colours" "OUTPUT-$VARIANT" || fail "inference output: $(cat "OUTPUT-$VARIANT")"
"$NACRE" pf decrypt -w wrap-key.bin -i "enc-$VARIANT/result.txt" -o "result-$VARIANT.txt"
for want in "tomato: red" "forest: green" "navy: blue" "gold: yellow" "charcoal: black" "snow: white"; do
	grep -q "^$want " "result-$VARIANT.txt" || fail "result lacks \"$want\": $(cat "result-$VARIANT.txt")"
done
grep -q "verdict=accept" "$log" || fail "no accepting audit line in $log"
echo "check: the owner decrypted result-$VARIANT.txt:"
sed 's/^/  /' "result-$VARIANT.txt"
echo "[ Success ]"
