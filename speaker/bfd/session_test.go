package bfd

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The state machine is pure: every test drives it with times it makes up,
// starting at t0, so the timings are exact.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	localDiscr = 0x1111
	peerDiscr  = 0x2222
)

var fast = Timers{DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 50 * time.Millisecond, DetectMult: 3}

func testRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// from builds a packet from the peer in state st, which knows our
// discriminator unless st is Down or AdminDown (as a peer that has not
// heard from us would send).
func from(st State, timers Timers) *Packet {
	p := &Packet{
		State:         st,
		DetectMult:    timers.DetectMult,
		MyDiscr:       peerDiscr,
		YourDiscr:     localDiscr,
		DesiredMinTx:  timers.DesiredMinTx,
		RequiredMinRx: timers.RequiredMinRx,
	}
	return p
}

// up returns a session brought Up at t0 by a peer using timers, with the
// Poll Sequence that going Up starts already answered.
func up(t *testing.T, local, remote Timers) *session {
	t.Helper()
	s := newSession(localDiscr, local, false, testRand(), t0)
	s.receive(from(StateDown, remote), t0)
	s.receive(from(StateUp, remote), t0)
	if s.state != StateUp {
		t.Fatalf("state %v after Down, Up from the peer; want Up", s.state)
	}
	p := from(StateUp, remote)
	p.Final = true
	s.receive(p, t0)
	if s.polling {
		t.Fatal("still polling after the Final")
	}
	s.takeChanges()
	return s
}

func TestReceiveTransitions(t *testing.T) {
	// RFC 5880 §6.8.6, the state table at the end of the reception
	// procedure: start in local, receive a packet in remote.
	for _, tc := range []struct {
		name          string
		local, remote State
		want          State
		diag          Diagnostic
	}{
		{"down, peer down: init", StateDown, StateDown, StateInit, DiagNone},
		{"down, peer init: up", StateDown, StateInit, StateUp, DiagNone},
		{"down, peer up: stays down", StateDown, StateUp, StateDown, DiagNone},
		{"down, peer admin down: stays down", StateDown, StateAdminDown, StateDown, DiagNone},
		{"init, peer down: stays init", StateInit, StateDown, StateInit, DiagNone},
		{"init, peer init: up", StateInit, StateInit, StateUp, DiagNone},
		{"init, peer up: up", StateInit, StateUp, StateUp, DiagNone},
		{"init, peer admin down: down, neighbor signaled", StateInit, StateAdminDown, StateDown, DiagNeighborDown},
		{"up, peer down: down, neighbor signaled", StateUp, StateDown, StateDown, DiagNeighborDown},
		{"up, peer admin down: down, neighbor signaled", StateUp, StateAdminDown, StateDown, DiagNeighborDown},
		{"up, peer init: stays up", StateUp, StateInit, StateUp, DiagNone},
		{"up, peer up: stays up", StateUp, StateUp, StateUp, DiagNone},
		{"admin down, peer down: discarded", StateAdminDown, StateDown, StateAdminDown, DiagAdminDown},
		{"admin down, peer up: discarded", StateAdminDown, StateUp, StateAdminDown, DiagAdminDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(localDiscr, fast, false, testRand(), t0)
			switch tc.local {
			case StateInit:
				s.receive(from(StateDown, fast), t0)
			case StateUp:
				s = up(t, fast, fast)
			case StateAdminDown:
				s.adminDown(t0)
			}
			if s.state != tc.local {
				t.Fatalf("setup: state %v, want %v", s.state, tc.local)
			}
			s.takeChanges()
			now := t0.Add(time.Millisecond)
			s.receive(from(tc.remote, fast), now)
			if s.state != tc.want || s.localDiag != tc.diag {
				t.Fatalf("state %v diag %v, want %v diag %v", s.state, s.localDiag, tc.want, tc.diag)
			}
			var want []StateChange
			if tc.want != tc.local {
				want = []StateChange{{Old: tc.local, New: tc.want, Diag: tc.diag, At: now}}
			}
			if diff := cmp.Diff(want, s.takeChanges()); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			// §6.8.6 records the peer's variables even when the packet is
			// then discarded (AdminDown).
			if s.remoteDiscr != peerDiscr || s.remoteState != tc.remote {
				t.Errorf("remote discr %#x state %v, want %#x %v", s.remoteDiscr, s.remoteState, peerDiscr, tc.remote)
			}
		})
	}
}

