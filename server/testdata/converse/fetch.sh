#!/usr/bin/env bash
# Fetches the released Converse.js build the browser test (server/converse_test.go)
# serves: the converse.js npm package at the pinned version, only its dist/ folder
# (npm pack checks the registry's integrity hash). Not committed: see .gitignore.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=14.0.0
if [ -f dist/converse.min.js ] && [ "$(cat dist/VERSION 2>/dev/null)" = "$VERSION" ]; then
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm pack --silent --pack-destination "$tmp" "converse.js@$VERSION" >/dev/null
tar -xzf "$tmp/converse.js-$VERSION.tgz" -C "$tmp"
rm -rf dist
mv "$tmp/package/dist" dist
echo "$VERSION" >dist/VERSION
