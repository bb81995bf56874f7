package bfd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// These tests use real UDP sockets on loopback, as any user: the Managers
// listen on free ports instead of 3784/4784, and loopback keeps the TTL
// of 255 the sessions send with. They run in real time, so every wait is
// bounded and the bounds are loose enough for a loaded CI machine.

// freePort returns a UDP port free on both 0.0.0.0 and [::] just now.
func freePort(t *testing.T) uint16 {
	t.Helper()
	for range 20 {
		c4, err := net.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			t.Fatal(err)
		}
		port := netip.MustParseAddrPort(c4.LocalAddr().String()).Port()
		c6, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.IPv6Unspecified(), port)))
		c4.Close()
		if err == nil {
			c6.Close()
			return port
		}
	}
	t.Fatal("no UDP port free on both families")
	return 0
}

// watcher records a session's transitions.
type watcher struct {
	mu      sync.Mutex
	changes []StateChange
	ch      chan StateChange
}

func newWatcher() *watcher { return &watcher{ch: make(chan StateChange, 64)} }

func (w *watcher) record(c StateChange) {
	w.mu.Lock()
	w.changes = append(w.changes, c)
	w.mu.Unlock()
	w.ch <- c
}

// await waits for a transition to want and returns it.
func (w *watcher) await(t *testing.T, want State, within time.Duration) StateChange {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case c := <-w.ch:
			if c.New == want {
				return c
			}
		case <-deadline:
			t.Fatalf("no transition to %v within %v", want, within)
		}
	}
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.changes)
}

// eventually polls cond every 5ms until it holds or within has passed.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(within); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", within, what)
		}
	}
}

type side struct {
	m      *Manager
	port   uint16
	mhPort uint16
	stop   context.CancelFunc
	ran    chan error
	events *watcher
}

func start(t *testing.T) *side {
	t.Helper()
	port, mh := freePort(t), freePort(t)
	s := &side{m: New(Config{Logger: testr.New(t), Port: port, MultihopPort: mh}), port: port, mhPort: mh, ran: make(chan error, 1), events: newWatcher()}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() { s.ran <- s.m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-s.ran; err != nil {
			t.Error(err)
		}
	})
	return s
}

// add starts a session to the other side, over multihop if asked (with
// the minimum TTL one hop would leave: loopback leaves 255).
func (s *side) add(t *testing.T, addr netip.Addr, other *side, multihop bool, timers Timers) {
	t.Helper()
	p := Peer{Addr: addr, Port: other.port, Timers: timers, OnStateChange: s.events.record}
	if multihop {
		p.Port, p.Multihop, p.MinTTL = other.mhPort, true, 254
	}
	if err := s.m.Add(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}

func (s *side) status(t *testing.T, addr netip.Addr) Status {
	t.Helper()
	st, ok := s.m.Status(addr)
	if !ok {
		t.Fatalf("no session to %v", addr)
	}
	return st
}

func TestLoopbackSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time loopback sessions take a few seconds")
	}
	for _, tc := range []struct {
		lo       netip.Addr
		multihop bool
	}{
		{netip.MustParseAddr("127.0.0.1"), false},
		{netip.IPv6Loopback(), false},
		{netip.MustParseAddr("127.0.0.1"), true},
		{netip.IPv6Loopback(), true},
	} {
		lo := tc.lo
		name := lo.String()
		if tc.multihop {
			name += " multihop"
		}
		t.Run(name, func(t *testing.T) {
			a, b := start(t), start(t)
			timers := Timers{DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 50 * time.Millisecond, DetectMult: 3}
			a.add(t, lo, b, tc.multihop, timers)
			b.add(t, lo, a, tc.multihop, timers)

			// Up through Down and Init, at the 1 s rate of §6.8.3.
			a.events.await(t, StateUp, 10*time.Second)
			b.events.await(t, StateUp, 10*time.Second)
			eventually(t, 5*time.Second, "poll sequences of going Up end and 150ms detection", func() bool {
				sa, sb := a.status(t, lo), b.status(t, lo)
				return !sa.Polling && !sb.Polling && sa.DetectionTime == 150*time.Millisecond && sb.TxInterval == 50*time.Millisecond
			})

			// Renegotiation: slower on a's side, by a Poll Sequence, without
			// leaving Up.
			changes := a.events.count() + b.events.count()
			slower := Timers{DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 80 * time.Millisecond, DetectMult: 4}
			if err := a.m.Update(lo, slower); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "new timers in force on both sides", func() bool {
				sa, sb := a.status(t, lo), b.status(t, lo)
				// b detects a after 4 × max(50ms, 100ms); a detects b after
				// 3 × max(80ms, 50ms); b sends no faster than a accepts.
				return !sa.Polling && sa.TxInterval == 100*time.Millisecond && sa.DetectionTime == 240*time.Millisecond &&
					sb.DetectionTime == 400*time.Millisecond && sb.TxInterval == 80*time.Millisecond
			})
			if n := a.events.count() + b.events.count(); n != changes {
				t.Fatalf("%d transitions during the renegotiation, want none", n-changes)
			}

			// b shuts its session: AdminDown, and a goes Down with Diag 3.
			if err := b.m.Remove(t.Context(), lo); err != nil {
				t.Fatal(err)
			}
			if c := a.events.await(t, StateDown, 2*time.Second); c.Diag != DiagNeighborDown {
				t.Fatalf("a went Down with %v, want %v", c.Diag, DiagNeighborDown)
			}
			if _, ok := b.m.Status(lo); ok {
				t.Fatal("b still has the session after Remove")
			}
			if err := b.m.Remove(t.Context(), lo); !errors.Is(err, ErrUnknownPeer) {
				t.Fatalf("second Remove: %v, want ErrUnknownPeer", err)
			}

			// b comes back with a new discriminator; then dies without a
			// word, and a notices within its detection time.
			b.add(t, lo, a, tc.multihop, timers)
			a.events.await(t, StateUp, 10*time.Second)
			b.events.await(t, StateUp, 10*time.Second)
			eventually(t, 5*time.Second, "a's detection time settles", func() bool {
				// a still runs the slower timers: 3 × max(80ms, 50ms).
				return a.status(t, lo).DetectionTime == 240*time.Millisecond && !b.status(t, lo).Polling
			})
			detect := a.status(t, lo).DetectionTime
			b.silence(t, lo)
			died := time.Now()
			c := a.events.await(t, StateDown, 5*time.Second)
			if c.Diag != DiagControlDetectionExpired {
				t.Fatalf("a went Down with %v, want %v", c.Diag, DiagControlDetectionExpired)
			}
			// The last packet came at most one (unjittered) interval before
			// b fell silent; allow scheduling slack beyond the deadline.
			if took := c.At.Sub(died); took < detect-50*time.Millisecond || took > detect+100*time.Millisecond {
				t.Fatalf("a went Down %v after b fell silent, want about the detection time %v", took, detect)
			}
		})
	}
}

