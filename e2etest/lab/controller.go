package lab

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type buildResult struct {
	bin string
	err error
}

// buildController compiles portico-controller from the module at root into
// dir. The lab runs the controller as its own binary, as a cluster would,
// rather than linking it in.
func buildController(ctx context.Context, root, dir string) buildResult {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, fileController)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./controller/cmd/portico-controller")
	cmd.Dir = root
	// The module is built with -mod=mod (see the Makefile); other GOFLAGS the
	// user set are kept.
	if flags := os.Getenv("GOFLAGS"); !strings.Contains(flags, "-mod=") {
		cmd.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(flags+" -mod=mod"))
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return buildResult{err: fmt.Errorf("lab: building %s: %w\n%s", fileController, err, out)}
	}
	return buildResult{bin: bin}
}

// process is the running controller.
type process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
}

// startController starts bin with args, its output going to logPath.
func startController(bin string, args []string, logPath string) (*process, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("lab: controller log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("lab: starting %s: %w", bin, err)
	}
	p := &process{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// waitHealthy polls the controller's readyz endpoint until it answers 200,
// so the lab is not declared ready while the controller cannot run (a port
// in use, a bad kubeconfig). With the probe disabled ("0") it only checks
// that the process did not exit at once.
func (p *process) waitHealthy(ctx context.Context, probeAddr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return fmt.Errorf("lab: %s exited at start (%v); log: %s", fileController, p.waitErr, p.logPath)
		case <-ctx.Done():
			if probeAddr == "0" {
				return nil
			}
			return fmt.Errorf("lab: %s not ready at http://%s/readyz: %w; log: %s",
				fileController, probeAddr, context.Cause(ctx), p.logPath)
		case <-tick.C:
		}
		if probeAddr == "0" {
			continue
		}
		resp, err := client.Get("http://" + probeAddr + "/readyz")
		if err != nil {
			continue // not listening yet
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
}

// stop sends SIGTERM and waits up to timeout, then kills. A process that
// has already exited is not an error here: whoever saw it exit said so.
func (p *process) stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("lab: stopping %s: %w", fileController, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("lab: %s did not exit within %v of SIGTERM; killed it", fileController, timeout)
	}
}
