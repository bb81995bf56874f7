// Package realserver starts real MariaDB, Redis and dnsmasq processes from
// the Debian packages for tests: each on 127.0.0.1 and a free high port,
// with its state under t.TempDir(), killed when the test ends. Tests that
// use them call Need first, which skips with the reason when a binary is
// missing, or fails when PORTICO_E2E=1 (the root tier of `make test`, which
// installs the packages through e2etest/setup/deps.sh, must not pass by
// skipping). -short always skips.
//
// It is test support: production code does not import it.
package realserver
