#!/usr/bin/env bash
# Federation interop: a freshly built Dormouse and Debian's Prosody on
# loopback, joined by server-to-server streams (STARTTLS, certificates from
# a private CA, SASL EXTERNAL both ways; Prosody with s2s_secure_auth), and
# a slixmpp user on each exchanging messages, a subscription and pings
# (interop/s2s_prosody.py). Installs prosody with apt-get if it is missing.
#
#   bash interop/s2s.sh                 run
#   INTEROP_KEEP=1 bash interop/s2s.sh  keep the temp dir (configs, logs)
#
# No DNS is involved: Dormouse reaches Prosody through [s2s] hosts; Prosody
# resolves dormouse.test with a hosts file of its own (lua-unbound's
# hoststxt) and connects to port 5269 there, so Dormouse listens on a
# random 127.x.y.z address to stay clear of anything else on the machine.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
DDOM=dormouse.test
PDOM=prosody.test

log() { printf 'interop-s2s: %s\n' "$*"; }

if ! command -v prosody >/dev/null; then
	log "installing prosody (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y prosody >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y prosody >/dev/null; }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dormouse-s2s.XXXXXX")
[[ -d $WORK ]] || exit 1
DORMOUSE_PID=
PROSODY_PID=
cleanup() {
	local rc=$? p
	for p in $DORMOUSE_PID $PROSODY_PID; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $DORMOUSE_PID $PROSODY_PID; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if ((rc != 0)); then
		echo "----- dormouse log -----"; cat "$WORK/dormouse.log" 2>/dev/null || true
		echo "----- prosody log -----"; cat "$WORK/prosody.log" 2>/dev/null || true
		log "FAIL"
	fi
	if [[ ${INTEROP_KEEP:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building ./cmd/dormouse"
(cd "$ROOT" && go build -o "$WORK/dormouse" ./cmd/dormouse)

# --- certificates: a private CA, one certificate per domain ----------------
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-days 2 -subj "/CN=Dormouse interop CA" 2>/dev/null
for d in $DDOM $PDOM; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d.key" -out "$d.csr" -subj "/CN=$d" 2>/dev/null
	printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n' "$d" >"$d.ext"
	openssl x509 -req -in "$d.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$d.crt" -days 2 -extfile "$d.ext" 2>/dev/null
done

# --- ports -----------------------------------------------------------------
read -r D_C2S D_ADMIN P_C2S P_S2S < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss: s.close()
')
DIP=127.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
ALICE_PASSWORD="alice-$RANDOM$RANDOM"
BOB_PASSWORD="bob-$RANDOM$RANDOM"

# --- Prosody -----------------------------------------------------------------
mkdir -p pdata certs
printf '%s %s\n' "$DIP" "$DDOM" >hosts
printf 'nameserver 127.0.0.1\n' >resolv.conf
cat >prosody.cfg.lua <<PROSODY_CONFIG
run_as_root = true
pidfile = "$WORK/prosody.pid"
data_path = "$WORK/pdata"
daemonize = false
log = { debug = "$WORK/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { $P_C2S }
s2s_ports = { $P_S2S }
c2s_direct_tls_ports = {}
s2s_direct_tls_ports = {}
http_ports = {}
https_ports = {}
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "presence" }
modules_disabled = { "posix" }
authentication = "internal_plain"
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = true
certificates = "$WORK/certs"
ssl = { cafile = "$WORK/ca.pem"; verify = { "peer", "client_once" } }
unbound = { hoststxt = "$WORK/hosts"; resolvconf = "$WORK/resolv.conf" }
VirtualHost "$PDOM"
  ssl = { certificate = "$WORK/$PDOM.crt"; key = "$WORK/$PDOM.key" }
PROSODY_CONFIG
prosodyctl --config "$WORK/prosody.cfg.lua" register bob "$PDOM" "$BOB_PASSWORD" >/dev/null
prosody --config "$WORK/prosody.cfg.lua" >"$WORK/prosody.out" 2>&1 &
PROSODY_PID=$!

# --- Dormouse ------------------------------------------------------------------
mkdir -p ddata
cat >dormouse.toml <<DORMOUSE_CONFIG
domain = "$DDOM"
data_dir = "$WORK/ddata"
[log]
level = "debug"
[storage]
url = "sqlite:$WORK/ddata/dormouse.db"
[tls]
cert = "$WORK/$DDOM.crt"
key = "$WORK/$DDOM.key"
[c2s]
listen = "127.0.0.1:$D_C2S"
tls_listen = ""
[components]
listen = ""
[admin]
listen = "127.0.0.1:$D_ADMIN"
[http]
listen = ""
[s2s]
listen = "$DIP:5269"
ca_file = "$WORK/ca.pem"
[s2s.hosts]
"$PDOM" = "127.0.0.1:$P_S2S"
DORMOUSE_CONFIG
"$WORK/dormouse" user add -config dormouse.toml "alice@$DDOM" "$ALICE_PASSWORD" >/dev/null
"$WORK/dormouse" serve -config dormouse.toml >"$WORK/dormouse.log" 2>&1 &
DORMOUSE_PID=$!

listening() {
	"$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" "$1" 2>/dev/null
}
for _ in $(seq 100); do
	listening "$D_C2S" && listening "$P_C2S" && break
	sleep 0.1
done
listening "$D_C2S" || { log "dormouse did not start"; exit 1; }
listening "$P_C2S" || { log "prosody did not start"; exit 1; }
log "dormouse $DDOM (c2s $D_C2S, s2s $DIP:5269), prosody $PDOM (c2s $P_C2S, s2s $P_S2S)"

# The check command first: it prints each step of setting up the stream.
"$WORK/dormouse" s2s check -config dormouse.toml "$PDOM"

unset PYTHONPATH PYTHONHOME
export PYTHONDONTWRITEBYTECODE=1 XMPP_HOST=127.0.0.1 XMPP_DOMAIN=$DDOM
export INTEROP_DORMOUSE_DOMAIN=$DDOM INTEROP_PROSODY_DOMAIN=$PDOM INTEROP_DORMOUSE_C2S_PORT=$D_C2S INTEROP_PROSODY_C2S_PORT=$P_C2S
export ALICE_PASSWORD BOB_PASSWORD
timeout -k 5 60 "$PY" "$HERE/s2s_prosody.py"
"$WORK/dormouse" s2s status -config dormouse.toml
grep -q 'outgoing stream established.*domain=prosody.test auth=sasl-external' dormouse.log ||
	{ log "the stream to Prosody did not use SASL EXTERNAL"; exit 1; }
grep -q 'incoming stream authenticated.*authenticated=prosody.test auth=sasl-external' dormouse.log ||
	{ log "Prosody's stream did not use SASL EXTERNAL"; exit 1; }
log "PASS"
