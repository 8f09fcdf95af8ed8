#!/usr/bin/env bash
# make check: the three cases of the example, each against a fresh
# nacre secret-server on 127.0.0.1:$PORT.
#   1. the attested application gets the key, reads its encrypted input and
#      writes an encrypted result, which the owner decrypts;
#   2. a server whose policy names another measurement refuses: nacre run
#      fails before the application starts and the audit line says why;
#   3. an RA-TLS certificate that was accepted once is refused when it is
#      presented again (replay).
set -euo pipefail
: "${NACRE:?}" "${PORT:?}" "${PYTHON:?}" "${SIM_KEY:?}" "${APP:?}"
ADDR=127.0.0.1:$PORT
server_pid=

fail() { echo "check: FAILED: $*" >&2; exit 1; }

stop_server() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=
	fi
}
trap stop_server EXIT

# start_server POLICY LOG: start the server and wait until it listens.
start_server() {
	"$NACRE" secret-server --policy "$1" --cert ssl/server.crt --key ssl/server.key \
		--listen "$ADDR" 2>"$2" &
	server_pid=$!
	for _ in $(seq 100); do
		grep -q "server listening" "$2" && return 0
		kill -0 "$server_pid" 2>/dev/null || { cat "$2" >&2; fail "secret-server did not start"; }
		sleep 0.1
	done
	cat "$2" >&2
	fail "secret-server is not listening on $ADDR"
}

# 1. Provisioning, confidential processing, the owner decrypts the result.
rm -f enc/result.txt result.txt
start_server policy.toml server.log
"$NACRE" run --platform sim "$APP.manifest.sgx" >OUTPUT 2>OUTPUT.err || { cat OUTPUT OUTPUT.err >&2; fail "nacre run"; }
grep -q "app: processed 10 secret numbers" OUTPUT || fail "application output: $(cat OUTPUT)"
"$NACRE" pf decrypt -w wrap-key.bin -i enc/result.txt -o result.txt
grep -qx "count=10 sum=55 sum_of_squares=385" result.txt || fail "decrypted result: $(cat result.txt)"
grep -q "verdict=accept" server.log || fail "no accepting audit line in server.log"
echo "check: provisioned and decrypted: $(cat result.txt)"

# 3. Replay: a certificate for the right identity, accepted once, refused
# the second time.
meas=$("$NACRE" inspect --json "$APP.manifest.sgx" | sed -n 's/.*"measurement": "\(.*\)".*/\1/p')
signer=$("$NACRE" inspect --json "$APP.manifest.sgx" | sed -n 's/.*"signer": "\(.*\)".*/\1/p')
"$NACRE" ratls --platform sim --sim-key "$SIM_KEY" --measurement "$meas" --signer "$signer" replay.crt replay.key 2>/dev/null
"$PYTHON" client/replay.py "$ADDR" ssl/ca.crt replay.crt replay.key || fail "first use of the certificate was refused"
if "$PYTHON" client/replay.py "$ADDR" ssl/ca.crt replay.crt replay.key; then
	fail "replayed certificate accepted"
fi
grep -q "check=replay" server.log || fail "no replay audit line in server.log"
echo "check: replayed certificate refused: $(grep 'check=replay' server.log | head -1)"
stop_server

# 2. Wrong measurement: the server's policy names another application.
sed "s|$meas|$(printf '0%.0s' $(seq 64))|" policy.toml >policy-wrong.toml
rm -f enc/result.txt
start_server policy-wrong.toml server-wrong.log
if "$NACRE" run --platform sim "$APP.manifest.sgx" >OUTPUT.wrong 2>OUTPUT.wrong.err; then
	fail "nacre run succeeded although the server refuses this measurement"
fi
grep -q "secret provisioning failed, the application was not started" OUTPUT.wrong.err || { cat OUTPUT.wrong.err >&2; fail "no clear error from nacre run"; }
! grep -q "app: processed" OUTPUT.wrong || fail "the application ran without its key"
[ ! -e enc/result.txt ] || fail "a result was written without the key"
grep -q "verdict=refuse.*check=measurement" server-wrong.log || { cat server-wrong.log >&2; fail "no measurement refusal in server-wrong.log"; }
echo "check: wrong measurement refused: $(grep 'check=measurement' server-wrong.log | head -1)"
stop_server
echo "[ Success ]"
