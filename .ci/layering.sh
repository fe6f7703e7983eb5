#!/usr/bin/env bash
# Checks the import rules of docs/ARCHITECTURE.md ("Import rules") with
# go list, and that go.mod and go.sum are tidy. Exits 1 on a violation.
# Keep the lists below and the document in step.
set -euo pipefail
cd "$(dirname "$0")/.."

mod=$(go list -m)

# Features: each root and what lies below it (mam/mamtest belongs to mam).
# A nested root is a feature of its own (push/appserver is not push).
features="blocking carbons disco mam offline ping presence register roster vcard version
          push push/appserver pep muc upload"
# Core: the bottom layer.
core="xml stanza stream ns"
# Connection layers: below the router and every feature.
conns="session component websocket s2s"
# Transports between nodes: above the router (they route for it through an
# interface the router defines), below every feature; only server wires them.
transports="cluster"
# Never imported from below: the assembly room, the CLI, storage, configuration.
upper="server cmd sql config"
# SQL drivers: imported only under sql/.
drivers="github.com/jackc/pgx modernc.org/sqlite"

status=0
violation() {
	echo "layering: $*"
	status=1
}

# under PKG ROOTS: the longest root PKG is or lies below, or "".
under() {
	local p=$1 best="" r
	for r in $2; do
		if [[ $p == "$r" || $p == "$r"/* ]] && ((${#r} > ${#best})); then
			best=$r
		fi
	done
	echo "$best"
}

# check PKG DEP KIND: the rules for one module package and one module
# package it imports (KIND: "imports", "depends on", "tests import").
check() {
	local p=$1 d=$2 kind=$3 f g
	[[ $p == "$d" ]] && return 0
	f=$(under "$p" "$features")
	g=$(under "$d" "$features")
	if [[ -n $f && -n $g && $f != "$g" ]]; then
		violation "feature $p $kind feature $d (features never import each other)"
	fi
	[[ $kind == "tests import" ]] && return 0
	if [[ -n $f && -n $(under "$d" "$upper $conns $transports") ]]; then
		violation "feature $p $kind $d (features import only core, router, auth, metrics and internal packages)"
	fi
	if [[ -n $(under "$p" "$core") && -z $(under "$d" "$core") ]]; then
		violation "core package $p $kind $d (core imports nothing above it)"
	fi
	if [[ -n $(under "$p" "router $conns") && -n $(under "$d" "router $features $upper $conns $transports") ]] &&
		[[ $(under "$p" "router $conns") != $(under "$d" "router $conns") ]]; then
		violation "$p $kind $d (router, session and component import no feature, no other connection layer, no transport and nothing of server, cmd, sql, config)"
	fi
	if [[ -n $(under "$p" "$transports") && -n $(under "$d" "$features $upper $conns $transports") ]] &&
		[[ $(under "$p" "$transports") != $(under "$d" "$transports") ]]; then
		violation "$p $kind $d (a transport such as cluster imports only core, router and internal packages)"
	fi
	if [[ -n $(under "$d" "server cmd") && -z $(under "$p" "cmd") ]]; then
		violation "$p $kind $d (only cmd/ imports server)"
	fi
	if [[ -n $(under "$d" "sql") && -z $(under "$p" "sql server cmd bench") ]]; then
		violation "$p $kind $d (only server, cmd and bench open storage)"
	fi
	if [[ $d == metrics && -z $(under "$p" "server cmd") ]]; then
		violation "$p $kind metrics (only server wires metrics; see docs/ARCHITECTURE.md, Metrics)"
	fi
	return 0
}

# go list fails (and so this script) on an import cycle or a missing package.
deps=$(go list -f '{{.ImportPath}} {{join .Deps " "}}' ./...)
imports=$(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)
testImports=$(go list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./...)

# Module packages each package imports, directly and indirectly.
while read -r pkg deps; do
	p=${pkg#"$mod"/}
	for dep in $deps; do
		case $dep in
		"$mod"/*) check "$p" "${dep#"$mod"/}" "depends on" ;;
		esac
	done
done <<<"$deps"

# Direct imports: drivers, and what tests import.
while read -r pkg imports; do
	p=${pkg#"$mod"/}
	for imp in $imports; do
		case $imp in
		"$mod"/*) ;;
		*)
			for drv in $drivers; do
				if [[ $imp == "$drv" || $imp == "$drv"/* ]] && [[ $p != sql && $p != sql/* ]]; then
					violation "$p imports the SQL driver $imp (drivers only under sql/)"
				fi
			done
			;;
		esac
	done
done <<<"$imports"

while read -r pkg imports; do
	p=${pkg#"$mod"/}
	for imp in $imports; do
		case $imp in
		"$mod"/*) check "$p" "${imp#"$mod"/}" "tests import" ;;
		esac
	done
done <<<"$testImports"

echo "--- go mod tidy -diff"
if ! go mod tidy -diff; then
	echo "layering: go.mod or go.sum is not tidy (run go mod tidy)"
	status=1
fi

if [[ $status == 0 ]]; then
	echo "layering: ok"
fi
exit $status