func TestDetectionTimeout(t *testing.T) {
	// §6.8.4: remote DetectMult × max(RequiredMinRx, remote DesiredMinTx).
	for _, tc := range []struct {
		name          string
		local, remote Timers
		want          time.Duration
	}{
		{"peer sends slower than we need", fast, Timers{DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 10 * time.Millisecond, DetectMult: 5}, 500 * time.Millisecond},
		{"we accept slower than the peer sends", Timers{DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 200 * time.Millisecond, DetectMult: 3}, Timers{DesiredMinTx: 10 * time.Millisecond, RequiredMinRx: 10 * time.Millisecond, DetectMult: 2}, 400 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := up(t, tc.local, tc.remote)
			if got := s.detectionTime(); got != tc.want {
				t.Fatalf("detection time %v, want %v", got, tc.want)
			}
			last := t0.Add(time.Second)
			s.receive(from(StateUp, tc.remote), last)
			var p Packet
			s.tick(last.Add(tc.want-time.Nanosecond), &p)
			if s.state != StateUp {
				t.Fatalf("down %v before the detection time", time.Nanosecond)
			}
			expiry := last.Add(tc.want)
			s.tick(expiry, &p)
			want := []StateChange{{Old: StateUp, New: StateDown, Diag: DiagControlDetectionExpired, At: expiry}}
			if diff := cmp.Diff(want, s.takeChanges()); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			// §6.8.1: the peer's discriminator is forgotten, and the packet
			// we send says why we went down.
			if s.remoteDiscr != 0 {
				t.Errorf("remote discriminator %#x kept after the timeout", s.remoteDiscr)
			}
			if s.tick(s.deadline(), &p); p.Diag != DiagControlDetectionExpired || p.State != StateDown || p.YourDiscr != 0 {
				t.Errorf("after the timeout sent %+v", p)
			}
		})
	}
}

func TestDetectionTimeoutInit(t *testing.T) {
	s := newSession(localDiscr, fast, false, testRand(), t0)
	s.receive(from(StateDown, fast), t0)
	var p Packet
	s.tick(t0.Add(150*time.Millisecond), &p)
	if s.state != StateDown || s.localDiag != DiagControlDetectionExpired {
		t.Fatalf("state %v diag %v after a detection time in Init, want Down, %v", s.state, s.localDiag, DiagControlDetectionExpired)
	}
}

func TestSlowWhileNotUp(t *testing.T) {
	// §6.8.3: at least 1 s advertised and used until Up, the configured
	// value once Up.
	s := newSession(localDiscr, fast, false, testRand(), t0)
	var p Packet
	if !s.tick(t0, &p) {
		t.Fatal("no first packet")
	}
	if p.DesiredMinTx != time.Second || p.RequiredMinRx != fast.RequiredMinRx || p.State != StateDown {
		t.Fatalf("first packet %+v, want Down with desired TX 1s", p)
	}
	if d := s.deadline().Sub(t0); d < 750*time.Millisecond || d > time.Second {
		t.Fatalf("next packet after %v, want 750ms–1s", d)
	}
	s.receive(from(StateInit, fast), t0.Add(10*time.Millisecond))
	if s.state != StateUp {
		t.Fatalf("state %v, want Up", s.state)
	}
	// Faster now: the pending slow transmission is brought forward.
	if d := s.deadline().Sub(t0.Add(10 * time.Millisecond)); d > fast.DesiredMinTx {
		t.Fatalf("next packet after %v once Up, want at most %v", d, fast.DesiredMinTx)
	}
	s.tick(s.deadline(), &p)
	if p.DesiredMinTx != fast.DesiredMinTx || !p.Poll {
		t.Fatalf("first packet once Up %+v, want desired TX %v with Poll (§6.8.3)", p, fast.DesiredMinTx)
	}
}

