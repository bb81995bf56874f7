package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// The files of the state directory. The cluster writes its kubeconfig and
// one log per process (controller.log, speaker-node-1.log, …) beside them.
const (
	fileSettings   = "lab.json"     // what Up asked the supervisor to start
	fileLock       = "lock"         // flock held by the supervisor for its whole life
	filePID        = "pid"          // the supervisor's pid
	fileLabLog     = "lab.log"      // the supervisor's output
	fileReady      = "ready.json"   // readyInfo, written once the lab runs and kept current
	fileControl    = "control.sock" // the supervisor's control channel (control.go)
	fileKubeconfig = "kubeconfig"   // admin kubeconfig, written by the cluster
	fileCtrlLog    = "controller.log"
	// dirTmp is the supervisor's $TMPDIR: envtest's certificates and etcd
	// data, and the binaries the cluster builds. Every process of the lab so
	// has a path under the state directory on its command line.
	dirTmp = "tmp"
)

// labBinaries are the programs the supervisor's cluster runs, in the order
// removeLeftovers stops them: the node processes and the controller first,
// the API server before its etcd (an API server whose etcd is gone takes
// long to shut down). Status and Down find them by a command-line argument
// under the state directory, so they are found even when the supervisor
// died without stopping them. Only these names count, so a `tail -f` of a
// lab log is never taken for part of the lab.
var labBinaries = []string{"podserver", "portico-speaker", "kube-proxy", "portico-controller", "kube-apiserver", "etcd"}

// settings is what Up hands to the supervisor through the state directory,
// so the supervisor needs no flags.
type settings struct {
	// ModuleRoot is the module the cluster builds its binaries from.
	ModuleRoot string `json:"moduleRoot"`
}

// readyInfo is what the supervisor tells Up, and anyone reading ready.json,
// about the running lab. The supervisor rewrites it whenever a speaker
// stops or starts, so the speaker PIDs are the ones to kill.
type readyInfo struct {
	Kubeconfig string `json:"kubeconfig"`
	Kubectl    string `json:"kubectl"`
	APIServer  string `json:"apiServer"`
	// Prefix starts the name of every namespace and link of the lab.
	Prefix string       `json:"prefix"`
	Bridge string       `json:"bridge"`
	LANv4  netip.Prefix `json:"lanIPv4"`
	LANv6  netip.Prefix `json:"lanIPv6"`
	// PoolV4 and PoolV6 are the demo pools' ranges: host IDs 200–220 of
	// the LAN, so every VIP is on-link for the client.
	PoolV4 string `json:"poolIPv4"`
	PoolV6 string `json:"poolIPv6"`
	// Control is the unix socket of the supervisor's control channel.
	Control string     `json:"control"`
	Nodes   []hostInfo `json:"nodes"`
	Client  hostInfo   `json:"client"`
	// Router is the BGP router running FRR, nil when FRR is not installed;
	// BGPPool is the BGP demo pool's range, in netlab.BGPVIPv4.
	Router  *hostInfo `json:"router,omitempty"`
	BGPPool string    `json:"bgpPool,omitempty"`
}

// hostInfo is one namespace of the lab.
type hostInfo struct {
	Name      string     `json:"name"`
	Namespace string     `json:"namespace"`
	IPv4      netip.Addr `json:"ipv4"`
	IPv6      netip.Addr `json:"ipv6"`
	MAC       string     `json:"mac"`
	// SpeakerPID is the node's running speaker, 0 while it is down.
	SpeakerPID int `json:"speakerPID,omitempty"`
}

// node returns the node called name.
func (r readyInfo) node(name string) (hostInfo, bool) {
	for _, n := range r.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return hostInfo{}, false
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("lab: encoding %s: %w", path, err)
	}
	// Write then rename, so a reader polling for the file never sees half of it.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("lab: decoding %s: %w", path, err)
	}
	return nil
}

func readReady(dir string) (readyInfo, error) {
	var info readyInfo
	err := readJSON(filepath.Join(dir, fileReady), &info)
	return info, err
}

// lockDir takes the state directory's lock for the life of this process. The
// lock, not the pid file, says whether a supervisor is alive: the kernel drops
// it when the process dies, however it dies, and a reused pid cannot hold it.
// The descriptor is close-on-exec, so the processes the supervisor starts do
// not keep the lock after it is gone.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, fileLock), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lab: %w in %s", ErrRunning, dir)
		}
		return nil, fmt.Errorf("lab: locking %s: %w", f.Name(), err)
	}
	return f, nil
}

// supervisorPID returns the pid in the pid file and whether a supervisor
// holds the lock.
func supervisorPID(dir string) (pid int, running bool, err error) {
	f, err := os.Open(filepath.Join(dir, fileLock))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("lab: %w", err)
	}
	defer f.Close()
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); {
	case err == nil:
		// Nobody holds it: the supervisor is gone. Closing f releases ours.
		return 0, false, nil
	case !errors.Is(err, syscall.EWOULDBLOCK):
		return 0, false, fmt.Errorf("lab: probing %s: %w", f.Name(), err)
	}
	b, err := os.ReadFile(filepath.Join(dir, filePID))
	if err != nil {
		// The supervisor locks before it writes its pid; it is just starting.
		return 0, true, nil
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, true, fmt.Errorf("lab: %s: %w", filepath.Join(dir, filePID), err)
	}
	return pid, true, nil
}

