#!/usr/bin/env bash
# bench/peers.sh: measure Dormouse, Prosody and ejabberd side by side with the
# repository's own load tool (cmd/dormouse-bench), on this machine, over
# loopback, in one run.
#
#   sudo bench/peers.sh              # full run: about 25 minutes on 2 cores
#   REPS=1 SERVERS=dormouse REPORT=0 RESULTS_DIR=/tmp/r bench/peers.sh   # a partial test run
#
# Every size below can be set from the environment (REPS, SERVERS, ACCOUNTS,
# LOGIN_N, IDLE_N, TP_DURATION, RESUME_N, HIB_N, MAM_PREFILL, PUSH_BURSTS, ...);
# PROFILE=0 skips the Dormouse profiles; FIGURES limits the groups measured
# (default "idle login messages resume hibernate mam_push").
#
# What it does:
#   1. installs Debian's prosody, prosody-modules, lua-dbi-sqlite3, ejabberd and
#      python3-matplotlib (for the plots) if missing (apt-get; services the
#      packages would start are prevented with policy-rc.d, and the script
#      checks that nothing listens on the standard XMPP ports afterwards);
#   2. builds dormouse, dormouse-bench and bench/mkusers from this checkout;
#   3. creates a private temporary directory on the real disk (STORAGE=disk,
#      the default: under DISK_DIR, /var/tmp unless set; the script refuses a
#      tmpfs there) or on tmpfs (STORAGE=tmpfs: /dev/shm, where fsync is free;
#      the report labels the medium of every run) holding a
#      self-signed ECDSA P-256 certificate shared by all three servers and one
#      configuration and data directory per server, with TLS required, stream
#      management, MAM (archive everything by default), carbons, CSI and push
#      enabled where the server has them, and rate limits off;
#   4. creates accounts bench0..bench<N-1> (password = name, SCRAM-SHA-1 with
#      4096 iterations on all three) in bulk;
#   5. runs REPS repetitions of every figure against every server (the order
#      of servers rotates between repetitions), each server started fresh for
#      each group of measurements (idle SM off; idle SM on; logins; messages;
#      resumption over STARTTLS and direct TLS; hibernated sessions; MAM
#      queries and push), and appends JSON lines to
#      bench/results/<UTC timestamp>.jsonl;
#   6. profiles Dormouse in extra runs (CPU during logins, throughput and
#      archived throughput; the heap with 1,000 idle sessions, and with
#      HIB_N hibernated ones: Go heap per hibernated session), saved next to
#      the results with their `go tool pprof -top` summaries;
#   7. writes docs/benchmarks.md with bench/report.py: medians of the REPS
#      repetitions with their range, the run's date, commit, storage medium
#      and command, and every figure more than 10% worse than in the
#      previous results file flagged.
# Every server is stopped on exit (trap) and the temporary directory deleted.
#
# Ports (loopback only): Prosody c2s 15222, direct TLS 15223, components
# 15347; ejabberd c2s 25222, direct TLS 25223, components 25347 and Erlang
# distribution 25999; Dormouse c2s 30222, direct TLS 30223, components 30347
# and admin HTTP 30280. The push scenario's app server (the load tool)
# connects to the component port as push.localhost with PUSH_SECRET.
#
# Resumption timeouts (all defaults, long enough for every scenario here):
# Prosody smacks_hibernation_time 600 s, ejabberd resume_timeout 300 s,
# Dormouse stream_management.resume_timeout 10 min.
#
# The machine may be shared: before each CPU-sensitive measurement the script
# waits (up to QUIET_MAX seconds) until other processes use less than
# QUIET_CORES cores, and each result records how much CPU other processes
# used while it was measured (other_cpu_s). A measurement disturbed by more
# than QUIET_CORES is repeated once; report.py keeps the least disturbed
# attempt.

set -euo pipefail

# The command as run, with the settings given in the environment, for the report.
COMMAND="$0 $*"
for k in REPS SERVERS FIGURES STORAGE DISK_DIR PROFILE; do
	[ -z "${!k+x}" ] || COMMAND="$k=${!k} $COMMAND"
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
REPS=${REPS:-3}
SERVERS=${SERVERS:-"dormouse dormouse_pg prosody ejabberd"}  # dormouse_pg: Dormouse on PostgreSQL, archived figures only
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}  # for dormouse_pg (a database is created and dropped)
ACCOUNTS=${ACCOUNTS:-10000}
LOGIN_N=${LOGIN_N:-2000}          # logins per measurement
LOGIN_C=${LOGIN_C:-50}            # concurrent logins
IDLE_N=${IDLE_N:-10000}           # idle sessions held (one account each: ACCOUNTS ≥ IDLE_N)
IDLE_SETTLE=${IDLE_SETTLE:-10s}   # wait before reading RSS
TP_PAIRS=${TP_PAIRS:-50}          # throughput: pairs, window per sender, time
TP_WINDOW=${TP_WINDOW:-10}
ARCH_WINDOW_LOW=${ARCH_WINDOW_LOW:-2}  # archived again with this window: the p99 < 50 ms half of the budget
TP_DURATION=${TP_DURATION:-10s}
ARCH_DURATION=${ARCH_DURATION:-5s}  # archived throughput
LAT_DURATION=${LAT_DURATION:-3s}    # unloaded latency: 1 pair, window 1
QUIET_CORES=${QUIET_CORES:-0.5}
QUIET_MAX=${QUIET_MAX:-60}
RETRY_BUDGET=${RETRY_BUDGET:-900}   # no waiting or retries after this many seconds
PROFILE=${PROFILE:-1}
STORAGE=${STORAGE:-disk}           # disk (under DISK_DIR) or tmpfs (/dev/shm)
DISK_DIR=${DISK_DIR:-/var/tmp}
FIGURES=${FIGURES:-"idle login messages resume hibernate mam_push"}
RESUME_N=${RESUME_N:-200}          # sessions cut and resumed (each way: STARTTLS, direct TLS)
RESUME_QUEUE=${RESUME_QUEUE:-5}    # messages read but not acknowledged per session at the cut
RESUME_C=${RESUME_C:-1}            # concurrent resumptions (1: latency without queueing)
HIB_N=${HIB_N:-10000}              # hibernated sessions held (ACCOUNTS ≥ HIB_N)
HIB_WAIT=${HIB_WAIT:-10s}          # wait after the cut before reading RSS
MAM_PREFILL=${MAM_PREFILL:-2000}   # archived messages, then queries of each shape
MAM_QUERIES=${MAM_QUERIES:-50}
PUSH_BURSTS=${PUSH_BURSTS:-4}      # bursts of PUSH_BURST messages, each given PUSH_GAP for its publishes
PUSH_BURST=${PUSH_BURST:-5}
PUSH_GAP=${PUSH_GAP:-1.5s}
PUSH_SECRET=bench-push-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')

