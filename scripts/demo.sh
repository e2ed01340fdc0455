#!/usr/bin/env bash
# make demo: start zts-dev and the agent with configs/demo.yaml, print how
# to use them, and stop both cleanly on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

export SIA_DEMO_DIR="$PWD/.demo"
ZTS_PORT="${ZTS_PORT:-4443}"
export TOKEN_PORT="${TOKEN_PORT:-8880}" METRICS_PORT="${METRICS_PORT:-9999}" HEALTH_PORT="${HEALTH_PORT:-9998}"
mkdir -p "$SIA_DEMO_DIR"

# zts-dev runs in a session of its own, so that Ctrl-C reaches only the
# agent; it is stopped once the agent has shut down (and on any exit).
setsid bin/zts-dev --config configs/zts-dev/demo.yaml --state-dir "$SIA_DEMO_DIR/zts" \
	--listen "127.0.0.1:$ZTS_PORT" >"$SIA_DEMO_DIR/zts-dev.out" 2>"$SIA_DEMO_DIR/zts-dev.log" &
zts_pid=$!
stop_zts() { kill -INT "$zts_pid" 2>/dev/null && wait "$zts_pid" 2>/dev/null || true; }
trap stop_zts EXIT

for _ in $(seq 300); do
	grep -q 'listening on' "$SIA_DEMO_DIR/zts-dev.out" 2>/dev/null && break
	kill -0 "$zts_pid" 2>/dev/null || { cat "$SIA_DEMO_DIR/zts-dev.log" >&2; exit 1; }
	sleep 0.1
done
export ZTS_URL="https://127.0.0.1:$ZTS_PORT/zts/v1" ZTS_CA_FILE="$SIA_DEMO_DIR/zts/ca.pem"
echo "zts-dev: $ZTS_URL (log: $SIA_DEMO_DIR/zts-dev.log)"

# The dev provider sys.auth.dev attests instances with a shared secret; in
# Kubernetes this would be the service account token.
printf 'dev-attestation-secret\n' >"$SIA_DEMO_DIR/attestation"
chmod 600 "$SIA_DEMO_DIR/attestation"

# Once the agent is ready, say how to use it: only then, and never after
# it exited (the loop is stopped when it does).
(
	ready=false
	for _ in $(seq 600); do
		if curl -fs "http://127.0.0.1:$HEALTH_PORT/readyz" >/dev/null 2>&1; then
			ready=true
			break
		fi
		sleep 0.1
	done
	if ! $ready; then
		echo "sia-agent is not ready after 60s: curl -s http://127.0.0.1:$HEALTH_PORT/readyz says why" >&2
		exit 0
	fi
	cat >&2 <<MSG

================================================================================
 sia-agent is ready. In another shell:

 # a role token and an access token, k8s-athenz-sia header mode
 curl -si -H 'X-Athenz-Domain: sia.demo' -H 'X-Athenz-Role: reader' http://127.0.0.1:$TOKEN_PORT/
 # the REST API
 curl -s -H 'Content-Type: application/json' -d '{"domain":"sia.demo","role":"reader"}' http://127.0.0.1:$TOKEN_PORT/accesstoken
 curl -s -H 'Content-Type: application/json' -d '{"domain":"sia.demo","role":"reader"}' http://127.0.0.1:$TOKEN_PORT/roletoken
 # the SPIFFE Workload API (go-spiffe's client) and SDS on a Unix socket: docs/spiffe.md
 go run ./internal/cmd/spiffe-fetch -socket $SIA_DEMO_DIR/spiffe.sock          # SVIDs and bundles
 go run ./internal/cmd/spiffe-fetch -socket $SIA_DEMO_DIR/spiffe.sock -watch   # and every rotation
 # freshness of every credential, and everything else
 curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep ^sia_credential
 curl -s http://127.0.0.1:$HEALTH_PORT/readyz
 curl -s http://127.0.0.1:$HEALTH_PORT/status
 # what was written
 ls -l $SIA_DEMO_DIR/certs $SIA_DEMO_DIR/tokens; cat $SIA_DEMO_DIR/status.json

 Ctrl-C stops the agent (providers shut down in reverse order), then zts-dev.
================================================================================

MSG
) &
banner_pid=$!

# A handler (not an ignore) so that Ctrl-C does not end this script before
# it stops zts-dev; the agent, in the foreground, gets the SIGINT itself.
trap 'true' INT
set +e
bin/sia-agent run --config configs/demo.yaml
code=$?
kill "$banner_pid" 2>/dev/null
wait "$banner_pid" 2>/dev/null
set -e
echo "sia-agent exited with status $code"
exit "$code"
