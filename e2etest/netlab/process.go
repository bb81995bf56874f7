package netlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Process is a background process started in a host's namespace by
// Host.Start.
type Process struct {
	// Pid is the process's ID and its process group, so Kill and Stop reach
	// its children too. For its first milliseconds it is ip netns exec, in
	// the root namespace, until that has entered the namespace and exec'd.
	Pid  int
	Name string // host and command, for messages

	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done is closed
}

// Start runs name in the host's namespace in the background, with stdout and
// stderr appended to logPath. The process stops (as with Stop) when ctx ends,
// and at the latest when the lab is destroyed.
//
// The process gets its own process group, so signals reach whatever it
// forks, and SIGKILL when the thread that started it dies, so it does not
// outlive a crashed test. That signal is tied to the starting OS thread, so
// do not call Start from inside Host.Do, whose thread is discarded.
func (h *Host) Start(ctx context.Context, logPath, name string, args ...string) (*Process, error) {
	what := fmt.Sprintf("%s: %s", h.Name, name)
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: log: %w", what, err)
	}
	defer log.Close() // the child has its own copy
	// A plain Command, not CommandContext: ctx ending means Stop (TERM, then
	// KILL to the whole group), not a bare KILL to the leader only.
	cmd := exec.Command(h.lab.ip, append([]string{"netns", "exec", h.Namespace, name}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	if h.lab.done {
		return nil, fmt.Errorf("netlab: %s: lab %s is destroyed", what, h.lab.Prefix)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: %s: start: %w", what, err)
	}
	p := &Process{Pid: cmd.Process.Pid, Name: what, done: make(chan struct{})}
	h.lab.proc = append(h.lab.proc, p)
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			p.Stop(2 * time.Second)
		case <-p.done:
		}
	}()
	return p, nil
}

// Kill sends sig to the process's group. After the process has exited it
// does nothing, so a reused process ID is never signalled.
func (p *Process) Kill(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := unix.Kill(-p.Pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("netlab: %s: kill -%d: %w", p.Name, sig, err)
	}
	return nil
}

// Stop sends SIGTERM to the group and waits up to grace for the process to
// exit, then sends SIGKILL and waits for it. It returns nil once the process
// is gone, whatever its exit status.
func (p *Process) Stop(grace time.Duration) error {
	if err := p.Kill(unix.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		if err := p.Kill(unix.SIGKILL); err != nil {
			return err
		}
		<-p.done
	}
	// Children that ignored SIGTERM or outlived their parent share its group.
	unix.Kill(-p.Pid, unix.SIGKILL)
	return nil
}

// Wait waits for the process to exit and returns its exit error (nil for
// status 0; an *exec.ExitError otherwise).
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }
