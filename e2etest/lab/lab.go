package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// DefaultDir is the state directory when neither Options.Dir nor
// $PORTICO_LAB_DIR is set.
const DefaultDir = "/tmp/portico-lab"

// ErrRunning is returned by Up when a lab is already running in the state directory.
var ErrRunning = errors.New("a Portico lab is already running")

// Options configures a Lab.
type Options struct {
	// Dir is the state directory. Default: $PORTICO_LAB_DIR, else DefaultDir.
	Dir string
	// Out receives what the lab tells its user. Default: os.Stdout.
	Out io.Writer
	// Supervisor is the command line of a process that calls Serve on a Lab
	// for the directory in $PORTICO_LAB_DIR, which Up sets. Default: this
	// executable with the argument "serve"; tests point it at their own binary.
	Supervisor []string
	// ReadyTimeout bounds how long Up waits for the supervisor to build the
	// binaries and start the cluster. Default: 5 min, for a cold build cache.
	ReadyTimeout time.Duration
	// DemoTimeout bounds how long Up waits for the demo's pods, and for the
	// controller and the speakers to serve the demo Services. Default: 60 s.
	DemoTimeout time.Duration
	// StopTimeout bounds how long Down waits for the supervisor to stop
	// everything before it kills what is left. Default: 60 s.
	StopTimeout time.Duration
}

// setOptionsDefaults fills the zero fields of o. The state directory is made
// absolute because Down and Status find the lab's processes by it.
func setOptionsDefaults(o Options) (Options, error) {
	if o.Dir == "" {
		o.Dir = os.Getenv("PORTICO_LAB_DIR")
	}
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("lab: state directory %q: %w", o.Dir, err)
	}
	o.Dir = dir
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if len(o.Supervisor) == 0 {
		self, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("lab: finding this executable to start the supervisor: %w", err)
		}
		o.Supervisor = []string{self, "serve"}
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 5 * time.Minute
	}
	if o.DemoTimeout == 0 {
		o.DemoTimeout = 60 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 60 * time.Second
	}
	return o, nil
}

// Lab is the test lab in one state directory.
type Lab struct {
	opts Options
}

// New returns the Lab for o's state directory. It starts nothing.
func New(o Options) (*Lab, error) {
	o, err := setOptionsDefaults(o)
	if err != nil {
		return nil, err
	}
	return &Lab{opts: o}, nil
}

// Dir is the lab's state directory.
func (l *Lab) Dir() string { return l.opts.Dir }

// Kubeconfig is the path of the kubeconfig for the lab's API server.
func (l *Lab) Kubeconfig() string { return filepath.Join(l.opts.Dir, fileKubeconfig) }

// Up starts the lab in the background, waits until it is ready, runs the
// demo and prints how to use and stop the lab. It returns an error wrapping
// ErrRunning when a lab is already running in the state directory.
//
// When the lab fails to start, or ctx ends before it is ready, Up stops
// everything it started. When the demo fails, the lab keeps running so it
// can be inspected; Down stops it.
func (l *Lab) Up(ctx context.Context) error {
	info, err := l.start(ctx)
	if err != nil {
		return err
	}
	if err := l.demo(ctx, info); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(l.opts.Out, "Interrupted; stopping the lab.")
			return errors.Join(err, l.Down(context.WithoutCancel(ctx)))
		}
		return fmt.Errorf("%w\nThe lab is still running so you can look around (export KUBECONFIG=%s); stop it with `make lab-down`",
			err, l.Kubeconfig())
	}
	return nil
}

// Down stops a running lab and waits, up to StopTimeout, until its state
// directory is gone. Past that it kills what is left. It also cleans up after
// a supervisor that died without cleaning up. It does nothing, successfully,
// when no lab is there.
func (l *Lab) Down(ctx context.Context) error {
	st, err := l.Status()
	if err != nil {
		return err
	}
	switch {
	case !st.Exists:
		fmt.Fprintf(l.opts.Out, "No Portico lab is running (no %s).\n", l.opts.Dir)
		return nil
	case !st.Running:
		if err := checkLabDir(l.opts.Dir); err != nil {
			return err
		}
		fmt.Fprintf(l.opts.Out, "No supervisor is running in %s; removing what it left behind.\n", l.opts.Dir)
		return l.removeLeftovers(ctx)
	}
	fmt.Fprintf(l.opts.Out, "Stopping the Portico lab (supervisor pid %d)...\n", st.PID)
	start := time.Now()
	if err := stopSupervisor(ctx, l.opts.Dir, st.PID, l.opts.StopTimeout); err != nil {
		fmt.Fprintf(l.opts.Out, "%v; killing what is left.\n", err)
		return l.removeLeftovers(ctx)
	}
	fmt.Fprintf(l.opts.Out, "Stopped in %.1fs; %s is gone.\n", time.Since(start).Seconds(), l.opts.Dir)
	return nil
}

