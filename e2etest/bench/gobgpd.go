package bench

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// The reference daemon of the bgp bench: a bare gobgpd of GoBGP v4, pinned
// here, built in a throwaway module so that Portico's go.mod never gains
// v4 (the product runs GoBGP v3 alone; v4 exists only as this yardstick).
const gobgpModule, gobgpVersion = "github.com/osrg/gobgp/v4", "v4.8.0"

// gobgpDriveSrc is the small gRPC client that adds and withdraws paths
// (gobgpref/main.go.txt: .txt so that Portico's module never builds it).
//
//go:embed gobgpref/main.go.txt
var gobgpDriveSrc string

// gobgpBins are the built reference binaries.
type gobgpBins struct{ gobgpd, drive string }

// buildGoBGP builds gobgpd and the driver into cache (once: both are reused
// when present), from a module made for the purpose in a temp dir.
func buildGoBGP(ctx context.Context, cache string) (gobgpBins, error) {
	b := gobgpBins{gobgpd: filepath.Join(cache, "gobgpd"), drive: filepath.Join(cache, "gobgpdrive")}
	_, err1 := os.Stat(b.gobgpd)
	_, err2 := os.Stat(b.drive)
	if err1 == nil && err2 == nil {
		return b, nil
	}
	mod, err := os.MkdirTemp("", "portico-gobgpref-")
	if err != nil {
		return b, fmt.Errorf("bench: gobgpd: %w", err)
	}
	defer os.RemoveAll(mod)
	if err := os.MkdirAll(filepath.Join(mod, "drive"), 0o755); err != nil {
		return b, fmt.Errorf("bench: gobgpd: %w", err)
	}
	files := map[string]string{"go.mod": "module gobgpref\n\ngo 1.25\n", "drive/main.go": gobgpDriveSrc}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644); err != nil {
			return b, fmt.Errorf("bench: gobgpd: %w", err)
		}
	}
	for _, args := range [][]string{
		{"get", gobgpModule + "@" + gobgpVersion},
		{"build", "-o", b.gobgpd, gobgpModule + "/cmd/gobgpd"},
		{"build", "-o", b.drive, "./drive"},
	} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("bench: gobgpd: go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return b, nil
}

// gobgpRef is gobgpd running in a lab host, peering with the router, and
// the driver connected to its gRPC API.
type gobgpRef struct {
	h      *netlab.Host
	bins   gobgpBins
	dir    string
	router netip.Addr
	proc   *netlab.Process
	drive  *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	starts int
}

// gobgpConfig is gobgpd's configuration: AS cluster.NodeASN like the
// speakers, the same 3 s hold time, one neighbor (the router).
func gobgpConfig(asn, peerASN uint32, id, router netip.Addr, hold time.Duration) string {
	return fmt.Sprintf(`[global.config]
  as = %d
  router-id = "%s"
  port = -1

[[neighbors]]
  [neighbors.config]
    neighbor-address = "%s"
    peer-as = %d
  [neighbors.timers.config]
    hold-time = %d
    keepalive-interval = %d
    connect-retry = 1
`, asn, id, router, peerASN, int(hold.Seconds()), max(1, int(hold.Seconds())/3))
}

// startGoBGP writes the configuration and starts gobgpd and the driver.
func startGoBGP(ctx context.Context, bins gobgpBins, h *netlab.Host, dir string, asn, peerASN uint32, router netip.Addr, hold time.Duration) (*gobgpRef, error) {
	g := &gobgpRef{h: h, bins: bins, dir: dir, router: router}
	cfg := gobgpConfig(asn, peerASN, h.IPv4, router, hold)
	if err := os.WriteFile(filepath.Join(dir, "gobgpd.toml"), []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("bench: gobgpd: %w", err)
	}
	if err := g.start(ctx); err != nil {
		return nil, err
	}
	g.drive = h.Command(context.Background(), bins.drive, "-api", "127.0.0.1:50051", "-nexthop", h.IPv4.String())
	var err error
	if g.in, err = g.drive.StdinPipe(); err != nil {
		return nil, fmt.Errorf("bench: gobgpdrive: %w", err)
	}
	out, err := g.drive.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: gobgpdrive: %w", err)
	}
	g.out = bufio.NewReader(out)
	if err := g.drive.Start(); err != nil {
		return nil, fmt.Errorf("bench: gobgpdrive: %w", err)
	}
	return g, nil
}

// start runs gobgpd (again, after a fault).
func (g *gobgpRef) start(ctx context.Context) error {
	g.starts++
	log := filepath.Join(g.dir, fmt.Sprintf("gobgpd-%d.log", g.starts))
	p, err := g.h.Start(context.Background(), log, g.bins.gobgpd,
		"-f", filepath.Join(g.dir, "gobgpd.toml"), "--api-hosts", "127.0.0.1:50051",
		"--pprof-disable", "--log-level", "warn")
	if err != nil {
		return fmt.Errorf("bench: gobgpd: %w", err)
	}
	g.proc = p
	return nil
}

// do sends one "add"/"del" line of prefixes and waits for gobgpd's answer.
func (g *gobgpRef) do(verb string, ps ...netip.Prefix) error {
	var b strings.Builder
	b.WriteString(verb)
	for _, p := range ps {
		b.WriteString(" " + p.String())
	}
	if _, err := io.WriteString(g.in, b.String()+"\n"); err != nil {
		return fmt.Errorf("bench: gobgpdrive: %w", err)
	}
	line, err := g.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("bench: gobgpdrive: %w", err)
	}
	if line = strings.TrimSpace(line); line != "ok" {
		return fmt.Errorf("bench: gobgpdrive %s: %s", verb, line)
	}
	return nil
}

// kill stops gobgpd with sig and waits until it exited.
func (g *gobgpRef) kill(sig syscall.Signal) error {
	if err := g.proc.Kill(sig); err != nil {
		return fmt.Errorf("bench: gobgpd: %w", err)
	}
	select {
	case <-g.proc.Done():
		return nil
	case <-time.After(10 * time.Second):
		_ = g.proc.Kill(syscall.SIGKILL)
		<-g.proc.Done()
		return errors.New("bench: gobgpd did not exit within 10 s; killed")
	}
}

func (g *gobgpRef) stop() {
	if g.in != nil {
		g.in.Close()
		_ = g.drive.Wait()
	}
	if g.proc != nil && !g.proc.Exited() {
		_ = g.proc.Stop(2 * time.Second)
	}
}
