package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// proberOptions shape a prober.
type proberOptions struct {
	interval time.Duration // a new connection every interval
	connect  time.Duration // a connect not done by then failed
	read     time.Duration // the server's line not read by then (after connecting) failed
}

// prober opens a fresh TCP connection to one address every interval from a
// lab host, and records each as a probe: the client's view of the VIP.
//
// It is one event loop on one thread in the host's namespace (Host.Do):
// non-blocking sockets and ppoll, so an attempt that hangs for its whole
// timeout never delays the next one, and no socket is ever opened from a
// thread in another namespace.
type prober struct {
	o      proberOptions
	target netip.AddrPort
	via    func(line string) string // the entry node a server line names

	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex
	probes  []probe       // in completion order
	late    int           // ticks the loop started late by more than an interval
	maxLate time.Duration // the latest tick
}

// startProber starts probing target from h. via turns the server's line
// into the node the connection entered at.
func startProber(h *netlab.Host, target netip.AddrPort, o proberOptions, via func(string) string) *prober {
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{o: o, target: target, via: via, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- h.Do(func() error { return p.loop(ctx) }) }()
	return p
}

// stop ends the loop and returns its error, if it failed.
func (p *prober) stop() error {
	p.cancel()
	return <-p.done
}

// since returns a copy of the probes that started at t or later, or finished
// after it; analyse sorts them.
func (p *prober) since(t time.Time) []probe {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Completion order is start order give or take the timeout, so walk back
	// until a probe that finished long before t.
	i := len(p.probes)
	for i > 0 && p.probes[i-1].start.Add(p.probes[i-1].dur).After(t.Add(-time.Second)) {
		i--
	}
	return slices.Clone(p.probes[i:])
}

// lateTicks says how many ticks the loop started late (a starved prober),
// and the latest.
func (p *prober) lateTicks() (int, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.late, p.maxLate
}

// attempt is one connection in flight.
type attempt struct {
	fd        int
	start     time.Time
	connected time.Time // zero while connecting
	buf       []byte
}

func (p *prober) loop(ctx context.Context) error {
	sa, err := sockaddr(p.target)
	if err != nil {
		return err
	}
	var live []*attempt
	defer func() {
		for _, a := range live {
			unix.Close(a.fd)
		}
	}()
	next := time.Now()
	fds := make([]unix.PollFd, 0, 64)
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(next) {
			if late := now.Sub(next); late > p.o.interval {
				p.mu.Lock()
				p.late++
				p.maxLate = max(p.maxLate, late)
				p.mu.Unlock()
				next = now
			}
			if a, err := p.open(sa, now); err != nil {
				p.record(probe{start: now, dur: time.Since(now), err: err.Error()})
			} else {
				live = append(live, a)
			}
			next = next.Add(p.o.interval)
		}
		// Time out what is overdue; poll the rest until the next tick or
		// the next deadline.
		wake := next
		kept := live[:0]
		for _, a := range live {
			dl := p.deadline(a)
			if !now.Before(dl) {
				p.finish(a, now, "", errors.New(p.phase(a)+" timed out"))
				continue
			}
			if dl.Before(wake) {
				wake = dl
			}
			kept = append(kept, a)
		}
		live = kept
		fds = fds[:0]
		for _, a := range live {
			ev := int16(unix.POLLIN)
			if a.connected.IsZero() {
				ev = unix.POLLOUT
			}
			fds = append(fds, unix.PollFd{Fd: int32(a.fd), Events: ev})
		}
		ts := unix.NsecToTimespec(max(time.Until(wake), 0).Nanoseconds())
		if _, err := unix.Ppoll(fds, &ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("prober: ppoll: %w", err)
		}
		now = time.Now()
		kept = live[:0]
		for i, a := range live {
			if fds[i].Revents == 0 || !p.progress(a, now) {
				kept = append(kept, a)
			}
		}
		live = kept
	}
	return nil
}

// open starts a non-blocking connect.
func (p *prober) open(sa unix.Sockaddr, now time.Time) (*attempt, error) {
	fam := unix.AF_INET
	if p.target.Addr().Is6() {
		fam = unix.AF_INET6
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	a := &attempt{fd: fd, start: now}
	switch err := unix.Connect(fd, sa); {
	case err == nil:
		a.connected = time.Now()
	case errors.Is(err, unix.EINPROGRESS):
	default:
		unix.Close(fd)
		return nil, fmt.Errorf("connect: %w", err)
	}
	return a, nil
}

func (p *prober) deadline(a *attempt) time.Time {
	if a.connected.IsZero() {
		return a.start.Add(p.o.connect)
	}
	return a.connected.Add(p.o.read)
}

func (p *prober) phase(a *attempt) string {
	if a.connected.IsZero() {
		return "connect"
	}
	return "read"
}

// progress handles a ready socket and reports whether the attempt is over.
func (p *prober) progress(a *attempt, now time.Time) bool {
	if a.connected.IsZero() {
		errno, err := unix.GetsockoptInt(a.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && errno != 0 {
			err = unix.Errno(errno)
		}
		if err != nil {
			p.finish(a, now, "", fmt.Errorf("connect: %w", err))
			return true
		}
		a.connected = now
		return false
	}
	var b [256]byte
	n, err := unix.Read(a.fd, b[:])
	switch {
	case errors.Is(err, unix.EAGAIN):
		return false
	case err != nil:
		p.finish(a, now, "", fmt.Errorf("read: %w", err))
		return true
	}
	a.buf = append(a.buf, b[:n]...)
	if i := bytes.IndexByte(a.buf, '\n'); i >= 0 {
		p.finish(a, now, string(a.buf[:i]), nil)
		return true
	}
	if n == 0 || len(a.buf) > 1024 {
		p.finish(a, now, "", fmt.Errorf("read: no line (%q)", a.buf))
		return true
	}
	return false
}

// finish records the attempt and closes its socket; a connection that
// worked is reset rather than left in TIME_WAIT, so a long run does not
// pile up sockets and conntrack entries.
func (p *prober) finish(a *attempt, now time.Time, line string, err error) {
	pr := probe{start: a.start, dur: now.Sub(a.start)}
	if err != nil {
		pr.err = err.Error()
	} else {
		pr.ok, pr.via, pr.line = true, p.via(line), line
		unix.SetsockoptLinger(a.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	unix.Close(a.fd)
	p.record(pr)
}

func (p *prober) record(pr probe) {
	p.mu.Lock()
	p.probes = append(p.probes, pr)
	p.mu.Unlock()
}

func sockaddr(ap netip.AddrPort) (unix.Sockaddr, error) {
	a := ap.Addr()
	switch {
	case a.Is4():
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, nil
	case a.Is6() && !a.Is4In6():
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}, nil
	}
	return nil, fmt.Errorf("prober: bad target %s", ap)
}
