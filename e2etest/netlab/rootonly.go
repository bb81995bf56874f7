package netlab

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// RequireRoot skips the calling test, saying why, unless the root tier can
// and should run here: the process is root, -short is not set, a network
// namespace can be created (a container without CAP_SYS_ADMIN cannot) and
// the ip command exists. The environment variable PORTICO_E2E overrides:
// "1" turns every skip except -short into a failure, for CI jobs that must
// not pass by skipping; "0" always skips.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	mode := os.Getenv("PORTICO_E2E")
	switch {
	case testing.Short():
		tb.Skip("netlab: root tier: skipped with -short")
	case mode == "0":
		tb.Skip("netlab: root tier: skipped, PORTICO_E2E=0")
	}
	cannot := func(reason string) {
		tb.Helper()
		if mode == "1" {
			tb.Fatalf("netlab: root tier: PORTICO_E2E=1, but %s", reason)
		}
		tb.Skipf("netlab: root tier: skipped, %s (set PORTICO_E2E=1 to fail instead)", reason)
	}
	if os.Geteuid() != 0 {
		cannot("it needs root for network namespaces")
	}
	if err := probeNetNS(); err != nil {
		cannot("cannot create a network namespace: " + err.Error())
	}
	if _, err := IPCommand(); err != nil {
		cannot(err.Error())
	}
}

// probeNetNS creates a network namespace on a throwaway thread: the
// namespace dies with the thread, so nothing is left to clean up.
func probeNetNS() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: Go discards the thread
		err := unix.Unshare(unix.CLONE_NEWNET)
		if errors.Is(err, unix.EPERM) {
			err = errors.New("unshare(CLONE_NEWNET): operation not permitted")
		}
		errc <- err
	}()
	return <-errc
}
