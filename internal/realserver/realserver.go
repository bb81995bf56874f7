package realserver

import (
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

	"github.com/portico-lb/portico/internal/netns"
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

// Place says where a server runs and listens. The zero Place is the
// caller's network namespace, 127.0.0.1 and a free port.
type Place struct {
	// NetNS is the path of the network namespace to run in
	// (/run/netns/<name>, as netlab's Host.NetNSPath returns); empty for
	// the caller's.
	NetNS string
	// Addrs are the addresses to listen on, IPv4 and IPv6 alike; the first
	// is the server's Addr. Empty: 127.0.0.1.
	Addrs []netip.Addr
	// Port is the port to listen on. Zero: a free port in the caller's
	// namespace, which other servers share; the server's standard port
	// (3306, 6379, 53) in a namespace of its own.
	Port uint16
}

// placeDefaults fills the zero fields of pl for a server whose standard
// port is std. free finds a free port on an address of the caller's
// namespace.
func placeDefaults(pl Place, std uint16, free func(netip.Addr) (uint16, error)) (Place, error) {
	if len(pl.Addrs) == 0 {
		pl.Addrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	}
	for _, a := range pl.Addrs {
		if !a.IsValid() || a.Zone() != "" {
			return pl, fmt.Errorf("realserver: address %q: want a valid address without a zone", a)
		}
	}
	pl.Addrs = append([]netip.Addr(nil), pl.Addrs...)
	if pl.Port != 0 {
		return pl, nil
	}
	if pl.NetNS != "" {
		pl.Port = std
		return pl, nil
	}
	p, err := free(pl.Addrs[0])
	if err != nil {
		return pl, err
	}
	pl.Port = p
	return pl, nil
}

// addrPorts is every address of pl with its port.
func (pl Place) addrPorts() []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range pl.Addrs {
		out = append(out, netip.AddrPortFrom(a, pl.Port))
	}
	return out
}

// join writes the addresses as a server's list option wants them.
func (pl Place) join(sep string) string {
	var s []string
	for _, a := range pl.Addrs {
		s = append(s, a.String())
	}
	return strings.Join(s, sep)
}

// freePort returns a port nothing listens on at a now. Another process
// may take it before the server binds it; Start then fails with the
// server's own log, which says so.
func freePort(a netip.Addr) (uint16, error) {
	l, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		return 0, fmt.Errorf("realserver: free port on %s: %w", a, err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

// server is one server process that can be stopped and started again with
// the same binary, arguments, namespace and data. The test that created it
// owns it: that test's end kills it.
type server struct {
	name    string
	log     string                      // its stdout and stderr, over every run
	argv    func() []string             // the command line of the next run
	ready   func(context.Context) error // nil once the server serves
	timeout time.Duration               // for ready, per start
	spawn   *netns.Thread               // in the server's namespace; forks it
	cur     *process                    // the current run; nil before the first
}

// newServer enters pl's namespace on a thread that lives until t ends and
// registers the clean-up that kills the server. Call it after t.TempDir,
// so the server is dead before its directory is removed.
func newServer(t testing.TB, pl Place, name, log string) *server {
	t.Helper()
	spawn, err := netns.Start(context.Background(), pl.NetNS)
	if err != nil {
		t.Fatalf("realserver: %s: network namespace %q: %v", name, pl.NetNS, err)
	}
	s := &server{name: name, log: log, timeout: 20 * time.Second, spawn: spawn}
	t.Cleanup(func() {
		if s.cur != nil {
			s.cur.stop(0)
		}
		spawn.Close()
	})
	return s
}

// start runs the server and waits until it is ready. It fails t if the
// server is running already, exits or is not ready in time.
func (s *server) start(t testing.TB) {
	t.Helper()
	if s.cur != nil && !s.cur.exited() {
		t.Fatalf("realserver: %s is running already", s.name)
	}
	p, err := s.fork(s.argv())
	if err != nil {
		t.Fatal(err)
	}
	s.cur = p
	deadline := time.Now().Add(s.timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = s.ready(ctx)
		cancel()
		if err == nil {
			return
		}
		if p.exited() {
			t.Fatalf("realserver: %s exited before it was ready (%v):\n%s", s.name, err, s.tail())
		}
		if time.Now().After(deadline) {
			p.stop(0)
			t.Fatalf("realserver: %s not ready after %v (%v):\n%s", s.name, s.timeout, err, s.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fork starts argv from the server's thread. The process gets its own
// group, so a signal to the test's group does not reach it and stop
// reaches every child it forks, and SIGKILL as its parent-death signal.
// Linux sends that when the forking *thread* exits, which is why the
// thread is a locked one that lives as long as the test.
func (s *server) fork(argv []string) (*process, error) {
	log, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("realserver: %s: log: %w", s.name, err)
	}
	defer log.Close() // the child has its own copy
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.spawn.Do(context.Background(), cmd.Start); err != nil {
		return nil, fmt.Errorf("realserver: %s: %w", s.name, err)
	}
	p := &process{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop ends the current run: SIGTERM and up to grace to exit, then SIGKILL
// (at once for a zero grace). It returns once the process is gone.
func (s *server) stop(grace time.Duration) {
	if s.cur != nil {
		s.cur.stop(grace)
	}
}

// signal sends sig to the running server.
func (s *server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if s.cur == nil || s.cur.exited() {
		t.Fatalf("realserver: %s is not running", s.name)
	}
	if err := syscall.Kill(s.cur.pid, sig); err != nil {
		t.Fatalf("realserver: %s: kill -%d: %v", s.name, sig, err)
	}
}

// tail is the end of the server's log, for failure messages.
func (s *server) tail() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err.Error()
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// process is one run of a server.
type process struct {
	pid  int // also its process group
	done chan struct{}
}

func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	if grace > 0 {
		_ = syscall.Kill(-p.pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	// Also children that outlived their parent: they share its group.
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
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

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
