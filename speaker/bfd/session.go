package bfd

import (
	"math/rand/v2"
	"time"
)

// slowTx is the floor of bfd.DesiredMinTxInterval while the session is
// not Up (RFC 5880 §6.8.3): a session coming up, or down, does not flood.
const slowTx = time.Second

// Timers are the intervals a session asks for (RFC 5880 §6.8.1).
type Timers struct {
	// DesiredMinTx is how often this system would like to send
	// (bfd.DesiredMinTxInterval). While the session is not Up, at least
	// one second is advertised and used instead (§6.8.3).
	DesiredMinTx time.Duration
	// RequiredMinRx is the fastest this system accepts packets
	// (bfd.RequiredMinRxInterval).
	RequiredMinRx time.Duration
	// DetectMult is how many of our packets the peer may miss before it
	// declares the session down (bfd.DetectMult).
	DetectMult uint8
}

// StateChange reports one transition of a session's state.
type StateChange struct {
	Old, New State
	// Diag is bfd.LocalDiag after the transition: why the session went
	// down, DiagNone when it came up.
	Diag Diagnostic
	At   time.Time
}

// session is the RFC 5880 state machine of one BFD session in
// asynchronous mode, without Demand mode (bfd.DemandMode is always off),
// Echo or authentication (bfd.AuthType is none). It does no I/O and reads
// no clock: every event carries its time, so tests drive it with a fake
// one. It is not safe for concurrent use; one goroutine owns it.
type session struct {
	passive bool // §6.1: send nothing until the peer has been heard
	rng     *rand.Rand

	// State variables of §6.8.1.
	state              State
	remoteState        State
	localDiscr         uint32
	remoteDiscr        uint32
	localDiag          Diagnostic
	config             Timers        // what the user asked for
	remoteMinRx        time.Duration // bfd.RemoteMinRxInterval
	remoteDemand       bool          // bfd.RemoteDemandMode
	remoteDetectMult   uint8         // from the last packet, for the Detection Time (§6.8.4)
	remoteDesiredMinTx time.Duration // likewise

	// What is in force, which lags what is advertised while a Poll
	// Sequence confirms the change (§6.8.3).
	txInForce time.Duration // the DesiredMinTx our transmissions follow
	rxInForce time.Duration // the RequiredMinRx our Detection Time uses

	// The Poll Sequence (§6.5): the values it carries, so a Final
	// confirms only what the peer had been asked.
	polling        bool
	pollTx, pollRx time.Duration
	owesFinal      bool // a Poll was received: answer with Final at once (§6.8.7)

	nextTx   time.Time // zero: no periodic transmission scheduled
	detectAt time.Time // zero: no Detection Time running

	changes []StateChange // transitions not yet handed to the consumer
}

func newSession(localDiscr uint32, t Timers, passive bool, rng *rand.Rand, now time.Time) *session {
	s := &session{
		passive:     passive,
		rng:         rng,
		state:       StateDown,
		remoteState: StateDown,
		localDiscr:  localDiscr,
		config:      t,
		// §6.8.1: initialised to 1 µs, so a system that has not heard its
		// peer yet transmits (at the slow rate, the larger of the two).
		remoteMinRx: time.Microsecond,
	}
	s.txInForce, s.rxInForce = s.advertisedTx(), t.RequiredMinRx
	if !passive {
		// The first packet goes out at once: nothing has been sent, so no
		// interval can be broken.
		s.nextTx = now
	}
	return s
}

// advertisedTx is bfd.DesiredMinTxInterval as sent: the configured value,
// but at least one second unless Up (§6.8.3).
func (s *session) advertisedTx() time.Duration {
	if s.state != StateUp {
		return max(s.config.DesiredMinTx, slowTx)
	}
	return s.config.DesiredMinTx
}

// detectionTime is the Detection Time in asynchronous mode (§6.8.4): the
// peer's DetectMult times the agreed interval at which it sends to us. It
// is zero until the peer has been heard.
func (s *session) detectionTime() time.Duration {
	return time.Duration(s.remoteDetectMult) * max(s.rxInForce, s.remoteDesiredMinTx)
}

// txInterval is the interval between periodic transmissions before
// jitter (§6.8.7): the slower of what we want and what the peer accepts.
func (s *session) txInterval() time.Duration {
	return max(s.txInForce, s.remoteMinRx)
}