PORT_PROSODY=15222
PORT_EJABBERD=25222
DIST_EJABBERD=25999
PORT_DORMOUSE=30222  # all below 32768, where Linux starts picking ephemeral
ADMIN_DORMOUSE=30280 # ports: thousands of client sockets come and go here
# Direct TLS (XEP-0368) and component (XEP-0114) ports: c2s port + 1 and + 125.
TLS_OFFSET=1
COMP_OFFSET=125

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}
REPORT=${REPORT:-1} # 0: do not write docs/benchmarks.md (test runs)
RESULTS=$RESULTS_DIR/$STAMP.jsonl
T_START=$SECONDS

log() { printf '%s peers: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get, and starting Prosody and ejabberd as their own users)"
command -v go >/dev/null || die "go not found"

# ---------------------------------------------------------------------------
# 1. Packages
# ---------------------------------------------------------------------------

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

install_peers() {
	local pkgs=(prosody prosody-modules lua-dbi-sqlite3 ejabberd python3-matplotlib)
	local missing=() p
	for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		# Keep the packages from starting their system-wide services.
		local own_policy=""
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod +x /usr/sbin/policy-rc.d
			own_policy=1
		fi
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
		[ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
	fi
	# Should a packaged instance run anyway (a system with systemd), stop it:
	# the comparison uses private instances only.
	for p in 5222 5223 5269 5280 5443; do
		if ss -ltnpH "sport = :$p" | grep -qE 'lua|prosody|beam'; then
			log "a packaged server listens on :$p; stopping the system services"
			service prosody stop >/dev/null 2>&1 || true
			service ejabberd stop >/dev/null 2>&1 || true
			sleep 2
			! ss -ltnpH "sport = :$p" | grep -qE 'lua|prosody|beam' ||
				die "something still listens on :$p: $(ss -ltnpH "sport = :$p")"
		fi
	done
	for p in $PORT_PROSODY $PORT_EJABBERD $DIST_EJABBERD $PORT_DORMOUSE $ADMIN_DORMOUSE \
		$((PORT_PROSODY + TLS_OFFSET)) $((PORT_EJABBERD + TLS_OFFSET)) $((PORT_DORMOUSE + TLS_OFFSET)) \
		$((PORT_PROSODY + COMP_OFFSET)) $((PORT_EJABBERD + COMP_OFFSET)) $((PORT_DORMOUSE + COMP_OFFSET)); do
		[ -z "$(ss -ltnH "sport = :$p")" ] || die "port $p is in use: $(ss -ltnpH "sport = :$p")"
	done
}

# ---------------------------------------------------------------------------
# 2-4. Build, certificate, configurations, accounts
# ---------------------------------------------------------------------------

WORK=""
SERVER_PID=""  # the process measured (-pid): dormouse, lua5.4 or beam.smp
LAUNCH_PID=""  # the process started (its parent, for ejabberd)
RUNNING=""     # name of the running server
PG_DB=""       # dormouse_pg's database

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -z "$RUNNING" ] || stop_server
	[ -z "$WORK" ] || rm -rf "$WORK"
	[ -z "$PG_DB" ] || PGOPTIONS=--client-min-messages=warning psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
	exit $rc
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

build() {
	log "building dormouse, dormouse-bench and mkusers"
	mkdir -p "$WORK/bin"
	(cd "$REPO" && go build -o "$WORK/bin/dormouse" ./cmd/dormouse &&
		go build -o "$WORK/bin/dormouse-bench" ./cmd/dormouse-bench &&
		go build -o "$WORK/bin/mkusers" ./bench/mkusers)
}

make_cert() {
	mkdir -p "$WORK/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost \
		-keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null
	chmod 644 "$WORK/tls/key.pem" # read by the prosody and ejabberd users; a throwaway key
}

setup_dormouse() { dormouse_config "$WORK/dormouse" "sqlite:$WORK/dormouse/data/dormouse.db"; }

# setup_dormouse_pg: Dormouse on PostgreSQL (PG_URL), a database of its own
# (dropped at the end), for the archived figures.
setup_dormouse_pg() {
	PG_DB=dormouse_peers_$$
	PGOPTIONS=--client-min-messages=warning psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB" \
		-c "CREATE DATABASE $PG_DB" >&2 || die "PostgreSQL at $PG_URL: cannot create a database (set PG_URL, or leave dormouse_pg out of SERVERS)"
	dormouse_config "$WORK/dormouse_pg" "$PG_URL/$PG_DB?sslmode=disable"
}

# dormouse_config DIR STORAGE_URL: Dormouse's configuration in DIR and its
# accounts.
dormouse_config() {
	local d=$1 url=$2
	mkdir -p "$d/data"
	# Defaults except: private ports, our certificate, the push app server's
	# component secret, and the limits the peers do not have by default off:
	# connections per IP (1,000 sessions come from 127.0.0.1), the
	# per-session stanza rate, and the stranger throttle (privacy.max_new_peers:
	# the bench accounts are strangers to each other, and a scenario that
	# messages more than 100 of them in an hour would wait seconds per stanza).
	cat >"$d/dormouse.toml" <<-EOF
		domain = "localhost"
		data_dir = "$d/data"
		[storage]
		url = "$url"
		[log]
		level = "warn"
		[c2s]
		listen = "127.0.0.1:$PORT_DORMOUSE"
		tls_listen = "127.0.0.1:$((PORT_DORMOUSE + TLS_OFFSET))"
		max_connections_per_ip = 0
		stanza_rate = 1000000
		stanza_burst = 1000000
		[tls]
		cert = "$WORK/tls/cert.pem"
		key = "$WORK/tls/key.pem"
		[components]
		listen = "127.0.0.1:$((PORT_DORMOUSE + COMP_OFFSET))"
		[components.secrets]
		"push.localhost" = "$PUSH_SECRET"
		[admin]
		listen = "127.0.0.1:$ADMIN_DORMOUSE"
		[http]
		listen = ""
		[s2s]
		enabled = false
		[privacy]
		max_new_peers = 0
	EOF
	"$WORK/bin/mkusers" -storage "$url" -domain localhost -n "$ACCOUNTS" >&2
}

setup_prosody() {
	local d=$WORK/prosody
	mkdir -p "$d/data" "$d/certs"
	# Modules: the Debian default set minus what Dormouse does not have (PEP,
	# bookmarks, invites, registration, admin, s2s) and minus mod_limits (rate
	# limits); plus MAM on SQLite, push (mod_cloud_notify, prosody-modules) and
	# vCard-temp. Nagle off: 0.12's epoll backend keeps it on by default, which
	# adds ~40 ms to multi-part replies. The push app server is a component
	# (push.localhost); mod_cloud_notify keeps its defaults (no body, no
	# sender in the push).
	cat >"$d/prosody.cfg.lua" <<-EOF
		pidfile = "$d/prosody.pid"
		data_path = "$d/data"
		certificates = "$d/certs"
		log = { warn = "$d/prosody.log" }
		interfaces = { "127.0.0.1" }
		c2s_ports = { $PORT_PROSODY }
		c2s_direct_tls_ports = { $((PORT_PROSODY + TLS_OFFSET)) }
		component_ports = { $((PORT_PROSODY + COMP_OFFSET)) }
		component_interfaces = { "127.0.0.1" }
		s2s_ports = { }
		network_settings = { nagle = false }
		modules_enabled = {
			"roster"; "saslauth"; "tls"; "disco"; "ping"; "version"; "blocklist"; "vcard";
			"carbons"; "mam"; "smacks"; "csi_simple"; "cloud_notify"; "posix";
		}
		modules_disabled = { "s2s" }
		c2s_require_encryption = true
		authentication = "internal_hashed"
		default_iteration_count = 4096
		default_archive_policy = true
		storage = { archive = "sql" }
		sql = { driver = "SQLite3", database = "prosody.sqlite" }
		ssl = { certificate = "$WORK/tls/cert.pem", key = "$WORK/tls/key.pem" }
		VirtualHost "localhost"
		Component "push.localhost"
		  component_secret = "$PUSH_SECRET"
	EOF
	/usr/bin/python3 "$REPO/bench/prosody_accounts.py" "$d/data" localhost "$ACCOUNTS" >&2
	chown -R prosody:prosody "$d"
}

setup_ejabberd() {
	local d=$WORK/ejabberd
	mkdir -p "$d/spool" "$d/logs" "$d/home"
	cat "$WORK/tls/cert.pem" "$WORK/tls/key.pem" >"$d/cert.pem"
	cp /etc/ejabberd/inetrc "$d/inetrc"
	# A private node: its own cookie, and Erlang distribution on a fixed
	# loopback port without epmd (another Erlang node may own epmd here).
	cat >"$d/ejabberdctl.cfg" <<-EOF
		ERLANG_NODE=ejabberd@localhost
		ERL_DIST_PORT=$DIST_EJABBERD
		INET_DIST_INTERFACE=127.0.0.1
		ERL_OPTIONS="-setcookie $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
		EJABBERD_PID_PATH=$d/ejabberd.pid
		EJABBERD_BYPASS_WARNINGS=true
	EOF
	# Defaults except: private port; backlog 128 like Prosody (ejabberd's 5
	# drops SYNs at 50 concurrent connects, which measures the kernel's retry
	# timer, not the server); no c2s shaper (the Debian config limits each
	# client to a few KB/s); SCRAM-SHA-1 stored keys instead of plain text
	# passwords, as Prosody and Dormouse store them.
	cat >"$d/ejabberd.yml" <<-EOF
		hosts:
		  - localhost
		loglevel: warning
		certfiles:
		  - $d/cert.pem
		listen:
		  -
		    port: $PORT_EJABBERD
		    ip: "127.0.0.1"
		    module: ejabberd_c2s
		    max_stanza_size: 262144
		    starttls_required: true
		    backlog: 128
		  -
		    port: $((PORT_EJABBERD + TLS_OFFSET))
		    ip: "127.0.0.1"
		    module: ejabberd_c2s
		    max_stanza_size: 262144
		    tls: true
		    backlog: 128
		  -
		    port: $((PORT_EJABBERD + COMP_OFFSET))
		    ip: "127.0.0.1"
		    module: ejabberd_service
		    hosts:
		      push.localhost:
		        password: "$PUSH_SECRET"
		auth_method: internal
		auth_password_format: scram
		auth_scram_hash: sha
		acl:
		  local:
		    user_regexp: ""
		access_rules:
		  local:
		    allow: local
		  c2s:
		    allow: all
		shaper_rules:
		  max_user_sessions: 10
		  max_user_offline_messages: 5000
		modules:
		  mod_disco: {}
		  mod_roster: {}
		  mod_ping: {}
		  mod_version:
		    show_os: false
		  mod_vcard: {}
		  mod_privacy: {}
		  mod_blocking: {}
		  mod_offline: {}
		  mod_carboncopy: {}
		  mod_client_state: {}
		  mod_mam:
		    default: always
		  mod_stream_mgmt: {}
		  mod_push: {}
	EOF
	chown -R ejabberd:ejabberd "$d"
	start_server ejabberd
	register_ejabberd
	stop_server
}

# as_ejabberd runs a command as the ejabberd user with the private HOME.
# setpriv, unlike su, keeps the raised open-files limit.
as_ejabberd() {
	setpriv --reuid=ejabberd --regid=ejabberd --init-groups env HOME="$WORK/ejabberd/home" "$@"
}

ejabberdctl() {
	local d=$WORK/ejabberd
	(cd "$d" && as_ejabberd /usr/sbin/ejabberdctl --config-dir "$d" --config "$d/ejabberd.yml" \
		--ctl-config "$d/ejabberdctl.cfg" --logs "$d/logs" --spool "$d/spool" "$@")
}

# register_ejabberd registers the accounts from one Erlang node, 8 at a time
# (one ejabberdctl call per account would start an Erlang VM each time).
register_ejabberd() {
	local d=$WORK/ejabberd cookie
	cookie=$(sed -n 's/^ERL_OPTIONS="-setcookie \(.*\)"$/\1/p' "$d/ejabberdctl.cfg")
	log "registering $ACCOUNTS ejabberd accounts"
	(cd "$d" && as_ejabberd erl -sname "bench-register@localhost" -hidden -noinput -setcookie "$cookie" \
		-erl_epmd_port "$DIST_EJABBERD" -start_epmd false -dist_listen false -eval "
		Node = 'ejabberd@localhost', Count = $ACCOUNTS, Workers = 8, Self = self(),
		Reg = fun(I) ->
			U = list_to_binary(\"bench\" ++ integer_to_list(I)),
			rpc:call(Node, ejabberd_auth, try_register, [U, <<\"localhost\">>, U])
		end,
		[spawn_link(fun() -> Self ! {done, [Reg(I) || I <- lists:seq(K, Count - 1, Workers)]} end)
			|| K <- lists:seq(0, Workers - 1)],
		Rs = lists:append([receive {done, R} -> R end || _ <- lists:seq(1, Workers)]),
		Bad = [R || R <- Rs, R =/= ok, R =/= {error, exists}],
		io:format(\"registered ~p ejabberd accounts, failures: ~p~n\", [length(Rs) - length(Bad), lists:sublist(Bad, 3)]),
		halt(case Bad of [] -> 0; _ -> 1 end).") >&2
}

# ---------------------------------------------------------------------------
# Starting and stopping
# ---------------------------------------------------------------------------

# wait_port PORT TIMEOUT_S waits until something listens on PORT, failing
# early if the launched process has died.
wait_port() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ -z "$(ss -ltnH "sport = :$1")" ] || return 0
		kill -0 "$LAUNCH_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# server_failed saves the server's output and logs next to the results
# (the work directory is deleted on exit) and stops the run.
server_failed() {
	local s=$1 f=$RESULTS_DIR/$STAMP-failure-$1.log
	{
		echo "== $2"
		for x in "$WORK/$s"/stdout "$WORK/$s"/*.log "$WORK/$s"/logs/*.log; do
			[ -f "$x" ] && { echo "== $x"; tail -50 "$x"; }
		done
	} >"$f" 2>&1 || true
	die "$2 (logs saved in $f)"
}

# find_descendant PID NAME prints the first process named NAME below PID.
find_descendant() {
	local queue=("$1") p c
	while [ ${#queue[@]} -gt 0 ]; do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		for c in $(pgrep -P "$p" || true); do
			[ "$(cat "/proc/$c/comm" 2>/dev/null)" != "$2" ] || { echo "$c"; return 0; }
			queue+=("$c")
		done
	done
}

start_server() {
	local s=$1 port
	[ -z "$RUNNING" ] || die "start_server $s: $RUNNING is running"
	# A high open-files limit, inherited by the server (the hard limit may be
	# below 65536 in a container).
	ulimit -n "$(($(ulimit -Hn) < 65536 ? $(ulimit -Hn) : 65536))" 2>/dev/null || true
	case $s in
	dormouse | dormouse_pg)
		port=$PORT_DORMOUSE
		"$WORK/bin/dormouse" serve -config "$WORK/$s/dormouse.toml" >>"$WORK/$s/stdout" 2>&1 &
		LAUNCH_PID=$!
		SERVER_PID=$LAUNCH_PID
		;;
	prosody)
		port=$PORT_PROSODY
		(cd "$WORK/prosody" && exec setpriv --reuid=prosody --regid=prosody --init-groups \
			prosody --config "$WORK/prosody/prosody.cfg.lua" -F >>"$WORK/prosody/stdout" 2>&1) &
		LAUNCH_PID=$!
		SERVER_PID=$LAUNCH_PID # exec all the way down: this is lua5.4
		;;
	ejabberd)
		port=$PORT_EJABBERD
		ejabberdctl foreground >>"$WORK/ejabberd/stdout" 2>&1 &
		LAUNCH_PID=$!
		;;
	*) die "unknown server $s" ;;
	esac
	RUNNING=$s
	wait_port "$port" 60 || server_failed "$s" "$s did not listen on :$port: $(ss -ltnpH "sport = :$port")"
	if [ "$s" = ejabberd ]; then
		# The launched subshell runs ejabberdctl (bash), which runs the
		# Erlang VM: measure the VM.
		SERVER_PID=$(find_descendant "$LAUNCH_PID" beam.smp)
		[ -n "$SERVER_PID" ] || server_failed ejabberd "no beam.smp under pid $LAUNCH_PID"
		sleep 1 # listeners start last, but give the node a moment
	fi
	log "$s up (pid $SERVER_PID)"
}

stop_server() {
	local s=$RUNNING i
	[ -n "$s" ] || return 0
	# SIGTERM: Dormouse and Prosody shut down cleanly, and so does the Erlang
	# VM (init:stop).
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		log "$s did not stop in 15 s: SIGKILL"
		kill -KILL "$SERVER_PID" 2>/dev/null || true
	fi
	wait "$LAUNCH_PID" 2>/dev/null || true
	RUNNING="" SERVER_PID="" LAUNCH_PID=""
}

restart_server() { local s=$RUNNING; stop_server; start_server "$s"; }

# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------

# busy_cores prints the CPU the whole machine used over one second, in cores.
busy_cores() {
	local a b
	a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
	sleep 1
	b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN{split(a,x," "); split(b,y," "); printf "%.2f", (y[1]-x[1])/100}'
}

# wait_quiet waits until other work on the machine uses less than
# QUIET_CORES (the server under test is idle at this point), at most
# QUIET_MAX seconds, and not at all once RETRY_BUDGET is spent.
wait_quiet() {
	local t0=$SECONDS busy
	while ((SECONDS - T_START < RETRY_BUDGET)); do
		busy=$(busy_cores)
		awk -v b="$busy" -v q="$QUIET_CORES" 'BEGIN{exit !(b < q)}' && return 0
		if ((SECONDS - t0 >= QUIET_MAX)); then
			log "machine still busy ($busy cores in use by others); measuring anyway"
			return 0
		fi
		log "machine busy ($busy cores in use by others); waiting"
		sleep 2
	done
}

# disturbance prints other_cpu_s / window_s of a result line (0 if absent).
disturbance() {
	/usr/bin/python3 -c 'import json,sys
try:
    d = json.loads(sys.stdin.read())
    print("%.2f" % (d.get("other_cpu_s", 0) / max(d.get("window_s", 1), 1e-9)))
except Exception:
    print("0")'
}

# measure FIGURE REP ARGS...: runs dormouse-bench against the running server,
# appends its JSON line to the results, and repeats the measurement once if
# other processes used more than QUIET_CORES meanwhile.
measure() {
	local figure=$1 rep=$2 attempt line dist port
	shift 2
	port=$(c2s_port "$RUNNING")
	for attempt in 1 2; do
		line=$("$WORK/bin/dormouse-bench" -addr "127.0.0.1:$port" -domain localhost \
			-pid "$SERVER_PID" -label "$RUNNING" -tag "server=$RUNNING" -tag "figure=$figure" \
			-tag "rep=$rep" -tag "attempt=$attempt" "$@" 2>>"$WORK/bench.stderr") || true
		[ -n "$line" ] || line="{\"server\":\"$RUNNING\",\"figure\":\"$figure\",\"rep\":\"$rep\",\"attempt\":\"$attempt\",\"error\":\"dormouse-bench printed nothing\"}"
		echo "$line" >>"$RESULTS"
		dist=$(disturbance <<<"$line")
		log "$RUNNING $figure rep $rep: $(summary <<<"$line") (others used $dist cores)"
		awk -v b="$dist" -v q="$QUIET_CORES" 'BEGIN{exit !(b >= q)}' || return 0
		((attempt < 2 && SECONDS - T_START < RETRY_BUDGET)) || return 0
		log "disturbed: measuring $figure again"
		wait_quiet
	done
}

summary() {
	/usr/bin/python3 -c 'import json,sys
line = sys.stdin.read()
try:
    d = json.loads(line)
except Exception:
    d = {"error": "unparsable result: " + line[:200]}
keys = ["logins_per_s", "server_cpu_per_login_ms", "rss_per_session_kib", "msgs_per_s",
        "latency_p50_ms", "latency_p99_ms", "server_cpu_ms_per_1000_msgs", "round_trips",
        "rss_per_live_session_kib", "rss_per_hibernated_session_kib", "resume_ok",
        "last_page_p50_ms", "last_page_p99_ms", "first_page_since_p50_ms", "with_last_page_p50_ms",
        "publishes_per_burst", "unsupported", "error"]
print(" ".join("%s=%s" % (k, round(d[k], 2) if isinstance(d[k], float) else d[k]) for k in keys if k in d))'
}

# c2s_port S prints server S's STARTTLS port.
c2s_port() {
	case $1 in
	dormouse | dormouse_pg) echo $PORT_DORMOUSE ;;
	prosody) echo $PORT_PROSODY ;;
	ejabberd) echo $PORT_EJABBERD ;;
	esac
}

# want GROUP: is GROUP in FIGURES?
want() { [[ " $FIGURES " == *" $1 "* ]]; }

# fresh S: starts S, or restarts it if it runs, and waits for a quiet machine.
fresh() {
	if [ -n "$RUNNING" ]; then restart_server; else start_server "$1"; fi
	wait_quiet
}

# measure_archived REP ARGS...: archived 1:1 throughput, window TP_WINDOW
# then ARCH_WINDOW_LOW, on the running server (ARGS added to both).
measure_archived() {
	local rep=$1
	shift
	measure throughput_archived "$rep" -scenario throughput -no-store=false -pairs "$TP_PAIRS" \
		-window "$TP_WINDOW" -duration "$ARCH_DURATION" "$@"
	wait_quiet
	measure throughput_archived_low "$rep" -scenario throughput -no-store=false -pairs "$TP_PAIRS" \
		-window "$ARCH_WINDOW_LOW" -duration "$ARCH_DURATION" "$@"
}

# run_server_rep measures every figure once on server S. Each group starts
# on a freshly started server: for idle memory, so memory freed by an
# earlier test cannot be reused and hide the cost of new sessions; for
# logins and messages, because a server that has just held 1,000 sessions
# can be slower afterwards (Prosody's throughput drops by half or more), so
# measuring in sequence would make the order decide the result.
run_server_rep() {
	local s=$1 rep=$2 port
	port=$(c2s_port "$s")
	if [ "$s" = dormouse_pg ]; then
		# Only what the storage decides: the archived figures.
		if want messages; then
			fresh "$s"
			measure_archived "$rep" -db-process postgres
		fi
		stop_server
		return
	fi
	if want idle; then
		fresh "$s"
		measure idle_sm_off "$rep" -scenario idle -n "$IDLE_N" -settle "$IDLE_SETTLE"
		fresh "$s"
		measure idle_sm_on "$rep" -scenario idle -sm -n "$IDLE_N" -settle "$IDLE_SETTLE"
	fi
	if want login; then
		fresh "$s"
		measure login "$rep" -scenario login -n "$LOGIN_N" -c "$LOGIN_C" -accounts "$ACCOUNTS"
	fi
	if want messages; then
		fresh "$s"
		measure throughput "$rep" -scenario throughput -pairs "$TP_PAIRS" -window "$TP_WINDOW" -duration "$TP_DURATION"
		wait_quiet
		measure latency "$rep" -scenario throughput -pairs 1 -window 1 -duration "$LAT_DURATION"
		wait_quiet
		measure_archived "$rep"
	fi
	if want resume; then
		# Accounts 0..RESUME_N+1: the sessions, the sender of their queued
		# messages, the round-trip probe.
		fresh "$s"
		measure resume "$rep" -scenario resume -n "$RESUME_N" -c "$RESUME_C" -queue "$RESUME_QUEUE"
		wait_quiet
		measure resume_direct_tls "$rep" -scenario resume -n "$RESUME_N" -c "$RESUME_C" -queue "$RESUME_QUEUE" \
			-direct-tls -addr "127.0.0.1:$((port + TLS_OFFSET))"
	fi
	if want hibernate; then
		fresh "$s"
		measure hibernate "$rep" -scenario hibernate -n "$HIB_N" -settle "$IDLE_SETTLE" -hibernate-wait "$HIB_WAIT"
	fi
	if want mam_push; then
		# Fresh accounts at the top of the range for each repetition's
		# archive (so it holds MAM_PREFILL messages, as in the issue), and
		# two pairs for push (earlier registrations are disabled first).
		fresh "$s"
		measure mam "$rep" -scenario mam -first $((ACCOUNTS - 2 * rep)) -prefill "$MAM_PREFILL" -queries "$MAM_QUERIES"
		local pushargs=(-scenario push -component-addr "127.0.0.1:$((port + COMP_OFFSET))"
			-component-domain push.localhost -component-secret "$PUSH_SECRET"
			-bursts "$PUSH_BURSTS" -burst "$PUSH_BURST" -burst-gap "$PUSH_GAP")
		wait_quiet
		measure push_hibernate "$rep" "${pushargs[@]}" -push-mode hibernate -first $((ACCOUNTS - 2 * REPS - 4))
		wait_quiet
		measure push_offline "$rep" "${pushargs[@]}" -push-mode offline -first $((ACCOUNTS - 2 * REPS - 2))
	fi
	stop_server
}

# pprof_text KIND ARGS...: pprof -top output of a saved profile, flat (all
# nodes) and cumulative, next to the results.
pprof_text() {
	local kind=$1 prof=$RESULTS_DIR/$STAMP-dormouse-$1.pprof
	shift
	[ -s "$prof" ] || { log "no $kind profile"; return 0; }
	(cd "$REPO" && go tool pprof -top -nodefraction=0 -nodecount=100000 "$@" "$WORK/bin/dormouse" "$prof" 2>/dev/null) \
		>"$RESULTS_DIR/$STAMP-dormouse-$kind-top.txt" || true
	(cd "$REPO" && go tool pprof -top -cum -nodecount=80 "$@" "$WORK/bin/dormouse" "$prof" 2>/dev/null) \
		>"$RESULTS_DIR/$STAMP-dormouse-$kind-cum.txt" || true
}

# profiled KIND SECONDS FIGURE ARGS...: a CPU profile of Dormouse (admin
# listener, /debug/pprof/profile) while dormouse-bench runs ARGS. These runs
# are extra (profiling costs a little CPU): their lines are tagged
# FIGURE_profiled and left out of the figures.
profiled() {
	local kind=$1 secs=$2 figure=$3 curl_pid
	shift 3
	wait_quiet
	log "profiling Dormouse: $kind"
	curl -sf -o "$RESULTS_DIR/$STAMP-dormouse-$kind.pprof" \
		"http://127.0.0.1:$ADMIN_DORMOUSE/debug/pprof/profile?seconds=$secs" &
	curl_pid=$!
	"$WORK/bin/dormouse-bench" -addr "127.0.0.1:$PORT_DORMOUSE" -pid "$SERVER_PID" -label dormouse \
		-tag server=dormouse -tag "figure=${figure}_profiled" -tag rep=0 -tag attempt=1 "$@" \
		>>"$RESULTS" 2>>"$WORK/bench.stderr" || true
	wait "$curl_pid" || log "$kind profile download failed"
	pprof_text "$kind"
}

# profile_dormouse profiles Dormouse where its budgets are not met yet: CPU
# during logins, un-archived and archived throughput, and the live heap with
# 1,000 idle SM sessions (plus the Go runtime's memory statistics).
profile_dormouse() {
	start_server dormouse
	profiled cpu-login 5 login -scenario login -n $((LOGIN_N * 3)) -c "$LOGIN_C" -accounts "$ACCOUNTS" -rtt-probe=false
	restart_server
	profiled cpu-throughput 10 throughput -scenario throughput -pairs "$TP_PAIRS" -window "$TP_WINDOW" \
		-duration 11s -warmup 500ms
	profiled cpu-archived 10 throughput_archived -scenario throughput -no-store=false -pairs "$TP_PAIRS" \
		-window "$TP_WINDOW" -duration 11s -warmup 500ms
	restart_server
	# Heap: hold the idle sessions, and once they are all up take the heap
	# profile (after a GC) and the runtime's memory statistics.
	wait_quiet
	log "profiling Dormouse: heap with $IDLE_N idle SM sessions"
	"$WORK/bin/dormouse-bench" -addr "127.0.0.1:$PORT_DORMOUSE" -pid "$SERVER_PID" -label dormouse \
		-tag server=dormouse -tag figure=idle_sm_on_profiled -tag rep=0 -tag attempt=1 \
		-scenario idle -sm -n "$IDLE_N" -settle 10s >>"$RESULTS" 2>>"$WORK/bench.stderr" &
	local bench_pid=$! i
	for ((i = 0; i < 600; i++)); do
		(($(ss -tnH state established "( sport = :$PORT_DORMOUSE )" | wc -l) >= IDLE_N)) && break
		sleep 0.1
	done
	sleep 2
	curl -sf -o "$RESULTS_DIR/$STAMP-dormouse-heap-idle.pprof" "http://127.0.0.1:$ADMIN_DORMOUSE/debug/pprof/heap?gc=1" ||
		log "heap profile download failed"
	curl -sf "http://127.0.0.1:$ADMIN_DORMOUSE/debug/pprof/heap?debug=1" | grep -E '^# (Sys|HeapAlloc|HeapSys|HeapIdle|HeapInuse|HeapReleased|Stack|MSpan|GCSys|OtherSys|NumGC) ' \
		>"$RESULTS_DIR/$STAMP-dormouse-heap-idle-memstats.txt" || true
	echo "# goroutines $(curl -sf "http://127.0.0.1:$ADMIN_DORMOUSE/debug/pprof/goroutine?debug=1" | head -1 | awk '{print $NF}')" \
		>>"$RESULTS_DIR/$STAMP-dormouse-heap-idle-memstats.txt" || true
	echo "# VmRSS_kib $(awk '/^VmRSS:/{print $2}' "/proc/$SERVER_PID/status")" \
		>>"$RESULTS_DIR/$STAMP-dormouse-heap-idle-memstats.txt"
	wait "$bench_pid" || true
	pprof_text heap-idle -sample_index=inuse_space
	if want hibernate; then
		restart_server
		hibernate_heap
	fi
	stop_server
}

# established prints the number of client connections Dormouse holds.
established() { ss -tnH state established "( sport = :$PORT_DORMOUSE )" | wc -l; }

# heap_stat NAME prints a Go runtime memory statistic of Dormouse (bytes)
# or its goroutine count, after a forced GC.
heap_stat() {
	if [ "$1" = goroutines ]; then
		curl -sf "http://127.0.0.1:$ADMIN_DORMOUSE/debug/pprof/goroutine?debug=1" | head -1 | awk '{print $NF}'
	else
		curl -sf "http://127.0.0.1:$ADMIN_DORMOUSE/debug/pprof/heap?gc=1&debug=1" | awk -v k="$1" '$1 == "#" && $2 == k {print $4}'
	fi
}

# hibernate_heap measures what RSS cannot show for Dormouse (the Go runtime
# returns freed pages to the kernel slowly): the live heap after a GC with
# no session, with HIB_N live SM sessions, and after their connections were
# reset (hibernated), per session; plus a heap profile of the hibernated
# sessions. Each session acknowledges the echo of its presence before the
# cut (-hibernate-ack), so the figure is the session's own cost, without a
# queue (the budget is 1 KiB plus the queue). One JSON line (figure
# hibernate_heap) goes to the results.
hibernate_heap() {
	local bench_pid i h0 h1 h2 g0 g1 g2
	wait_quiet
	log "profiling Dormouse: heap with $HIB_N hibernated sessions"
	h0=$(heap_stat HeapAlloc) g0=$(heap_stat goroutines)
	"$WORK/bin/dormouse-bench" -addr "127.0.0.1:$PORT_DORMOUSE" -pid "$SERVER_PID" -label dormouse \
		-tag server=dormouse -tag figure=hibernate_profiled -tag rep=0 -tag attempt=1 \
		-scenario hibernate -n "$HIB_N" -settle 6s -hibernate-wait 8s -hibernate-ack >>"$RESULTS" 2>>"$WORK/bench.stderr" &
	bench_pid=$!
	for ((i = 0; i < 600; i++)); do
		(($(established) >= HIB_N)) && break
		sleep 0.1
	done
	sleep 2
	h1=$(heap_stat HeapAlloc) g1=$(heap_stat goroutines)
	for ((i = 0; i < 600; i++)); do # the tool resets the connections
		(($(established) < 5)) && break
		sleep 0.1
	done
	sleep 3
	h2=$(heap_stat HeapAlloc) g2=$(heap_stat goroutines)
	curl -sf -o "$RESULTS_DIR/$STAMP-dormouse-heap-hibernate.pprof" "http://127.0.0.1:$ADMIN_DORMOUSE/debug/pprof/heap?gc=1" ||
		log "heap profile download failed"
	wait "$bench_pid" || true
	pprof_text heap-hibernate -sample_index=inuse_space
	if [ -n "$h0" ] && [ -n "$h1" ] && [ -n "$h2" ]; then
		/usr/bin/python3 -c 'import json,sys
n, h0, h1, h2, g0, g1, g2 = (int(x or 0) for x in sys.argv[1:])
print(json.dumps({"scenario": "hibernate_heap", "server": "dormouse", "label": "dormouse", "figure": "hibernate_heap",
    "rep": "1", "attempt": "1", "sessions": n, "heap_before_bytes": h0, "heap_live_bytes": h1, "heap_hibernated_bytes": h2,
    "heap_per_live_session_kib": (h1 - h0) / n / 1024, "heap_per_hibernated_session_kib": (h2 - h0) / n / 1024,
    "goroutines_before": g0, "goroutines_live": g1, "goroutines_hibernated": g2}))' \
			"$HIB_N" "$h0" "$h1" "$h2" "$g0" "$g1" "$g2" >>"$RESULTS"
		log "dormouse heap per session: live $(((h1 - h0) / HIB_N)) B, hibernated $(((h2 - h0) / HIB_N)) B; goroutines $g0 / $g1 / $g2"
	else
		log "dormouse heap statistics unavailable"
	fi
}

# meta EVENT: one JSON line describing the machine and the software.
meta() {
	local k params=()
	for k in REPS SERVERS ACCOUNTS LOGIN_N LOGIN_C IDLE_N IDLE_SETTLE TP_PAIRS TP_WINDOW TP_DURATION \
		ARCH_DURATION ARCH_WINDOW_LOW LAT_DURATION QUIET_CORES QUIET_MAX FIGURES RESUME_N RESUME_QUEUE RESUME_C HIB_N HIB_WAIT \
		MAM_PREFILL MAM_QUERIES PUSH_BURSTS PUSH_BURST PUSH_GAP STORAGE; do
		params+=("PARAM_$k=${!k}")
	done
	env "${params[@]}" EVENT="$1" REPO="$REPO" WORK="$WORK" COMMAND="$COMMAND" /usr/bin/python3 - >>"$RESULTS" <<-'EOF'
		import json, os, subprocess
		def sh(cmd, strip=True):
		    try:
		        out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout
		        return out.strip() if strip else out.rstrip()
		    except Exception as e:
		        return "unknown (%s)" % e
		d = {"scenario": "meta", "event": os.environ["EVENT"],
		     "time": sh("date -u +%Y-%m-%dT%H:%M:%SZ"), "loadavg": sh("cut -d' ' -f1-3 /proc/loadavg")}
		if d["event"] == "start":
		    d.update({
		        "nproc": sh("nproc"),
		        "free_h": sh("free -h", strip=False),
		        "cpu_model": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip(),
		        "kernel": sh("uname -r"),
		        "debian": sh("cat /etc/debian_version"),
		        "go": sh("go version"),
		        "dormouse_commit": sh("cd \"$REPO\" && git rev-parse --short HEAD"),
		        "dormouse_dirty": sh("cd \"$REPO\" && git status --porcelain --untracked-files=no | wc -l") != "0",
		        "dormouse_version": sh("\"$WORK/bin/dormouse\" version"),
		        "prosody": sh("dpkg-query -W -f='${Version}' prosody"),
		        "prosody_modules": sh("dpkg-query -W -f='${Version}' prosody-modules"),
		        "lua": " ".join(sh("lua5.4 -v").split()[:2]),
		        "ejabberd": sh("dpkg-query -W -f='${Version}' ejabberd"),
		        "erlang": sh("dpkg-query -W -f='${Version}' erlang-base"),
		        "openssl": sh("openssl version"),
		        # One core's speed, to compare runs on different machines.
		        "cpu_sha256_16k_kbps": sh("openssl speed -seconds 2 -bytes 16384 sha256 2>/dev/null | awk '/^sha256/ {print $2}'"),
		        "params": {k[6:]: v for k, v in os.environ.items() if k.startswith("PARAM_")},
		        "storage": "%s (%s, %s)" % (os.environ["PARAM_STORAGE"], sh("stat -f -c %T \"$WORK\""), os.environ["WORK"]),
		        "command": os.environ["COMMAND"],
		    })
		print(json.dumps(d))
	EOF
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

install_peers
mkdir -p "$RESULTS_DIR"
case $STORAGE in
disk)
	fs=$(stat -f -c %T "$DISK_DIR") || die "DISK_DIR $DISK_DIR: no such directory"
	case $fs in tmpfs | ramfs) die "DISK_DIR $DISK_DIR is on $fs, not a disk: set DISK_DIR, or STORAGE=tmpfs" ;; esac
	WORK=$(mktemp -d "$DISK_DIR/dormouse-peers.XXXXXX")
	;;
tmpfs) WORK=$(mktemp -d /dev/shm/dormouse-peers.XXXXXX) ;;
*) die "STORAGE=$STORAGE: want disk or tmpfs" ;;
esac
chmod 755 "$WORK"
build
meta start
log "results: $RESULTS"
make_cert
for s in $SERVERS; do
	log "setting up $s"
	"setup_$s"
done

read -ra order <<<"$SERVERS"
for ((rep = 1; rep <= REPS; rep++)); do
	for ((k = 0; k < ${#order[@]}; k++)); do
		s=${order[$(((k + rep - 1) % ${#order[@]}))]} # rotate the order each repetition
		log "repetition $rep/$REPS: $s"
		run_server_rep "$s" "$rep"
	done
done
if [ "$PROFILE" = 1 ] && [[ " $SERVERS " == *" dormouse "* ]]; then
	profile_dormouse
fi
meta end
log "run took $((SECONDS - T_START)) s"
if [ "$REPORT" = 1 ]; then
	/usr/bin/python3 "$REPO/bench/report.py" "$RESULTS" >&2 || log "report.py failed; results are in $RESULTS"
fi
log "done: $RESULTS"
