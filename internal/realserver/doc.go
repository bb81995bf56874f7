// Package realserver starts real MariaDB, Redis and dnsmasq processes from
// the Debian packages for tests, with their state under t.TempDir(). Each
// is stopped (SIGKILL to its process group, waited for) when the test that
// started it ends, before its directory is removed; it also dies with the
// test binary (parent-death signal), so a crashed run leaves none behind.
// Tests that use them call Need first (the Start functions do), which skips
// with the reason when a binary is missing, or fails when PORTICO_E2E=1
// (the root tier of `make test`, which installs the packages through
// e2etest/setup/deps.sh, must not pass by skipping). -short always skips.
//
// # Where a server runs
//
// Every Start function takes a Place: the zero Place is the caller's
// network namespace, 127.0.0.1 and a free port (the unit tests of
// controller/probe). A Place with NetNS set runs the server in that network
// namespace (the bind mount of a lab host, netlab's Host.NetNSPath) on the
// addresses given, IPv4 and IPv6 alike, and on the server's standard port,
// so that a lab host is a database host as a client on the LAN sees it.
//
// realserver takes a namespace path rather than a netlab Host on purpose:
// it lives under internal/ because controller/ tests use it, and e2etest
// (netlab included) imports internal/, never the other way round. The
// process is forked from a locked OS thread that has entered the namespace
// (internal/netns), so no `ip netns exec` is needed and any bind mount
// works. The controls (SQL as root, redis-cli) talk to the server over its
// Unix socket, which no network namespace or link state can cut off, and
// the DNS checks dial from a thread inside the namespace; the network
// address is left to what the test wants to observe.
//
// It is test support: production code does not import it. It imports the
// standard library, internal/netns and github.com/miekg/dns.
package realserver
