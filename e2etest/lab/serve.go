package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/frr"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// demoPoolSize is how many addresses of each family the demo pools hold:
// host IDs PoolFirst … PoolFirst+20 (.200–.220, ::200–::220).
const demoPoolSize = 21

// Serve is the supervisor: it starts the cluster (network namespaces, API
// server, controller, a speaker and kube-proxy per node) for the lab Up
// prepared in the state directory, serves the control channel, marks the
// lab ready, and when ctx ends stops it all and removes the state
// directory. It returns only then, or when starting fails; in that case the
// cluster has removed what it started and Serve keeps the logs for the user
// to read, unless ctx ended (someone asked the lab to stop), in which case
// it removes everything.
//
// Serve holds the lab's lock for its whole life; a second Serve on the same
// directory fails with ErrRunning. Of its Options, Serve uses Dir and Out;
// what to start it reads from the state directory, where Up wrote it, so
// the supervisor needs no flags. Nothing restarts a process that dies: a
// speaker killed to watch a takeover stays down until the control channel
// starts it again (`lab start-speaker`).
func (l *Lab) Serve(ctx context.Context) error {
	dir := l.opts.Dir
	var set settings
	if err := readJSON(filepath.Join(dir, fileSettings), &set); err != nil {
		return fmt.Errorf("lab: reading what to start (`lab up` writes it): %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := os.WriteFile(filepath.Join(dir, filePID), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("lab: writing the pid file: %w", err)
	}
	// The cluster builds its binaries from the module of the working directory.
	if err := os.Chdir(set.ModuleRoot); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	s := &supervisor{dir: dir, out: l.opts.Out, started: time.Now(), pods: map[string]*cluster.Pod{}}
	if err := s.start(ctx); err != nil {
		if ctx.Err() != nil {
			return errors.Join(err, os.RemoveAll(dir))
		}
		return errors.Join(err, removeAllButLogs(dir))
	}
	s.logf("the lab is ready; waiting for SIGTERM or SIGINT")
	s.watchSpeakers(ctx)
	s.logf("stopping (%v)", context.Cause(ctx))
	start := time.Now()
	err = s.stop()
	s.logf("stopped in %.1fs", time.Since(start).Seconds())
	if rmErr := os.RemoveAll(dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("lab: removing %s: %w", dir, rmErr))
	}
	return err
}

// supervisor is one run of Serve.
type supervisor struct {
	dir     string
	out     io.Writer
	started time.Time
	c       *cluster.Cluster
	router  *frr.Router  // nil without FRR
	closeCh func() error // stops the control channel

	mu   sync.Mutex // guards pods and serializes writes of ready.json
	pods map[string]*cluster.Pod
}

// logf writes a progress line; Up echoes these while it waits.
func (s *supervisor) logf(format string, args ...any) {
	fmt.Fprintf(s.out, "[%5.1fs] %s\n", time.Since(s.started).Seconds(), fmt.Sprintf(format, args...))
}

// start starts the cluster and the control channel and writes ready.json
// last. On error it leaves nothing running.
func (s *supervisor) start(ctx context.Context) error {
	s.logf("building portico-controller, portico-speaker and podserver; creating the network namespaces")
	stopProgress := s.progress()
	c, err := cluster.Start(ctx, cluster.Options{Nodes: 3, Dir: s.dir})
	stopProgress()
	if err != nil {
		return fmt.Errorf("lab: starting the cluster: %w", err)
	}
	s.c = c
	l := c.Lab
	s.logf("lab %s is up: LAN %s and %s on bridge %s, API server %s", l.Prefix, l.LANv4, l.LANv6, l.Bridge, c.APIServer)
	err = s.startRouter(ctx)
	if err == nil {
		s.closeCh, err = s.serveControl(filepath.Join(s.dir, fileControl))
	}
	if err == nil {
		err = s.publish()
	}
	if err != nil {
		return errors.Join(err, s.stop())
	}
	return nil
}

