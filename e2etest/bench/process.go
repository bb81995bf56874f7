package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It
// is 100 on every Linux architecture Portico builds for.
const clockTick = 10 * time.Millisecond

// usage is a process's CPU time (user+system) and peak resident memory.
type usage struct {
	cpu    time.Duration
	sys    time.Duration // the system part of cpu
	maxRSS int64         // bytes
}

// startProcess starts the controller binary bin with args (netlab's
// process wrapper, outside any lab), its output going to logPath. It dies
// with the bench instead of outliving it.
func startProcess(bin string, args []string, logPath string) (*netlab.Process, error) {
	return netlab.StartProcess(context.Background(), logPath, append([]string{bin}, args...)...)
}

// exitError describes how the controller ended, naming its log.
func exitError(p *netlab.Process) error {
	return fmt.Errorf("portico-controller exited early (%v); log: %s", p.Wait(), p.LogPath)
}

// liveUsage reads the running process's CPU time and peak RSS from /proc.
func liveUsage(p *netlab.Process) (usage, error) {
	pid := p.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, fmt.Errorf("controller usage: %w", err)
	}
	user, sys, err := parseStatTimes(stat)
	if err != nil {
		return usage{}, fmt.Errorf("controller usage: /proc/%d/stat: %w", pid, err)
	}
	cpu := user + sys
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, fmt.Errorf("controller usage: %w", err)
	}
	return usage{cpu: cpu, sys: sys, maxRSS: parseStatusKB(status, "VmHWM") * 1024}, nil
}

// stopProcess sends SIGTERM, waits up to timeout (then kills) and returns
// the process's total usage from its rusage.
func stopProcess(p *netlab.Process, timeout time.Duration) (usage, error) {
	if p.Exited() {
		return usage{}, exitError(p)
	}
	if err := p.Kill(syscall.SIGTERM); err != nil {
		return usage{}, fmt.Errorf("stopping controller: %w", err)
	}
	select {
	case <-p.Done():
	case <-time.After(timeout):
		killProcess(p)
		return usage{}, fmt.Errorf("controller did not exit within %v of SIGTERM; killed; log: %s", timeout, p.LogPath)
	}
	var u usage
	st := p.State()
	u.cpu = st.UserTime() + st.SystemTime()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		u.maxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	if !st.Success() {
		return u, fmt.Errorf("controller exited with %v after SIGTERM; log: %s", p.Wait(), p.LogPath)
	}
	return u, nil
}

// killProcess ends the process without waiting for a clean shutdown.
func killProcess(p *netlab.Process) {
	_ = p.Kill(syscall.SIGKILL)
	<-p.Done()
}

// parseStatCPU returns utime+stime from the contents of /proc/<pid>/stat.
func parseStatCPU(stat []byte) (time.Duration, error) {
	user, sys, err := parseStatTimes(stat)
	return user + sys, err
}

// parseStatTimes returns utime and stime from the contents of
// /proc/<pid>/stat. The command name may hold spaces and parentheses, so
// fields are counted after the last ')'.
func parseStatTimes(stat []byte) (user, sys time.Duration, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, errors.New("no ')' after the command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, err
	}
	return time.Duration(ut) * clockTick, time.Duration(st) * clockTick, nil
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
