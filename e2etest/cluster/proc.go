package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is a process the cluster started itself, outside netlab.Host.Start:
// the controller (root namespace) and the podservers (pod namespaces, through
// ip netns exec; netlab only knows the hosts on its bridge).
type proc struct {
	name    string
	logPath string
	pid     int
	done    chan struct{} // closed when the process has exited
	err     error         // cmd.Wait's result, set before done is closed
}

// startProc runs argv with stdout and stderr appended to logPath, in its own
// process group (so signals reach what it forks) and with SIGKILL when the
// starting thread dies (so it does not outlive a crashed test).
func startProc(name, logPath string, argv ...string) (*proc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cluster: %s: log: %w", name, err)
	}
	defer log.Close() // the child has its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cluster: %s: start: %w", name, err)
	}
	p := &proc{name: name, logPath: logPath, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the group, SIGKILL after grace, and waits.
func (p *proc) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := unix.Kill(-p.pid, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("cluster: %s: %w", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		unix.Kill(-p.pid, unix.SIGKILL)
		<-p.done
	}
	unix.Kill(-p.pid, unix.SIGKILL) // children that outlived their parent
	return nil
}

// spawner starts processes from one OS thread that stays alive until the
// cluster stops.
//
// Every process gets SIGKILL as its parent-death signal, so that it does
// not outlive a crashed test, and Linux sends it when the *thread* that
// forked the process exits, not the process. Go keeps its threads, except
// that a goroutine that exits while locked to its thread takes the thread
// with it, which is exactly what netlab's Host.Do does after entering a
// namespace. A process forked by an ordinary goroutine can therefore die
// at random, the moment the scheduler next runs a Do on the thread that
// happened to fork it. Forking from a thread locked for the cluster's
// lifetime avoids that; when the spawner ends (Stop), its thread exits and
// whatever is left gets its SIGKILL, as intended.
type spawner struct {
	reqs chan func()
	quit chan struct{}
	done chan struct{}
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan func()), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer close(s.done)
		for {
			select {
			case fn := <-s.reqs:
				fn()
			case <-s.quit:
				return
			}
		}
	}()
	return s
}

// do runs fn on the spawner's thread and waits for it.
func (s *spawner) do(fn func() error) error {
	errc := make(chan error, 1)
	select {
	case s.reqs <- func() { errc <- fn() }:
		return <-errc
	case <-s.done:
		return errors.New("cluster: stopped")
	}
}

// close ends the spawner and its thread. It is idempotent.
func (s *spawner) close() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
}