// alive reports whether pid is a live process. A zombie counts as dead: it
// has stopped, and its parent may not be around to reap it soon.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which may hold spaces and ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// findProcesses returns the live lab binaries whose command line names a
// path under dir, in the order of labBinaries.
func findProcesses(dir string) ([]Process, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("lab: listing processes: %w", err)
	}
	prefix := dir + string(filepath.Separator)
	var found []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// Processes come and go while we read; a vanished one is skipped.
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		name := filepath.Base(args[0])
		if !slices.Contains(labBinaries, name) || !alive(pid) {
			continue
		}
		// The built binaries live under dir/tmp, so args[0] counts too.
		if slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, prefix) }) {
			found = append(found, Process{PID: pid, Name: name, Node: nodeOf(args)})
		}
	}
	slices.SortStableFunc(found, func(a, b Process) int {
		if d := slices.Index(labBinaries, a.Name) - slices.Index(labBinaries, b.Name); d != 0 {
			return d
		}
		return strings.Compare(a.Node, b.Node)
	})
	return found, nil
}

// nodeOf returns the node a process runs for, from the flag that names it:
// the speaker's --node-name, kube-proxy's --hostname-override, podserver's
// --node; "" for the others.
func nodeOf(args []string) string {
	for i, a := range args[:len(args)-1] {
		switch a {
		case "--node-name", "--hostname-override", "--node":
			return args[i+1]
		}
	}
	return ""
}

// stopSupervisor sends SIGTERM to the supervisor and waits, up to timeout,
// until it has removed the state directory and exited.
func stopSupervisor(ctx context.Context, dir string, pid int, timeout time.Duration) error {
	if pid <= 0 {
		return fmt.Errorf("lab: the supervisor in %s has not written its pid yet", dir)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("lab: signalling supervisor %d: %w", pid, err)
	}
	err := netlab.Poll(ctx, 100*time.Millisecond, timeout, fmt.Sprintf("supervisor %d to stop and remove %s", pid, dir), func(context.Context) error {
		if alive(pid) {
			return errors.New("still running")
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s still there (%v)", dir, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// removeLeftovers kills the supervisor and the lab binaries that outlived
// it, removes the lab's namespaces, links and bridge, then the state
// directory.
func (l *Lab) removeLeftovers(ctx context.Context) error {
	dir := l.opts.Dir
	if err := checkLabDir(dir); err != nil {
		return err
	}
	var victims []Process
	if pid, running, err := supervisorPID(dir); err != nil {
		return err
	} else if running && pid > 0 {
		victims = append(victims, Process{PID: pid, Name: "supervisor"})
	}
	procs, err := findProcesses(dir)
	if err != nil {
		return err
	}
	// The supervisor first, so it starts nothing more; the rest in the order
	// of labBinaries. (The node processes also die with the supervisor: the
	// cluster starts them with a parent-death signal.)
	victims = append(victims, procs...)
	for _, p := range victims {
		if err := kill(ctx, l.opts.Out, p); err != nil {
			return err
		}
	}
	if err := removeNetwork(l.opts.Out, dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("lab: removing %s: %w", dir, err)
	}
	fmt.Fprintf(l.opts.Out, "Removed %s.\n", dir)
	return nil
}

// removeNetwork removes the namespaces, links and bridge of a lab whose
// supervisor is gone. The prefix is in ready.json once the cluster ran; a
// supervisor that died while starting the cluster wrote none, and then
// every lab whose owner has died is removed (netlab's locks tell those from
// labs in use), which is at worst the leftovers of other crashed runs.
func removeNetwork(out io.Writer, dir string) error {
	info, err := readReady(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if info.Prefix != "" {
		fmt.Fprintf(out, "  removing the namespaces and links of lab %s\n", info.Prefix)
	}
	if err := netlab.Cleanup(info.Prefix); err != nil {
		return fmt.Errorf("lab: removing the lab's network: %w", err)
	}
	return nil
}

// checkLabDir refuses to let the lab remove a directory it did not make, as
// a mistyped $PORTICO_LAB_DIR could name one: the directory must be empty or
// hold one of the files only the lab writes.
func checkLabDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	for _, name := range []string{fileSettings, fileLock, fileLabLog} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("lab: %s is not a lab state directory (no %s, %s or %s); not removing it. Set PORTICO_LAB_DIR to another directory",
		dir, fileSettings, fileLock, fileLabLog)
}

// kill stops a process that is not our child: SIGTERM, then SIGKILL if it
// is still there after 10 s.
func kill(ctx context.Context, out io.Writer, p Process) error {
	var err error
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if !alive(p.PID) {
			return nil
		}
		fmt.Fprintf(out, "  sending %v to %s[%d]\n", sig, p.Name, p.PID)
		_ = syscall.Kill(p.PID, sig) // ESRCH: it just exited, which is what we want
		err = netlab.Poll(ctx, 100*time.Millisecond, 10*time.Second, fmt.Sprintf("%s[%d] to exit", p.Name, p.PID), func(context.Context) error {
			if alive(p.PID) {
				return errors.New("still running")
			}
			return nil
		})
		if err == nil {
			return nil
		}
	}
	return err
}
