#!/usr/bin/env bash
# Interoperability tests: drive a freshly built Dormouse with slixmpp, an
# independent XMPP client library. See interop/README.md.
#
#   bash interop/run.sh                 run everything
#   INTEROP_KEEP=1 bash interop/run.sh  keep the temp dir (config, logs, db)
#   INTEROP_DEBUG=1 bash interop/run.sh log every stanza the clients see
#
# Storage is always a fresh SQLite database in the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3          # Debian's python3 with python3-slixmpp
TEST_TIMEOUT=60              # seconds per Python test
STOP_TIMEOUT=10              # seconds the server has to exit after SIGTERM
READY_TRIES=100              # x 0.1 s waiting for /readyz

# Tests that need a particular place in the sequence. Any other
# interop/test_*.py runs after these in phase 1.
PHASE1=(test_login test_roster test_presence test_messages test_offline)
BEFORE_RESTART=test_before_restart
AFTER_RESTART=test_after_restart

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dormouse-interop.XXXXXX")
BIN=$WORK/dormouse
DATA=$WORK/data
CONF=$WORK/dormouse.toml
LOG=$WORK/server.log
SERVER_PID=
passed=0
failed=0
failures=()

log() { printf 'interop: %s\n' "$*"; }

pass() { passed=$((passed + 1)); log "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); log "FAIL $1${2:+: $2}"; }

server_alive() { [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; }

# stop_server: SIGTERM, wait up to STOP_TIMEOUT s; sets STOP_RC to the exit
# status, or to "timeout" (and SIGKILLs) if it did not exit in time.
STOP_RC=
stop_server() {
	STOP_RC=
	[[ -n $SERVER_PID ]] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	local i
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		server_alive || break
		sleep 0.1
	done
	if server_alive; then
		STOP_RC=timeout
		kill -KILL "$SERVER_PID" 2>/dev/null || true
	fi
	local rc=0
	wait "$SERVER_PID" 2>/dev/null || rc=$?
	[[ -n $STOP_RC ]] || STOP_RC=$rc
	SERVER_PID=
}

print_log() {
	echo "----- server log ($LOG) -----"
	cat "$LOG" 2>/dev/null || true
	echo "----- end of server log -----"
}

cleanup() {
	local rc=$?
	stop_server || true
	if [[ ${INTEROP_KEEP:-0} == 1 ]]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

summary() {
	if ((failed > 0)); then
		print_log
		log "failed: ${failures[*]}"
	fi
	echo "interop: $passed passed, $failed failed"
	((failed == 0))
}

# start_server: start in the background and wait for /readyz.
start_server() {
	echo "=== start $(date -u +%FT%TZ)" >>"$LOG"
	"$BIN" serve -config "$CONF" >>"$LOG" 2>&1 &
	SERVER_PID=$!
	local i
	for ((i = 0; i < READY_TRIES; i++)); do
		if ! server_alive; then
			local rc=0
			wait "$SERVER_PID" || rc=$?
			SERVER_PID=
			log "server exited during startup with status $rc"
			return 1
		fi
		if curl -fsS --max-time 1 "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	log "server not ready after $((READY_TRIES / 10)) s (GET /readyz)"
	return 1
}

# run_test NAME: run interop/NAME.py with a time limit; count the result.
run_test() {
	local name=$1 out="$WORK/$1.out" rc=0
	timeout -k 5 "$TEST_TIMEOUT" "$PY" "$HERE/$name.py" >"$out" 2>&1 || rc=$?
	sed 's/^/    /' "$out"
	if ((rc == 0)); then
		pass "$name"
	elif ((rc == 124 || rc == 137)); then
		fail "$name" "killed after ${TEST_TIMEOUT}s"
	else
		fail "$name" "exit status $rc"
	fi
	if ! server_alive; then
		fail "server-alive-after-$name" "the server process is gone"
		summary
		exit 1
	fi
}

# --- build -----------------------------------------------------------------
log "building ./cmd/dormouse"
if ! (cd "$ROOT" && go build -o "$BIN" ./cmd/dormouse) >"$WORK/build.log" 2>&1; then
	cat "$WORK/build.log"
	fail build "go build ./cmd/dormouse failed"
	echo "interop: $passed passed, $failed failed"
	exit 1
fi

# --- configuration -----------------------------------------------------------
# Four free loopback ports, picked by the kernel (bound at the same time so
# they are distinct, then released for the server).
COMPONENT_SECRET="comp-$RANDOM$RANDOM"
read -r C2S_PORT TLS_PORT COMP_PORT ADMIN_PORT < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss: s.close()
')
# A fifth one for the FCM stand-in of test_push_appserver.
FCM_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$DATA"
cat >"$CONF" <<EOF
domain = "localhost"
data_dir = "$DATA"

[log]
level = "${INTEROP_LOG_LEVEL:-debug}"

[push]
appserver_domain = "appserver.localhost" # the built-in app server (push.localhost may be a test's component)
fcm_endpoint = "http://127.0.0.1:$FCM_PORT/v1"

[storage]
url = "sqlite:$DATA/dormouse.db"

[c2s]
listen = "127.0.0.1:$C2S_PORT"
tls_listen = "127.0.0.1:$TLS_PORT"
require_tls = true

[components]
listen = "127.0.0.1:$COMP_PORT"

[components.secrets]
"push.localhost" = "$COMPONENT_SECRET"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"

[http]
listen = ""
EOF

export XMPP_HOST=127.0.0.1 XMPP_PORT=$C2S_PORT XMPP_TLS_PORT=$TLS_PORT XMPP_DOMAIN=localhost
export XMPP_COMPONENT_PORT=$COMP_PORT XMPP_COMPONENT_SECRET=$COMPONENT_SECRET
export ALICE_PASSWORD="alice-pw-$RANDOM$RANDOM,=!" BOB_PASSWORD="bob-pw-$RANDOM$RANDOM"
# Keep the clients' Python from picking up a virtualenv's packages, and
# from writing __pycache__ into the source tree.
unset PYTHONPATH PYTHONHOME
export PYTHONDONTWRITEBYTECODE=1
export INTEROP_BIN=$BIN INTEROP_CONF=$CONF # for tests that run the CLI (push app add)
export FCM_PORT

# --- start -------------------------------------------------------------------
log "starting server (c2s $C2S_PORT, tls $TLS_PORT, admin $ADMIN_PORT, work dir $WORK)"
if start_server; then
	pass server-start
else
	fail server-start "see the log"
	summary
	exit 1
fi

# Accounts are created with the CLI while the server runs on the same
# database; the login tests then prove the server sees them.
for u in alice:"$ALICE_PASSWORD" bob:"$BOB_PASSWORD"; do
	user=${u%%:*} pw=${u#*:} rc=0
	"$BIN" user add -config "$CONF" "$user@localhost" "$pw" >"$WORK/useradd-$user.out" 2>&1 || rc=$?
	if ((rc == 0)); then
		pass "user-add-$user-while-running"
	else
		sed 's/^/    /' "$WORK/useradd-$user.out"
		fail "user-add-$user-while-running" "exit status $rc"
	fi
done
if ((failed > 0)); then
	summary
	exit 1
fi

# --- phase 1 -------------------------------------------------------------------
for t in "${PHASE1[@]}"; do
	run_test "$t"
done
for f in "$HERE"/test_*.py; do
	t=$(basename "$f" .py)
	case " ${PHASE1[*]} $BEFORE_RESTART $AFTER_RESTART " in
	*" $t "*) ;;
	*) run_test "$t" ;;
	esac
done
run_test "$BEFORE_RESTART"

# --- restart -------------------------------------------------------------------
stop_server
if [[ $STOP_RC == 0 ]]; then
	pass "sigterm-exit-0-within-${STOP_TIMEOUT}s"
else
	fail "sigterm-exit-0-within-${STOP_TIMEOUT}s" "exit status: $STOP_RC"
fi
if start_server; then
	pass server-restart
else
	fail server-restart "see the log"
	summary
	exit 1
fi

# --- phase 2 -------------------------------------------------------------------
run_test "$AFTER_RESTART"

stop_server
if [[ $STOP_RC == 0 ]]; then
	pass "final-sigterm-exit-0"
else
	fail "final-sigterm-exit-0" "exit status: $STOP_RC"
fi

summary