// periodic reports whether periodic transmission is allowed (§6.8.7).
func (s *session) periodic() bool {
	switch {
	case s.passive && s.remoteDiscr == 0:
		return false // §6.1, §6.8.7
	case s.remoteMinRx == 0:
		return false // the peer asked for no packets at all
	case s.remoteDemand && s.state == StateUp && s.remoteState == StateUp:
		return false // Demand mode is active on the peer (§6.8.7)
	}
	return true
}

// jitter draws the next transmit interval from d (§6.8.7): 75–100% of it,
// or 75–90% with a DetectMult of 1, so a single late packet is not a
// detection timeout at the peer.
func jitter(d time.Duration, detectMult uint8, rng *rand.Rand) time.Duration {
	spread := d / 4 // 25%
	if detectMult == 1 {
		spread = d * 15 / 100
	}
	return d - d/4 + time.Duration(rng.Int64N(int64(spread)+1))
}

func (s *session) setState(to State, diag Diagnostic, now time.Time) {
	if to == s.state {
		return
	}
	from := s.state
	oldTx, oldRx := s.advertisedTx(), s.config.RequiredMinRx
	s.state, s.localDiag = to, diag
	s.changes = append(s.changes, StateChange{Old: from, New: to, Diag: diag, At: now})
	if to != StateUp {
		// The Poll Sequence's constraints hold only while Up (§6.8.3):
		// outside it, the new values apply at once.
		s.txInForce, s.rxInForce = s.advertisedTx(), s.config.RequiredMinRx
	}
	s.advertise(oldTx, oldRx, now)
}

// advertise applies a change of what we advertise, from oldTx and oldRx to
// the current values (§6.8.3): any change starts a Poll Sequence; while Up,
// a slower transmission waits for the Final, so the peer stretches its
// Detection Time first, and so does a faster reception, so the peer speeds
// up first. The other directions are safe at once.
func (s *session) advertise(oldTx, oldRx time.Duration, now time.Time) {
	tx, rx := s.advertisedTx(), s.config.RequiredMinRx
	if tx == oldTx && rx == oldRx {
		return
	}
	if s.state != StateUp || tx < s.txInForce {
		s.txInForce = tx
	}
	if s.state != StateUp || rx > s.rxInForce {
		s.rxInForce = rx
	}
	if !s.polling {
		// A Poll already under way is followed by another when it ends
		// (see finalReceived): a Final cannot say which values it saw.
		s.polling, s.pollTx, s.pollRx = true, tx, rx
	}
	s.rearm(now)
}

// finalReceived ends the Poll Sequence (§6.5): what it carried is now
// known to the peer, so the lagging values catch up, and a change made
// during the sequence starts the next one.
func (s *session) finalReceived(now time.Time) {
	if !s.polling {
		return
	}
	s.polling = false
	s.txInForce = min(s.pollTx, s.advertisedTx())
	s.rxInForce = max(s.pollRx, s.config.RequiredMinRx)
	if tx, rx := s.advertisedTx(), s.config.RequiredMinRx; tx != s.pollTx || rx != s.pollRx {
		s.polling, s.pollTx, s.pollRx = true, tx, rx
	}
	s.rearm(now)
}

// rearm brings the timers in line with changed intervals: a Detection
// Time counts from the last packet received, and a transmission due
// later than one new interval from now is brought forward.
func (s *session) rearm(now time.Time) {
	if !s.detectAt.IsZero() {
		// lastRx = detectAt - old detection time is not kept; the timer
		// restarts from now, never shorter than it was promised.
		if d := now.Add(s.detectionTime()); d.After(s.detectAt) {
			s.detectAt = d
		}
	}
	if !s.nextTx.IsZero() && s.periodic() {
		if soon := now.Add(s.txInterval()); soon.Before(s.nextTx) {
			s.nextTx = now.Add(jitter(s.txInterval(), s.config.DetectMult, s.rng))
		}
	}
}

// setTimers changes the configured intervals; a Poll Sequence carries the
// change to the peer without taking the session down (§6.8.3).
func (s *session) setTimers(t Timers, now time.Time) {
	oldTx, oldRx := s.advertisedTx(), s.config.RequiredMinRx
	s.config = t
	s.advertise(oldTx, oldRx, now)
}

// adminDown takes the session to AdminDown with Diag 7 (§6.8.16). The
// next transmission is at once, so the peer learns it before we go quiet.
func (s *session) adminDown(now time.Time) {
	s.setState(StateAdminDown, DiagAdminDown, now)
	s.detectAt = time.Time{}
	s.nextTx = now
}

