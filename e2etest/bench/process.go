package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It
// is 100 on every Linux architecture Portico builds for.
const clockTick = 10 * time.Millisecond

// goBuild builds the command in pkg (relative to the module at root, e.g.
// ./e2etest/cmd/podserver) into dir and returns the binary's path, named
// after pkg's last element.
func goBuild(ctx context.Context, root, dir, pkg string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	name := filepath.Base(pkg)
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", name, err, out)
	}
	return bin, nil
}

// usage is a process's CPU time (user+system) and peak resident memory.
type usage struct {
	cpu    time.Duration
	maxRSS int64 // bytes
}

// process is a running portico-controller.
type process struct {
	cmd     *exec.Cmd
	log     *os.File
	logPath string
	started time.Time
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// startProcess starts bin with args, its output going to logPath.
func startProcess(bin string, args []string, logPath string) (*process, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("controller log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// The controller dies with the bench instead of outliving it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &process{cmd: cmd, log: log, logPath: logPath, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// exited is closed when the process has exited.
func (p *process) exited() <-chan struct{} { return p.done }

// exitError describes how the process ended, naming its log.
func (p *process) exitError() error {
	return fmt.Errorf("portico-controller exited early (%v); log: %s", p.waitErr, p.logPath)
}

// liveUsage reads the running process's CPU time and peak RSS from /proc.
func (p *process) liveUsage() (usage, error) {
	pid := p.cmd.Process.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, fmt.Errorf("controller usage: %w", err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return usage{}, fmt.Errorf("controller usage: /proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, fmt.Errorf("controller usage: %w", err)
	}
	return usage{cpu: cpu, maxRSS: parseStatusKB(status, "VmHWM") * 1024}, nil
}

// stop sends SIGTERM, waits up to timeout (then kills) and returns the
// process's total usage from its rusage.
func (p *process) stop(timeout time.Duration) (usage, error) {
	select {
	case <-p.done:
		return usage{}, p.exitError()
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return usage{}, fmt.Errorf("stopping controller: %w", err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return usage{}, fmt.Errorf("controller did not exit within %v of SIGTERM; killed; log: %s", timeout, p.logPath)
	}
	var u usage
	st := p.cmd.ProcessState
	u.cpu = st.UserTime() + st.SystemTime()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		u.maxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	if !st.Success() {
		return u, fmt.Errorf("controller exited with %v after SIGTERM; log: %s", p.waitErr, p.logPath)
	}
	return u, nil
}

// kill ends the process without waiting for a clean shutdown.
func (p *process) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// parseStatCPU returns utime+stime from the contents of /proc/<pid>/stat.
// The command name may hold spaces and parentheses, so fields are counted
// after the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no ')' after the command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * clockTick, nil
}

// parseStatusKB returns the value of a "Key:   123 kB" line of
// /proc/<pid>/status, or 0 when absent.
func parseStatusKB(status []byte, key string) int64 {
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		return n
	}
	return 0
}
