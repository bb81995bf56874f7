// Package roottier is the one gate of Portico's root test tier: the tests
// that need root for network namespaces, veth pairs and raw sockets
// (speaker/layer2's root tests, e2etest/netlab, e2etest/suites, e2etest/lab).
//
// Require runs the tier when the process is root, -short is not set, a
// network namespace can be created (a container without CAP_SYS_ADMIN gets
// EPERM) and the ip command exists, so `make test` run as root (as CI does)
// runs it and `make test-unit` does not. Otherwise it skips, saying why.
// PORTICO_E2E=1 turns those skips (all but -short) into failures, for CI
// jobs that must not pass by skipping; PORTICO_E2E=0 always skips.
//
// It imports only the standard library, internal/netns and
// golang.org/x/sys/unix.
package roottier