// receive applies a packet that passed the checks of Packet.UnmarshalBinary
// and was demultiplexed to this session: the rest of §6.8.6. It reports
// false if the packet was discarded before it changed anything.
func (s *session) receive(p *Packet, now time.Time) bool {
	if p.YourDiscr == 0 && s.state == StateUp {
		// §6.8.6 lets a packet without Your Discriminator be matched by
		// other fields (we use the source address), but a peer we are Up
		// with knows our discriminator. So such a packet is not from it,
		// or it restarted, which its silence shows within a Detection
		// Time: a spoofer on the link has to guess 32 random bits, not
		// just an address, to take an Up session down.
		return false
	}
	s.remoteDiscr = p.MyDiscr
	s.remoteState = p.State
	s.remoteDemand = p.Demand
	s.remoteMinRx = p.RequiredMinRx
	s.remoteDetectMult = p.DetectMult
	s.remoteDesiredMinTx = p.DesiredMinTx
	if p.Final {
		s.finalReceived(now)
	}
	if s.state == StateAdminDown {
		return true // §6.8.6: discarded, after the variables above
	}
	if p.Poll {
		s.owesFinal = true
	}
	// §6.8.4: every packet restarts the Detection Time, computed from the
	// values it just brought.
	s.detectAt = now.Add(s.detectionTime())

	switch {
	case p.State == StateAdminDown:
		if s.state != StateDown {
			s.setState(StateDown, DiagNeighborDown, now)
		}
	case s.state == StateDown && p.State == StateDown:
		s.setState(StateInit, DiagNone, now)
	case s.state == StateDown && p.State == StateInit:
		s.setState(StateUp, DiagNone, now)
	case s.state == StateInit && (p.State == StateInit || p.State == StateUp):
		s.setState(StateUp, DiagNone, now)
	case s.state == StateUp && p.State == StateDown:
		s.setState(StateDown, DiagNeighborDown, now)
	}

	if s.nextTx.IsZero() && s.periodic() {
		// A passive session's first packet answers the peer's (§6.1).
		s.nextTx = now
	}
	s.rearm(now)
	return true
}

// tick runs the timers at now. It reports whether a packet is to be sent
// now, and fills out with it.
func (s *session) tick(now time.Time, out *Packet) bool {
	if !s.detectAt.IsZero() && !now.Before(s.detectAt) {
		// §6.8.4: nothing heard for a Detection Time. §6.8.1: the peer's
		// discriminator is forgotten, so a restarted peer is taken anew.
		s.detectAt = time.Time{}
		s.remoteDiscr = 0
		s.remoteState = StateDown
		if s.state == StateInit || s.state == StateUp {
			s.setState(StateDown, DiagControlDetectionExpired, now)
		}
	}
	send := false
	if s.owesFinal {
		// §6.8.7: a Final goes out as soon as practicable, regardless of
		// the transmit timer; it never carries Poll as well (§6.5).
		s.owesFinal = false
		s.fill(out, false, true)
		send = true
	}
	if !s.periodic() {
		if s.state != StateAdminDown {
			s.nextTx = time.Time{}
		}
		return send
	}
	if !s.nextTx.IsZero() && !now.Before(s.nextTx) {
		s.nextTx = now.Add(jitter(s.txInterval(), s.config.DetectMult, s.rng))
		if !send {
			// The Poll rides on periodic packets only (§6.5).
			s.fill(out, s.polling, false)
			send = true
		}
	}
	return send
}

// deadline is when tick next has something to do; zero if never.
func (s *session) deadline() time.Time {
	var d time.Time
	if !s.nextTx.IsZero() && s.periodic() {
		d = s.nextTx
	}
	if !s.detectAt.IsZero() && (d.IsZero() || s.detectAt.Before(d)) {
		d = s.detectAt
	}
	return d
}

// fill builds the packet we send now (§6.8.7).
func (s *session) fill(out *Packet, poll, final bool) {
	*out = Packet{
		Diag:          s.localDiag,
		State:         s.state,
		Poll:          poll,
		Final:         final,
		DetectMult:    s.config.DetectMult,
		MyDiscr:       s.localDiscr,
		YourDiscr:     s.remoteDiscr,
		DesiredMinTx:  s.advertisedTx(),
		RequiredMinRx: s.config.RequiredMinRx,
		// CPI stays clear: this BFD runs in the speaker beside its BGP,
		// sharing its fate (RFC 5880 §4.1, RFC 5882 §4.3). Demand and
		// RequiredMinEchoRx stay zero: neither mode is implemented.
	}
}

// takeChanges returns the transitions since the last call.
func (s *session) takeChanges() []StateChange {
	c := s.changes
	s.changes = nil
	return c
}
