package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
	"github.com/portico-lb/portico/internal/kubeapi"
)

// start launches the supervisor detached and waits until it is ready,
// echoing its progress. On failure it leaves nothing running.
func (l *Lab) start(ctx context.Context) (readyInfo, error) {
	dir, out := l.opts.Dir, l.opts.Out
	// Checked here as well as in the supervisor, so a missing `make setup`
	// or a missing sudo shows up at once and not as a line in a log.
	if os.Geteuid() != 0 {
		return readyInfo{}, errors.New("lab: the lab needs root: it creates network namespaces, veths and a bridge; run it as root")
	}
	if err := cluster.Available(cluster.Options{}); err != nil {
		return readyInfo{}, fmt.Errorf("lab: %w", err)
	}
	st, err := l.Status()
	if err != nil {
		return readyInfo{}, err
	}
	if st.Running {
		return readyInfo{}, fmt.Errorf("%w (supervisor pid %d, state in %s)\n  use it:  export KUBECONFIG=%s\n  stop it: make lab-down",
			ErrRunning, st.PID, dir, l.Kubeconfig())
	}
	if st.Exists {
		if err := checkLabDir(dir); err != nil {
			return readyInfo{}, err
		}
		fmt.Fprintf(out, "Cleaning up %s, left over from a lab that is no longer running.\n", dir)
		if err := l.removeLeftovers(ctx); err != nil {
			return readyInfo{}, err
		}
	}
	root, err := kubeapi.ModuleRoot()
	if err != nil {
		return readyInfo{}, fmt.Errorf("lab: finding the Portico module to build the binaries from: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, dirTmp), 0o755); err != nil {
		return readyInfo{}, fmt.Errorf("lab: creating the state directory: %w", err)
	}
	set := settings{ModuleRoot: root}
	if err := writeJSON(filepath.Join(dir, fileSettings), set); err != nil {
		return readyInfo{}, err
	}
	exited, pid, err := l.spawn(root)
	if err != nil {
		return readyInfo{}, errors.Join(err, os.RemoveAll(dir))
	}
	fmt.Fprintf(out, "Starting the Portico lab in %s (supervisor pid %d, log %s):\n", dir, pid, filepath.Join(dir, fileLabLog))
	info, err := l.waitReady(ctx, exited)
	if err == nil {
		return info, nil
	}
	select {
	case <-exited:
		// The supervisor stopped what it had started and kept its logs; its
		// own, echoed above, ends with the cluster's error and the tail of the
		// log of the process that failed.
		return readyInfo{}, fmt.Errorf("%w\nLogs are kept in %s; `make lab-down` removes them", err, dir)
	default:
		fmt.Fprintln(out, "Stopping the lab.")
		return readyInfo{}, errors.Join(err, stopSupervisor(context.WithoutCancel(ctx), dir, pid, l.opts.StopTimeout))
	}
}

// spawn starts the supervisor in its own session, so that it survives the
// end of `make lab` and a Ctrl-C in the terminal that ran it. Its output goes
// to the log; its stdin is /dev/null. The returned channel is closed when it
// exits: only tests live long enough to see that, but waiting for it also
// reaps the process, which keeps a test's checks from seeing a zombie.
func (l *Lab) spawn(root string) (exited <-chan struct{}, pid int, err error) {
	dir := l.opts.Dir
	log, err := os.OpenFile(filepath.Join(dir, fileLabLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("lab: supervisor log: %w", err)
	}
	defer log.Close() // the child has its own descriptor
	sup := l.opts.Supervisor
	cmd := exec.Command(sup[0], sup[1:]...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PORTICO_LAB_DIR="+dir, "TMPDIR="+filepath.Join(dir, dirTmp))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("lab: starting the supervisor %q: %w", sup, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // its outcome is in its log
		close(done)
	}()
	return done, cmd.Process.Pid, nil
}

// waitReady waits, up to ReadyTimeout, for the supervisor's ready file and
// copies the supervisor's log to Out meanwhile.
func (l *Lab) waitReady(ctx context.Context, exited <-chan struct{}) (readyInfo, error) {
	dir := l.opts.Dir
	echo := &logEcho{path: filepath.Join(dir, fileLabLog), out: l.opts.Out}
	defer echo.flush()
	var info readyInfo
	err := netlab.Poll(ctx, 200*time.Millisecond, l.opts.ReadyTimeout, "the lab to start", func(context.Context) error {
		echo.flush()
		var err error
		if info, err = readReady(dir); err == nil {
			return nil
		}
		select {
		case <-exited:
			echo.flush()
			return netlab.Permanent(errors.New("the supervisor exited before the lab was ready; its log is above"))
		default:
		}
		return err
	})
	if err != nil {
		return readyInfo{}, fmt.Errorf("lab: %w", err)
	}
	return info, nil
}

// logEcho copies the complete lines appended to a file since the last flush.
type logEcho struct {
	path   string
	out    io.Writer
	offset int64
}

func (e *logEcho) flush() {
	f, err := os.Open(e.path)
	if err != nil {
		return // not there yet, or already removed: nothing to show
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, e.offset, 1<<30))
	if err != nil {
		return
	}
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		return
	}
	for line := range bytes.Lines(b[:end+1]) {
		fmt.Fprintf(e.out, "  %s", line)
	}
	e.offset += int64(end + 1)
}
