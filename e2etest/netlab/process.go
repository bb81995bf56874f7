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

	"github.com/portico-lb/portico/internal/netns"
)

// Process is a background process started in a host's namespace by
// Host.Start, in the root namespace by Lab.Start, or outside any lab by
// StartProcess: e2etest's one process wrapper.
type Process struct {
	// Pid is the process's ID and its process group, so Kill and Stop reach
	// its children too. For its first milliseconds it is ip netns exec, in
	// the root namespace, until that has entered the namespace and exec'd.
	Pid     int
	Name    string    // host and command, for messages
	LogPath string    // where its stdout and stderr go
	Started time.Time // just before the fork

	done  chan struct{}    // closed when the process has exited
	err   error            // cmd.Wait's result, set before done is closed
	state *os.ProcessState // set before done is closed
}

// Start runs name in the host's namespace in the background, with stdout and
// stderr appended to logPath. The process stops (as with Stop) when ctx ends,
// and at the latest when the lab is destroyed.
func (h *Host) Start(ctx context.Context, logPath, name string, args ...string) (*Process, error) {
	argv := append([]string{h.lab.ip, "netns", "exec", h.Namespace, name}, args...)
	return h.lab.start(ctx, fmt.Sprintf("%s: %s", h.Name, name), logPath, argv)
}

// Start runs argv in the root namespace in the background, tracked like the
// hosts' processes: for the parts of a test cluster that are not lab hosts
// (the controller, or a process in a namespace of the caller's own, through
// `ip netns exec`).
func (l *Lab) Start(ctx context.Context, logPath string, argv ...string) (*Process, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("netlab: Start: no command")
	}
	return l.start(ctx, argv[0], logPath, argv)
}

// start forks argv from the lab's spawner thread (see fork).
func (l *Lab) start(ctx context.Context, what, logPath string, argv []string) (*Process, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return nil, fmt.Errorf("netlab: %s: lab %s is destroyed", what, l.Prefix)
	}
	p, err := fork(ctx, l.spawn, what, logPath, argv)
	if err != nil {
		return nil, err
	}
	l.proc = append(l.proc, p)
	return p, nil
}

// StartProcess runs argv in the background outside any lab, in the
// caller's namespace, with stdout and stderr appended to logPath: for
// benchmarks that run a binary against an API server and no network. It
// has a forking thread of its own (see fork) that lives as long as the
// process. The process stops (as with Stop) when ctx ends; it dies with
// this process at the latest.
func StartProcess(ctx context.Context, logPath string, argv ...string) (*Process, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("netlab: StartProcess: no command")
	}
	spawn, err := newSpawner()
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: %w", argv[0], err)
	}
	p, err := fork(ctx, spawn, argv[0], logPath, argv)
	if err != nil {
		spawn.Close()
		return nil, err
	}
	go func() {
		<-p.done
		spawn.Close()
	}()
	return p, nil
}

// fork starts argv from the thread spawn.
//
// The process gets its own process group, so signals reach whatever it
// forks, and SIGKILL as its parent-death signal, so it does not outlive a
// crashed test. Linux sends that signal when the *thread* that forked the
// process exits, and a goroutine that exits while locked to its thread
// (Host.Do) takes the thread with it: a process forked from an ordinary
// goroutine would die at random, the next time a Do ran on that thread.
// Forking from a thread locked for as long as the process may run avoids
// that.
func fork(ctx context.Context, spawn *netns.Thread, what, logPath string, argv []string) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: log: %w", what, err)
	}
	defer log.Close() // the child has its own copy
	// A plain Command, not CommandContext: ctx ending means Stop (TERM, then
	// KILL to the whole group), not a bare KILL to the leader only.
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	started := time.Now()
	if err := spawn.Do(context.Background(), cmd.Start); err != nil {
		return nil, fmt.Errorf("netlab: %s: start: %w", what, err)
	}
	p := &Process{Pid: cmd.Process.Pid, Name: what, LogPath: logPath, Started: started, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		p.state = cmd.ProcessState
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

// State is the exited process's state (exit status, CPU times, rusage);
// nil while it runs.
func (p *Process) State() *os.ProcessState {
	select {
	case <-p.done:
		return p.state
	default:
		return nil
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// newSpawner starts the thread that forks the lab's processes: a locked
// OS thread in the root namespace that stays alive until the lab is
// destroyed; see Lab.start for why processes must be forked from such a
// thread. Closing it ends the thread, and whatever it forked and is still
// running gets its parent-death SIGKILL.
func newSpawner() (*netns.Thread, error) { return netns.Start(context.Background(), "") }
