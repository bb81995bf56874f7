package realserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Need returns the path of each binary, looked up in PATH and /usr/sbin, or
// skips the test saying which is missing (fails with PORTICO_E2E=1).
func Need(t testing.TB, bins ...string) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("realserver: starts real servers; skipped with -short")
	}
	var paths, missing []string
	for _, b := range bins {
		p, err := exec.LookPath(b)
		if err != nil {
			if _, serr := os.Stat("/usr/sbin/" + b); serr == nil {
				p, err = "/usr/sbin/"+b, nil
			}
		}
		if err != nil {
			missing = append(missing, b)
		}
		paths = append(paths, p)
	}
	if fail, msg := missingVerdict(missing, os.Getenv("PORTICO_E2E")); fail {
		t.Fatal(msg)
	} else if msg != "" {
		t.Skip(msg)
	}
	return paths
}

// missingVerdict says what to do about missing binaries: nothing, skip
// with msg, or fail with msg when PORTICO_E2E is "1".
func missingVerdict(missing []string, e2e string) (fail bool, msg string) {
	if len(missing) == 0 {
		return false, ""
	}
	why := fmt.Sprintf("realserver: %s not installed (run e2etest/setup/deps.sh as root)", strings.Join(missing, ", "))
	if e2e == "1" {
		return true, "PORTICO_E2E=1, but " + why
	}
	return false, why + "; set PORTICO_E2E=1 to fail instead"
}

// freePort returns a loopback port nothing listens on now. Another process
// may take it before the server binds it; the start helpers then fail
// with the server's own log, which says so.
func freePort(t testing.TB) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// process is a started server.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan struct{}
}

// start runs bin with args, its output kept for failure messages, and kills
// it (SIGKILL, then waits) when the test ends.
func start(t testing.TB, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), log: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// Its own process group, so a signal to the test's group does not
	// reach it and Kill reaches every child it forks.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls ready every 20ms until it returns nil, the process exits,
// or the timeout passes; the last two fail the test with the server's output.
func waitFor(t testing.TB, p *process, timeout time.Duration, ready func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = ready(ctx)
		cancel()
		if err == nil {
			return
		}
		if p.exited() {
			t.Fatalf("%s exited before it was ready (%v):\n%s", p.name, err, p.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %v (%v):\n%s", p.name, timeout, err, p.log)
}

func loopback(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
