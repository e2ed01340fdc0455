#!/usr/bin/env bash
# make check-example: build and vet examples/hello-provider exactly as a
# third party's module would be built, outside the repository's go.work:
# the SDK comes by the version the example's go.mod requires, served from
# a local module proxy made from ./sdk as it is now; every other module
# comes from the module cache or the real proxy, checked against the
# example's go.sum. The example's go.mod and go.sum must be tidy.
#
# With --tidy, the example's go.mod and go.sum are rewritten from the tidy
# run instead of compared: `go mod tidy` in the repository cannot reach the
# SDK by version.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

sdk=github.com/sia-agent/sia-agent/sdk
example=examples/hello-provider
version=$(sed -nE "s#^(require)?[[:space:]]*$sdk[[:space:]]+(v[^[:space:]]+).*#\2#p" "$example/go.mod")
if [ -z "$version" ]; then
	echo "check-example: $example/go.mod requires no version of $sdk" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
go run ./internal/cmd/modproxy -module ./sdk -version "$version" -out "$tmp/proxy"
cp -R "$example" "$tmp/example"

# A module cache of its own, so that no SDK zip of an earlier run is taken
# for this one; the shared cache serves every other module as a proxy.
cache=$(go env GOMODCACHE)
export GOWORK=off GOFLAGS=-mod=mod GOMODCACHE="$tmp/mod"
export GOPROXY="file://$tmp/proxy,file://$cache/cache/download,$(go env GOPROXY)"
# The SDK's zip is made here, so no checksum database knows it yet; the
# example's go.sum leaves it out for that reason.
export GONOSUMDB=$sdk

# run echoes a command and runs it, without the cache's download notes.
run() {
	echo "+ $*"
	"$@" 2>&1 | { grep -v '^go: downloading' || true; }
}

cd "$tmp/example"
echo "check-example: $example against $sdk@$version from ./sdk, GOWORK=$GOWORK GOFLAGS=$GOFLAGS GONOSUMDB=$GONOSUMDB"
run go mod tidy
if [ "${1:-}" = --tidy ]; then
	cp go.mod "$root/$example/go.mod"
	grep -v "^$sdk " go.sum >"$root/$example/go.sum"
	exit 0
fi
diff -u "$root/$example/go.mod" go.mod || { echo "check-example: $example/go.mod is not tidy: run scripts/check-example.sh --tidy" >&2; exit 1; }
grep -v "^$sdk " go.sum | diff -u "$root/$example/go.sum" - ||
	{ echo "check-example: $example/go.sum is not tidy: run scripts/check-example.sh --tidy" >&2; exit 1; }
run go build ./...
run go vet ./...
echo "check-example: ok"
