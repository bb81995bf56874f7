package roottier

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portico-lb/portico/internal/netns"
)

// Env is the environment variable that requests (1) or refuses (0) the
// root tier.
const Env = "PORTICO_E2E"

// Require skips tb, saying why, unless the root tier can and should run
// here; see the package doc.
func Require(tb testing.TB) {
	tb.Helper()
	if reason, skip := decide(os.Getenv(Env), testing.Short(), os.Geteuid(), probeNetNS, IPCommand); reason != "" {
		if skip {
			tb.Skip(reason)
		}
		tb.Fatal(reason)
	}
}

// decide returns why the tier does not run ("" when it does) and whether
// that is a skip rather than a failure.
func decide(mode string, short bool, euid int, probe func() error, ip func() (string, error)) (reason string, skip bool) {
	switch {
	case short:
		return "root tier: skipped with -short", true
	case mode == "0":
		return "root tier: skipped, " + Env + "=0", true
	}
	var cannot string
	if euid != 0 {
		cannot = "it needs root for network namespaces"
	} else if err := probe(); err != nil {
		cannot = "cannot create a network namespace: " + err.Error()
	} else if _, err := ip(); err != nil {
		cannot = err.Error()
	} else {
		return "", false
	}
	if mode == "1" {
		return "root tier: " + Env + "=1, but " + cannot, false
	}
	return "root tier: skipped, " + cannot + " (set " + Env + "=1 to fail instead)", true
}

// probeNetNS creates a network namespace on a throwaway thread: the
// namespace dies with the thread, so nothing is left to clean up.
func probeNetNS() error {
	return netns.Run("", func() error {
		err := unix.Unshare(unix.CLONE_NEWNET)
		if errors.Is(err, unix.EPERM) {
			return errors.New("unshare(CLONE_NEWNET): operation not permitted")
		}
		return err
	})
}

// IPCommand finds the ip command (iproute2), also in /usr/sbin and /sbin,
// which an ordinary user's PATH may lack.
func IPCommand() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("ip (iproute2) not found; run e2etest/setup/deps.sh")
}