func TestPollSequence(t *testing.T) {
	t.Run("slower transmission waits for the final", func(t *testing.T) {
		s := up(t, fast, fast)
		slower := fast
		slower.DesiredMinTx = 200 * time.Millisecond
		s.setTimers(slower, t0)
		var p Packet
		for i := range 3 {
			at := s.nextTx
			s.receive(from(StateUp, fast), at) // the peer keeps the session up
			if !s.tick(at, &p) || !p.Poll || p.Final || p.DesiredMinTx != slower.DesiredMinTx {
				t.Fatalf("packet %d of the poll: %+v, want Poll with desired TX %v", i, p, slower.DesiredMinTx)
			}
			if gap := s.nextTx.Sub(at); gap > fast.DesiredMinTx {
				t.Fatalf("interval %v before the Final, want the old %v at most", gap, fast.DesiredMinTx)
			}
		}
		f := from(StateUp, fast)
		f.Final = true
		now := s.nextTx
		s.receive(f, now)
		if !s.tick(now, &p) || p.Poll {
			t.Fatalf("packet after the Final %+v, want one without Poll", p)
		}
		if gap := s.nextTx.Sub(now); gap < 150*time.Millisecond || gap > 200*time.Millisecond {
			t.Fatalf("interval %v after the Final, want 150–200ms", gap)
		}
		if s.state != StateUp || len(s.takeChanges()) != 0 {
			t.Fatal("the session left Up")
		}
	})
	t.Run("faster reception waits for the final", func(t *testing.T) {
		s := up(t, fast, Timers{DesiredMinTx: 10 * time.Millisecond, RequiredMinRx: 10 * time.Millisecond, DetectMult: 3})
		peer := Timers{DesiredMinTx: 10 * time.Millisecond, RequiredMinRx: 10 * time.Millisecond, DetectMult: 3}
		if got := s.detectionTime(); got != 150*time.Millisecond {
			t.Fatalf("detection time %v, want 150ms", got)
		}
		faster := fast
		faster.RequiredMinRx = 20 * time.Millisecond
		s.setTimers(faster, t0)
		s.receive(from(StateUp, peer), t0)
		if got := s.detectionTime(); got != 150*time.Millisecond {
			t.Fatalf("detection time %v before the Final, want the old 150ms", got)
		}
		f := from(StateUp, peer)
		f.Final = true
		s.receive(f, t0.Add(time.Millisecond))
		if got := s.detectionTime(); got != 60*time.Millisecond {
			t.Fatalf("detection time %v after the Final, want 60ms", got)
		}
	})
	t.Run("faster transmission and slower reception apply at once", func(t *testing.T) {
		s := up(t, fast, fast)
		s.setTimers(Timers{DesiredMinTx: 20 * time.Millisecond, RequiredMinRx: 100 * time.Millisecond, DetectMult: 3}, t0)
		if s.txInForce != 20*time.Millisecond || s.detectionTime() != 300*time.Millisecond {
			t.Fatalf("tx %v detection %v, want 20ms and 300ms at once", s.txInForce, s.detectionTime())
		}
		if !s.polling {
			t.Fatal("no Poll Sequence for the change")
		}
	})
	t.Run("a change during a poll is polled again", func(t *testing.T) {
		s := up(t, fast, fast)
		a, b := fast, fast
		a.DesiredMinTx = 100 * time.Millisecond
		b.DesiredMinTx = 300 * time.Millisecond
		s.setTimers(a, t0)
		s.setTimers(b, t0)
		f := from(StateUp, fast)
		f.Final = true
		s.receive(f, t0)
		if s.txInForce != a.DesiredMinTx || !s.polling || s.pollTx != b.DesiredMinTx {
			t.Fatalf("after the first Final: tx %v polling %v for %v; want %v, polling for %v", s.txInForce, s.polling, s.pollTx, a.DesiredMinTx, b.DesiredMinTx)
		}
		s.receive(f, t0)
		if s.txInForce != b.DesiredMinTx || s.polling {
			t.Fatalf("after the second Final: tx %v polling %v; want %v, done", s.txInForce, s.polling, b.DesiredMinTx)
		}
	})
	t.Run("a poll is answered at once with final only", func(t *testing.T) {
		s := up(t, Timers{DesiredMinTx: time.Second, RequiredMinRx: time.Second, DetectMult: 3}, fast)
		var p Packet
		s.tick(s.nextTx, &p)
		now := t0.Add(10 * time.Millisecond)
		poll := from(StateUp, fast)
		poll.Poll = true
		s.receive(poll, now)
		// Our own poll (going Up) is under way too: Final must not carry it.
		s.polling = true
		if !s.tick(now, &p) || !p.Final || p.Poll {
			t.Fatalf("answer to a Poll %+v, want Final without Poll, at once", p)
		}
		if s.tick(now, &p) {
			t.Fatal("a second packet for one Poll")
		}
	})
}