// stop stops the control channel and the cluster.
func (s *supervisor) stop() error {
	var errs []error
	if s.closeCh != nil {
		errs = append(errs, s.closeCh())
	}
	if s.router != nil {
		s.router.Stop()
	}
	if s.c != nil {
		errs = append(errs, s.c.Stop())
	}
	return errors.Join(errs...)
}

// progress reports the stages of cluster.Start, which says nothing until it
// returns, by the files it writes into the state directory; it runs until
// the returned function is called.
func (s *supervisor) progress() (stop func()) {
	stages := []struct{ file, msg string }{
		{fileKubeconfig, "kube-apiserver and etcd are up on the bridge; creating the Nodes"},
		{fileCtrlLog, "portico-controller is starting"},
		{"speaker-node-1.log", "kube-proxy and portico-speaker are starting on every node; waiting until kube-proxy is healthy and the speakers agree on their members"},
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for len(stages) > 0 {
			if _, err := os.Stat(filepath.Join(s.dir, stages[0].file)); err == nil {
				s.logf("%s", stages[0].msg)
				stages = stages[1:]
				continue
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-exited }
}

// info describes the running lab as ready.json does.
func (s *supervisor) info() readyInfo {
	c, l := s.c, s.c.Lab
	host := func(h *netlab.Host) hostInfo {
		return hostInfo{Name: h.Name, Namespace: h.Namespace, IPv4: h.IPv4, IPv6: h.IPv6, MAC: h.MAC.String()}
	}
	first4, first6 := l.Addr(netlab.PoolFirst)
	last4, last6 := l.Addr(netlab.PoolFirst + demoPoolSize - 1)
	info := readyInfo{
		Kubeconfig: c.Kubeconfig, Kubectl: c.KubectlPath, APIServer: c.APIServer.String(),
		Prefix: l.Prefix, Bridge: l.Bridge, LANv4: l.LANv4, LANv6: l.LANv6,
		PoolV4: first4.String() + "-" + last4.String(), PoolV6: first6.String() + "-" + last6.String(),
		Control: filepath.Join(s.dir, fileControl), Client: host(l.Client),
	}
	if s.router != nil {
		r := host(s.router.Host)
		info.Router = &r
		info.BGPPool = bgpPoolRange()
	}
	for _, h := range l.Nodes {
		n := host(h)
		if p := c.Speaker(h.Name); p != nil && !p.Exited() {
			n.SpeakerPID = p.Pid
		}
		info.Nodes = append(info.Nodes, n)
	}
	return info
}

// publish writes ready.json with the current speaker PIDs.
func (s *supervisor) publish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return writeJSON(filepath.Join(s.dir, fileReady), s.info())
}

// watchSpeakers keeps ready.json's speaker PIDs current, logging each
// change, until ctx ends. It polls, because a speaker may die by a signal
// nobody told the supervisor about (kill -9 from a shell).
func (s *supervisor) watchSpeakers(ctx context.Context) {
	pids := func() map[string]int {
		m := map[string]int{}
		for _, n := range s.info().Nodes {
			m[n.Name] = n.SpeakerPID
		}
		return m
	}
	last := pids()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cur := pids()
		changed := false
		for _, h := range s.c.Lab.Nodes {
			old, now := last[h.Name], cur[h.Name]
			switch {
			case old == now:
				continue
			case now == 0:
				s.logf("the speaker on %s (pid %d) has exited: %v", h.Name, old, s.c.Speaker(h.Name).Wait())
			default:
				s.logf("the speaker on %s runs (pid %d)", h.Name, now)
			}
			changed = true
		}
		if changed {
			if err := s.publish(); err != nil {
				s.logf("%v", err)
			}
		}
		last = cur
	}
}

// removeAllButLogs empties the state directory except for the *.log files,
// which say why the lab did not start.
func removeAllButLogs(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".log" {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}
