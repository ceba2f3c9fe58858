#!/usr/bin/env bash
# Generates a TypeScript and a Go client from api/openapi.yaml and runs a
# typed round trip with each against a real gantry serve: enqueue, long-poll
# to the result, batch, list with a cursor, lease + heartbeat + complete, a
# typed 404 and a typed 409. .ci/run runs it (make clients-check).
#
# Tools, pinned: oapi-codegen by the tool directive of api/clients/go/go.mod;
# openapi-typescript, openapi-fetch and TypeScript by api/package-lock.json,
# installed by `npm ci` into NODE_TOOLS (a node_modules directory; .ci/run sets
# it to its cache, the default is api/node_modules, made by `make openapi-tools`).
#
# The generated files are not committed; they are made here, from the
# document as it is, into ignored paths (api/clients/go/gantryclient/client.gen.go)
# or a temp dir.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
NODE_TOOLS=${NODE_TOOLS:-$root/api/node_modules}
if [ ! -x "$NODE_TOOLS/.bin/tsc" ]; then
	echo "run.sh: no TypeScript in $NODE_TOOLS; run make openapi-tools (or set NODE_TOOLS)" >&2
	exit 1
fi

tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf -- '-- %s (%ss)\n' "$*" "$SECONDS"; }

step 'build gantry'
go build -o "$tmp/gantry" ./cmd/gantry

step 'generate the Go client (oapi-codegen)'
(cd api/clients/go && go generate ./... && go mod tidy -diff && go vet ./... && go build -o "$tmp/roundtrip-go" .)

step 'generate the TypeScript client (openapi-typescript) and compile it (tsc --strict)'
mkdir -p "$tmp/ts"
cp api/clients/ts/roundtrip.ts api/clients/ts/tsconfig.json api/clients/ts/package.json "$tmp/ts/"
ln -s "$NODE_TOOLS" "$tmp/ts/node_modules"
"$NODE_TOOLS/.bin/openapi-typescript" api/openapi.yaml -o "$tmp/ts/schema.ts" --silent
(cd "$tmp/ts" && "$NODE_TOOLS/.bin/tsc" -p tsconfig.json)

# A free loopback port: bind port 0 and read back what the kernel chose.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
	node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
url=http://127.0.0.1:$port

step "start gantry serve on $url"
"$tmp/gantry" serve --addr "127.0.0.1:$port" --data-dir "$tmp/data" >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	if curl -fsS "$url/readyz" >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		cat "$tmp/serve.log" >&2
		echo 'run.sh: gantry serve exited' >&2
		exit 1
	fi
	sleep 0.1
done
curl -fsS "$url/readyz" >/dev/null

rc=0
step 'Go round trip'
"$tmp/roundtrip-go" -server "$url" || rc=1
step 'TypeScript round trip'
(cd "$tmp/ts" && node out/roundtrip.js "$url") || rc=1

kill -TERM "$pid"
if ! wait "$pid"; then
	echo 'run.sh: gantry serve did not stop cleanly' >&2
	rc=1
fi
pid=
if [ "$rc" -ne 0 ]; then
	echo '-- gantry serve log:' >&2
	cat "$tmp/serve.log" >&2
fi
step "done, exit $rc"
exit "$rc"