// silence makes a session stop sending and receiving without AdminDown,
// as a dead node would: its sockets are closed under it.
func (s *side) silence(t *testing.T, addr netip.Addr) {
	t.Helper()
	s.m.mu.Lock()
	r := s.m.byPeer[addr]
	for _, l := range s.m.listeners {
		l.conn.Close()
	}
	s.m.mu.Unlock()
	r.tx.Close()
}

func TestReceivedTTL(t *testing.T) {
	// RFC 5881 §5: single hop needs 255; RFC 5883 §5: multihop a minimum.
	for _, tc := range []struct {
		name     string
		peer     netip.Addr
		multihop bool
		minTTL   uint8
		refused  int // sent first, must be refused
		accepted int // then sent, must be taken (the test's control)
	}{
		{"single hop IPv4, TTL 64", netip.MustParseAddr("127.0.0.1"), false, 0, 64, 255},
		{"single hop IPv4, TTL 254", netip.MustParseAddr("127.0.0.1"), false, 0, 254, 255},
		{"single hop IPv6, hop limit 64", netip.IPv6Loopback(), false, 0, 64, 255},
		{"multihop IPv4, below the minimum", netip.MustParseAddr("127.0.0.1"), true, 250, 249, 250},
		{"multihop IPv6, below the minimum", netip.IPv6Loopback(), true, 253, 64, 254},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t)
			// The session sends to a port nobody reads; we are its peer.
			if err := s.m.Add(t.Context(), Peer{Addr: tc.peer, Port: freePort(t), Multihop: tc.multihop, MinTTL: tc.minTTL, Timers: fast, OnStateChange: s.events.record}); err != nil {
				t.Fatal(err)
			}
			port := s.m.cfg.Port
			if tc.multihop {
				port = s.m.cfg.MultihopPort
			}
			send := sender(t, tc.peer, port)
			p := Packet{State: StateDown, DetectMult: 3, MyDiscr: 77, DesiredMinTx: time.Second, RequiredMinRx: time.Second}
			b, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			send(b, tc.refused)
			eventually(t, 2*time.Second, "the packet refused", func() bool { return s.status(t, tc.peer).Refused == 1 })
			if st := s.status(t, tc.peer); st.State != StateDown || st.Received != 0 {
				t.Fatalf("after TTL %d: %+v, want Down with nothing received", tc.refused, st)
			}
			send(b, tc.accepted)
			s.events.await(t, StateInit, 2*time.Second)
		})
	}
}

// sender returns a function sending b to dst:port with the given TTL
// (hop limit), which an unprivileged socket may lower.
func sender(t *testing.T, dst netip.Addr, port uint16) func(b []byte, ttl int) {
	t.Helper()
	network := "udp4"
	if dst.Is6() {
		network = "udp6"
	}
	c, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return func(b []byte, ttl int) {
		t.Helper()
		if dst.Is6() {
			err = ipv6.NewConn(c).SetHopLimit(ttl)
		} else {
			err = ipv4.NewConn(c).SetTTL(ttl)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}
