# Portico. `make test` and `make lab` install what they need (apt packages, the
# kube-apiserver/kubectl/kube-proxy build) idempotently; see e2etest/setup/.
SHELL := /bin/bash
export GOFLAGS := -mod=mod
K8S_VERSION ?= v1.37.2
PORTICO_CACHE ?= $(HOME)/.cache/portico
K8S_BIN := $(PORTICO_CACHE)/k8s-$(K8S_VERSION)
# Integration tests find kube-apiserver and etcd here; they fail (not skip)
# when PORTICO_REQUIRE_APISERVER is set and the binaries are missing.
export PORTICO_K8S_BIN := $(K8S_BIN)

.PHONY: all setup generate verify-generated build vet test test-unit test-integration lab bench-alloc clean

all: build

## setup: install etcd (apt) and build kube-apiserver, kubectl, kube-proxy into $(K8S_BIN).
setup:
	@bash e2etest/setup/deps.sh
	@K8S_VERSION=$(K8S_VERSION) PORTICO_CACHE=$(PORTICO_CACHE) bash e2etest/setup/k8s-binaries.sh

## generate: deepcopy, CRDs and RBAC from the markers in api/, controller/ and speaker/.
# CRDs keep their descriptions: they are the `kubectl explain` text. Each
# component's ClusterRole and Role (role.yaml) come from its own markers, into
# deploy/rbac/<component>. controller-gen writes no role.yaml for a tree without
# +kubebuilder:rbac markers, so an empty ClusterRole stands in for the
# controller's and deploy/rbac/controller always builds.
generate:
	go tool controller-gen object paths=./api/...
	go tool controller-gen crd paths=./api/... output:crd:artifacts:config=deploy/crd/bases
	rm -f deploy/rbac/controller/role.yaml deploy/rbac/speaker/role.yaml
	go tool controller-gen rbac:roleName=portico-controller paths=./controller/... output:rbac:artifacts:config=deploy/rbac/controller
	@test -f deploy/rbac/controller/role.yaml || printf '%s\n' '---' 'apiVersion: rbac.authorization.k8s.io/v1' 'kind: ClusterRole' \
		'metadata:' '  name: portico-controller' 'rules: []' >deploy/rbac/controller/role.yaml
	go tool controller-gen rbac:roleName=portico-speaker paths=./speaker/... output:rbac:artifacts:config=deploy/rbac/speaker
	gofmt -w api/

## verify-generated: fail when generated files differ from what `make generate` writes.
verify-generated: generate
	@if [ -n "$$(git status --porcelain -- api deploy)" ]; then \
		echo "generated files are stale; run 'make generate' and commit:"; git status --porcelain -- api deploy; exit 1; fi

build:
	go build ./...

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

## test: every tier that can run here (unit, envtest integration; root e2e when root).
test: setup verify-generated vet
	PORTICO_REQUIRE_APISERVER=1 go test -count=1 -timeout 20m ./...

## test-unit: tests that need neither an API server nor root.
test-unit:
	go test -count=1 -short ./...

## lab: start the network lab in the background (namespaces, API server, controller, speakers, kube-proxy, pods), run the demo, print how to poke it.
lab: setup
	go run ./e2etest/cmd/lab up

## lab-down: stop the lab and remove its state directory; fine when nothing runs.
.PHONY: lab-down
lab-down:
	go run ./e2etest/cmd/lab down

bench-alloc: setup
	go test -run '^$$' -bench . -benchmem ./controller/allocator/
	go run ./e2etest/cmd/bench alloc -n 1000
