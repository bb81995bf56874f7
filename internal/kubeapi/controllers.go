package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Controllers is a running kube-controller-manager limited to a few of its
// controllers.
type Controllers struct {
	cmd  *exec.Cmd
	done chan error
	dir  string
	log  string
}

// StartControllers runs kube-controller-manager (built beside
// kube-apiserver by `make setup`) against s with only the named controllers,
// for example "garbage-collector-controller" (owner references are
// followed on delete) and "endpointslice-mirroring-controller" (a
// selectorless Service's hand-written Endpoints is mirrored into
// EndpointSlices), so tests see what a cluster does with Portico's
// objects. It serves no port and elects no leader.
func (s *Server) StartControllers(controllers ...string) (*Controllers, error) {
	bin := filepath.Join(s.binDir, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("kubeapi: kube-controller-manager not built (run `make setup`): %w", err)
	}
	dir, err := os.MkdirTemp("", "portico-kcm-")
	if err != nil {
		return nil, fmt.Errorf("kubeapi: %w", err)
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := s.WriteKubeconfig(kc); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	c := &Controllers{dir: dir, log: filepath.Join(dir, "kube-controller-manager.log"), done: make(chan error, 1)}
	out, err := os.Create(c.log)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("kubeapi: %w", err)
	}
	c.cmd = exec.Command(bin, "--kubeconfig", kc, "--controllers", strings.Join(controllers, ","),
		"--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false",
		"--concurrent-gc-syncs=4", "--kube-api-qps=200", "--kube-api-burst=400", "--v=1")
	c.cmd.Stdout, c.cmd.Stderr = out, out
	// Dies with the test binary instead of outliving it.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		_ = out.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("kubeapi: starting kube-controller-manager: %w", err)
	}
	go func() { c.done <- c.cmd.Wait(); _ = out.Close() }()
	select {
	case err := <-c.done:
		c.done <- err
		return nil, fmt.Errorf("kubeapi: kube-controller-manager exited at once (%v); log %s", err, c.log)
	case <-time.After(500 * time.Millisecond):
	}
	return c, nil
}

// Stop stops the controllers and removes their files.
func (c *Controllers) Stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	select {
	case err = <-c.done:
	case <-ctx.Done():
		_ = c.cmd.Process.Kill()
		err = <-c.done
	}
	if os.Getenv("PORTICO_KEEP_LOGS") == "" {
		_ = os.RemoveAll(c.dir)
	} else {
		fmt.Fprintln(os.Stderr, "kube-controller-manager log kept:", c.log)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return fmt.Errorf("kubeapi: stopping kube-controller-manager: %w", err)
	}
	return nil
}
