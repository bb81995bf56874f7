#!/usr/bin/env bash
# Builds kube-apiserver, kubectl, kube-proxy and kube-controller-manager (for its
# garbage collector and EndpointSlice mirroring, which tests run alone) from the Go
# module proxy and caches
# them under $PORTICO_CACHE (default $HOME/.cache/portico/k8s-<version>), so a clean
# clone reuses them. Idempotent: exits at once when all binaries are present.
#
# k8s.io/kubernetes cannot be required directly: its go.mod replaces every k8s.io/*
# staging module with a relative path. A throwaway module requires it and replaces
# each staging module with its published v0.X.Y instead.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
CACHE_ROOT="${PORTICO_CACHE:-$HOME/.cache/portico}"
OUT="$CACHE_ROOT/k8s-$K8S_VERSION"
BINARIES=(kube-apiserver kubectl kube-proxy kube-controller-manager)

missing=()
for b in "${BINARIES[@]}"; do
	[ -x "$OUT/$b" ] || missing+=("$b")
done
if [ "${#missing[@]}" -eq 0 ]; then
	echo "k8s-binaries: $K8S_VERSION cached in $OUT"
	exit 0
fi

echo "k8s-binaries: building ${missing[*]} $K8S_VERSION into $OUT (about 10 minutes cold on 2 cores)"
work="$CACHE_ROOT/build-$K8S_VERSION"
mkdir -p "$work" "$OUT"
cd "$work"

# Fetch the kubernetes go.mod to learn the current list of staging modules.
if [ ! -f go.mod ]; then
	cat >go.mod <<MOD
module portico.dev/k8sbuild

go 1.26
MOD
fi
GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >kubernetes.json
gomod=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' kubernetes.json)
staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | sort -u)
if [ -z "$staging" ]; then
	echo "k8s-binaries: found no staging replaces in $gomod" >&2
	exit 1
fi

{
	echo "module portico.dev/k8sbuild"
	echo
	echo "go 1.26"
	echo
	echo "require k8s.io/kubernetes $K8S_VERSION"
	echo
	echo "replace ("
	for m in $staging; do echo "	$m => $m $STAGING_VERSION"; done
	echo ")"
} >go.mod
cat >tools.go <<'GO'
//go:build tools

package k8sbuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
GOFLAGS=-mod=mod go get "k8s.io/kubernetes@$K8S_VERSION"

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags="$ldflags -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
for b in "${missing[@]}"; do
	echo "k8s-binaries: go build $b"
	CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$OUT/$b.tmp" "k8s.io/kubernetes/cmd/$b"
	mv "$OUT/$b.tmp" "$OUT/$b"
done
echo "k8s-binaries: done, $OUT"