func TestJitter(t *testing.T) {
	// §6.8.7: 75–100% of the interval, at most 90% when DetectMult is 1.
	// The draws must also spread over the range, not sit at one end.
	rng := rand.New(rand.NewPCG(7, 7))
	for _, tc := range []struct {
		mult   uint8
		lo, hi float64
	}{{3, 0.75, 1.0}, {1, 0.75, 0.90}, {255, 0.75, 1.0}} {
		for _, d := range []time.Duration{time.Microsecond, 3 * time.Millisecond, 50 * time.Millisecond, time.Second, 4294967295 * time.Microsecond} {
			least, most := 2.0, 0.0
			for range 20000 {
				j := jitter(d, tc.mult, rng)
				r := float64(j) / float64(d)
				if j <= 0 || r < tc.lo-1e-9 || r > tc.hi+1e-9 {
					t.Fatalf("mult %d: jitter(%v) = %v (%.4f), outside %.2f–%.2f", tc.mult, d, j, r, tc.lo, tc.hi)
				}
				least, most = min(least, r), max(most, r)
			}
			if d >= time.Millisecond && (least > tc.lo+0.01 || most < tc.hi-0.01) {
				t.Errorf("mult %d, %v: draws span %.4f–%.4f, want about %.2f–%.2f", tc.mult, d, least, most, tc.lo, tc.hi)
			}
		}
	}
}

func TestPassive(t *testing.T) {
	s := newSession(localDiscr, fast, true, testRand(), t0)
	var p Packet
	if s.tick(t0, &p) || !s.deadline().IsZero() {
		t.Fatal("a passive session transmits before hearing its peer (§6.1)")
	}
	now := t0.Add(5 * time.Second)
	s.receive(from(StateDown, fast), now)
	if !s.tick(now, &p) || p.State != StateInit || p.YourDiscr != peerDiscr {
		t.Fatalf("passive answer %+v, want Init to the peer at once", p)
	}
	// The peer goes quiet: after a detection time (3 × 1s, we are not Up)
	// the discriminator is forgotten and the session is silent again.
	s.tick(now.Add(3*time.Second), &p)
	if s.state != StateDown || s.remoteDiscr != 0 {
		t.Fatalf("state %v remote discr %#x after the timeout", s.state, s.remoteDiscr)
	}
	if s.tick(now.Add(time.Hour), &p) {
		t.Fatal("passive session transmits after its peer went away")
	}
}

func TestNoTransmitWhenPeerRequiresNone(t *testing.T) {
	s := newSession(localDiscr, fast, false, testRand(), t0)
	quiet := fast
	quiet.RequiredMinRx = 0
	s.receive(from(StateDown, quiet), t0)
	var p Packet
	if s.tick(t0.Add(time.Hour), &p) {
		t.Fatalf("sent %+v to a peer with required min RX 0 (§6.8.7)", p)
	}
}

func TestAdminDown(t *testing.T) {
	s := up(t, fast, fast)
	now := t0.Add(time.Second)
	s.adminDown(now)
	var p Packet
	if !s.tick(now, &p) || p.State != StateAdminDown || p.Diag != DiagAdminDown {
		t.Fatalf("sent %+v, want AdminDown with %v at once", p, DiagAdminDown)
	}
	if p.DesiredMinTx != time.Second {
		t.Errorf("desired TX %v in AdminDown, want 1s (§6.8.3)", p.DesiredMinTx)
	}
	// No detection time runs in AdminDown.
	s.tick(now.Add(time.Hour), &p)
	if s.state != StateAdminDown {
		t.Fatalf("state %v, want AdminDown", s.state)
	}
	want := []StateChange{{Old: StateUp, New: StateAdminDown, Diag: DiagAdminDown, At: now}}
	if diff := cmp.Diff(want, s.takeChanges()); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func TestUpIgnoresUnknownDiscriminator(t *testing.T) {
	// Our hardening of §6.8.6: once Up, a packet that does not name our
	// discriminator is not from the peer, whatever its source address.
	s := up(t, fast, fast)
	forged := from(StateAdminDown, fast)
	forged.YourDiscr, forged.MyDiscr = 0, 0x9999
	if s.receive(forged, t0.Add(time.Millisecond)) {
		t.Fatal("an Up session took a packet with Your Discriminator 0")
	}
	if s.state != StateUp || s.remoteDiscr != peerDiscr {
		t.Fatalf("state %v remote discr %#x, want Up with %#x", s.state, s.remoteDiscr, peerDiscr)
	}
	// The same packet naming us is the peer's, and is obeyed.
	forged.YourDiscr, forged.MyDiscr = localDiscr, peerDiscr
	if !s.receive(forged, t0.Add(2*time.Millisecond)) || s.state != StateDown {
		t.Fatalf("state %v after the peer's AdminDown, want Down", s.state)
	}
}