// State is what Status found in the state directory.
type State struct {
	// Dir is the state directory; Exists reports whether it is there.
	Dir    string
	Exists bool
	// Running is true while a supervisor holds the lab's lock; PID is its process.
	Running bool
	PID     int
	// Ready is true once the supervisor has started everything.
	Ready bool
	// Kubeconfig is the kubeconfig for the lab's API server; Kubectl is the
	// kubectl built with it; Prefix starts the name of every namespace and
	// link of the lab. They are set once the lab is ready.
	Kubeconfig, Kubectl, Prefix string
	// Processes are the supervisor and the processes it started that are
	// still alive, or those a dead supervisor left behind.
	Processes []Process

	info readyInfo // for String
}

// Process is one process of the lab.
type Process struct {
	PID  int
	Name string
	// Node is the node a speaker, kube-proxy or pod serves; "" for the others.
	Node string
}

// Status reports whether the lab is running and where to reach it.
func (l *Lab) Status() (State, error) {
	dir := l.opts.Dir
	st := State{Dir: dir}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return st, nil
	} else if err != nil {
		return st, fmt.Errorf("lab: %w", err)
	}
	st.Exists = true
	pid, running, err := supervisorPID(dir)
	if err != nil {
		return st, err
	}
	st.Running, st.PID = running, pid
	if info, err := readReady(dir); err == nil {
		st.Ready, st.Kubeconfig, st.Kubectl, st.Prefix, st.info = true, info.Kubeconfig, info.Kubectl, info.Prefix, info
	} else if !errors.Is(err, os.ErrNotExist) {
		return st, err
	}
	if running {
		st.Processes = append(st.Processes, Process{PID: pid, Name: "supervisor"})
	}
	procs, err := findProcesses(dir)
	if err != nil {
		return st, err
	}
	st.Processes = append(st.Processes, procs...)
	return st, nil
}

// String describes the state for a person.
func (s State) String() string {
	switch {
	case !s.Exists:
		return fmt.Sprintf("No Portico lab is running (no %s).", s.Dir)
	case !s.Running:
		return fmt.Sprintf("No Portico lab is running, but %s is left over from one (%d processes); `make lab-down` removes it.",
			s.Dir, len(s.Processes))
	case !s.Ready:
		return fmt.Sprintf("The Portico lab is starting (supervisor pid %d, log %s).", s.PID, filepath.Join(s.Dir, fileLabLog))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The Portico lab %s is up (supervisor pid %d, state in %s).\n  export KUBECONFIG=%s\n  alias kubectl=%s\n",
		s.Prefix, s.PID, s.Dir, s.Kubeconfig, s.Kubectl)
	b.WriteString(hostTable(s.info))
	b.WriteString("  processes:")
	for _, p := range s.Processes {
		fmt.Fprintf(&b, " %s[%d]", p.Name, p.PID)
		if p.Node != "" {
			fmt.Fprintf(&b, "@%s", p.Node)
		}
	}
	b.WriteString("\n  stop it with `make lab-down`")
	return b.String()
}

// hostTable lists the lab's namespaces with their addresses and, for the
// nodes, the speaker's pid.
func hostTable(info readyInfo) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  HOST\tNAMESPACE\tIPV4\tIPV6\tMAC\tSPEAKER PID")
	for _, h := range append(slices.Clone(info.Nodes), info.Client) {
		pid := "-"
		if h.SpeakerPID > 0 {
			pid = strconv.Itoa(h.SpeakerPID)
		} else if h.Name != info.Client.Name {
			pid = "down"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.Namespace, h.IPv4, h.IPv6, h.MAC, pid)
	}
	w.Flush()
	return b.String()
}
