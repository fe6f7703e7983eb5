#!/usr/bin/env bash
# bench/archived.sh: archived 1:1 throughput of Dormouse builds on SQLite and
# PostgreSQL, data on the real disk, alternating the builds so that a shared
# machine's load falls on each alike. One JSON line per run (dormouse-bench's,
# with "build", "backend" and, for PostgreSQL, "postgres_cpu_s": the CPU of
# every postgres process during the run, other users of the server included,
# and "archive_commits": the group commits of the archive, from the metrics).
#
#   bench/archived.sh BUILD_DIR...        # each BUILD_DIR a checkout (git worktree) to build
#   REPS=5 BACKENDS="sqlite pg" WINDOW=10 DURATION=10s PG=postgres://postgres@127.0.0.1:5432 bench/archived.sh /src/old /src/new
#   EXTRA_TOML='[mam]\nmax_batch = 1024' bench/archived.sh …  # appended to every build's configuration
#   RATE=10000 bench/archived.sh …   # paced at 10,000 msgs/s in all (dormouse-bench -rate): latency at a fixed load
#   NO_STORE=true BACKENDS=sqlite bench/archived.sh …  # the same messages with a <no-store/> hint: not archived
#   EXTRA_TOML_0='[mam]\nmax_batch = 256' EXTRA_TOML_1='[mam]\nmax_batch = 1024' bench/archived.sh DIR DIR
#                                   # appended to build i's only (0 = the first): configurations alternated alike
#
# Each run: a fresh data directory under DISK_DIR (/var/tmp unless set; not a
# tmpfs), or a fresh PostgreSQL database (created and dropped on PG, which
# must allow it), 200 accounts (bench/mkusers), `dormouse serve` with the
# per-connection limits off, then `dormouse-bench -scenario throughput
# -pairs 50 -window WINDOW -rate RATE -duration DURATION -no-store=NO_STORE -pid PID`.
set -euo pipefail

REPS=${REPS:-5}
BACKENDS=${BACKENDS:-"sqlite pg"}
WINDOW=${WINDOW:-10}
RATE=${RATE:-0}
DURATION=${DURATION:-10s}
NO_STORE=${NO_STORE:-false}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-31222}
DISK_DIR=${DISK_DIR:-/var/tmp}
[ $# -gt 0 ] || { echo "usage: $0 BUILD_DIR..." >&2; exit 2; }
if [ "$(stat -f -c %T "$DISK_DIR")" = tmpfs ]; then
	echo "$DISK_DIR is a tmpfs; set DISK_DIR to a directory on the disk" >&2
	exit 2
fi

WORK=$(mktemp -d "$DISK_DIR/dormouse-archived.XXXXXX")
SERVER_PID=""
cleanup() {
	[ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
i=0
for src in "$@"; do
	mkdir -p "$WORK/bin$i"
	(cd "$src" && go build -o "$WORK/bin$i/dormouse" ./cmd/dormouse &&
		go build -o "$WORK/bin$i/mkusers" ./bench/mkusers)
	i=$((i + 1))
done
(cd "$1" && go build -o "$WORK/dormouse-bench" ./cmd/dormouse-bench)

# postgres_ticks prints the CPU time (clock ticks) used so far by every
# postgres process, the children it has reaped included.
postgres_ticks() {
	local s=0 p f
	for p in $(pgrep -x postgres); do
		read -r -a f <"/proc/$p/stat" 2>/dev/null || continue
		s=$((s + f[13] + f[14] + f[15] + f[16]))
	done
	echo "$s"
}

for rep in $(seq "$REPS"); do
	i=0
	for src in "$@"; do
		for backend in $BACKENDS; do
			d=$WORK/run
			rm -rf "$d"
			mkdir -p "$d/data"
			db=dormouse_archived_$$
			case $backend in
			sqlite) url="sqlite:$d/data/dormouse.db" ;;
			pg)
				PGOPTIONS=--client-min-messages=warning psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
				url="$PG/$db?sslmode=disable"
				;;
			*) echo "unknown backend $backend" >&2; exit 2 ;;
			esac
			cat >"$d/dormouse.toml" <<-EOF
				domain = "localhost"
				data_dir = "$d/data"
				[storage]
				url = "$url"
				[log]
				level = "warn"
				[c2s]
				listen = "127.0.0.1:$PORT"
				tls_listen = ""
				max_connections_per_ip = 0
				stanza_rate = 1000000
				stanza_burst = 1000000
				[tls]
				cert = "$WORK/cert.pem"
				key = "$WORK/key.pem"
				[admin]
				listen = "127.0.0.1:$((PORT + 1))"
				[http]
				listen = ""
				[s2s]
				enabled = false
				[components]
				listen = ""
			EOF
			[ -z "${EXTRA_TOML:-}" ] || printf '%b\n' "$EXTRA_TOML" >>"$d/dormouse.toml"
			extra=EXTRA_TOML_$i
			[ -z "${!extra:-}" ] || printf '%b\n' "${!extra}" >>"$d/dormouse.toml"
			"$WORK/bin$i/mkusers" -storage "$url" -domain localhost -n 200 >/dev/null 2>&1
			"$WORK/bin$i/dormouse" serve -config "$d/dormouse.toml" >"$d/stdout" 2>&1 &
			SERVER_PID=$!
			for _ in $(seq 100); do
				curl -sf "http://127.0.0.1:$((PORT + 1))/readyz" >/dev/null && break
				sleep 0.1
			done
			before=$(postgres_ticks)
			line=$("$WORK/dormouse-bench" -addr "127.0.0.1:$PORT" -domain localhost -scenario throughput \
				-pairs 50 -window "$WINDOW" -rate "$RATE" -duration "$DURATION" -no-store="$NO_STORE" -pid "$SERVER_PID" |
				tail -1)
			after=$(postgres_ticks)
			# Group commits so far (the accounts' creation is not one).
			commits=$(curl -sf "http://127.0.0.1:$((PORT + 1))/metrics" |
				awk '/^dormouse_storage_duration_seconds_count/ && /op="archive_append"/ { s += $NF } END { print s + 0 }')
			kill "$SERVER_PID"
			wait "$SERVER_PID" || true
			SERVER_PID=""
			[ "$backend" != pg ] || psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $db"
			pgcpu=null
			[ "$backend" != pg ] || pgcpu=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
			echo "$line" | sed "s|^{|{\"build\":\"$src\",\"build_index\":$i,\"backend\":\"$backend\",\"rep\":$rep,\"postgres_cpu_s\":$pgcpu,\"archive_commits\":$commits,|"
		done
		i=$((i + 1))
	done
done
