package bfd

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// received is a packet on its way from a listener to its session.
type received struct {
	p  Packet
	at time.Time
}

// rxQueue bounds what a session has not processed yet: BFD tolerates
// loss, and a flood must not grow memory.
const rxQueue = 16

// runner is one session's goroutine and its transmit socket. The state
// machine belongs to the goroutine alone; the rest talks to it through
// channels and the mutex-guarded fields.
type runner struct {
	peer  Peer
	discr uint32
	dst   netip.AddrPort
	tx    *net.UDPConn
	log   logr.Logger

	rx    chan received
	kick  chan struct{} // new timers are pending
	stopc chan context.Context
	done  chan struct{}

	mu      sync.Mutex
	pending *Timers
	status  Status
}

func newRunner(p Peer, discr uint32, tx *net.UDPConn, log logr.Logger) *runner {
	return &runner{
		peer:   p,
		discr:  discr,
		dst:    netip.AddrPortFrom(p.Addr, p.Port),
		tx:     tx,
		log:    log,
		rx:     make(chan received, rxQueue),
		kick:   make(chan struct{}, 1),
		stopc:  make(chan context.Context, 1),
		done:   make(chan struct{}),
		status: Status{State: StateDown, RemoteState: StateDown, LocalDiscr: discr, Since: time.Now()},
	}
}

// deliver checks a demultiplexed packet against the session (RFC 5881 §5,
// RFC 5883 §5) and queues it. It runs on the listener's goroutine.
func (r *runner) deliver(k listenerKey, p *Packet, src netip.Addr, ttl int, at time.Time) {
	var reason string
	switch {
	case k.multihop != r.peer.Multihop:
		reason = "wrong port for the session's hop mode"
	case src != r.peer.Addr:
		// A discriminator is a guess away; the address is the peer's.
		reason = "source is not the peer"
	case !r.peer.Multihop && ttl != gtsmTTL:
		reason = "single-hop TTL is not 255"
	case r.peer.Multihop && ttl < int(r.peer.MinTTL):
		reason = "TTL below the multihop minimum"
	}
	if reason == "" {
		select {
		case r.rx <- received{p: *p, at: at}:
			return
		default:
			reason = "session queue full"
		}
	}
	r.mu.Lock()
	r.status.Refused++
	r.mu.Unlock()
	r.log.V(1).Info("BFD packet refused", "from", src, "ttl", ttl, "reason", reason)
}

func (r *runner) setTimers(t Timers) {
	r.mu.Lock()
	r.pending = &t
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// stop asks for AdminDown and waits until the goroutine has ended.
func (r *runner) stop(ctx context.Context) {
	select {
	case r.stopc <- ctx:
	default: // already stopping
	}
	<-r.done
}

func (r *runner) snapshot() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// run is the session's goroutine: it owns s, applies what arrives, runs
// its timers and transmits.
func (r *runner) run(s *session) {
	defer close(r.done)
	defer r.tx.Close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var (
		out      Packet
		buf      = make([]byte, 0, packetLen)
		stopping context.Context // non-nil once AdminDown
		left     int             // AdminDown packets still to send
		received uint64
	)
	for {
		now := time.Now()
		if s.tick(now, &out) {
			r.send(&out, &buf)
			if stopping != nil {
				left--
			}
		}
		r.publish(s, received)
		if stopping != nil && (left <= 0 || stopping.Err() != nil) {
			return
		}
		if d := s.deadline(); !d.IsZero() {
			timer.Reset(d.Sub(now))
		} else {
			timer.Stop()
		}
		var ctxDone <-chan struct{}
		if stopping != nil {
			ctxDone = stopping.Done()
		}
		select {
		case m := <-r.rx:
			if s.receive(&m.p, m.at) {
				received++
			} else {
				r.mu.Lock()
				r.status.Refused++
				r.mu.Unlock()
			}
		case <-r.kick:
			r.mu.Lock()
			t := r.pending
			r.pending = nil
			r.mu.Unlock()
			if t != nil {
				s.setTimers(*t, time.Now())
			}
		case <-timer.C:
		case ctx := <-r.stopc:
			// §6.8.16: AdminDown, sent for up to a Detection Time (the
			// packets the peer would miss before noticing anyway).
			stopping, left = ctx, int(s.config.DetectMult)
			s.adminDown(time.Now())
		case <-ctxDone:
			return
		}
	}
}

func (r *runner) send(p *Packet, buf *[]byte) {
	b, err := p.AppendBinary((*buf)[:0])
	if err != nil {
		// The state machine built it: a bug, not the network's fault.
		r.log.Error(err, "BFD packet not built")
		return
	}
	*buf = b
	if _, err := r.tx.WriteToUDPAddrPort(b, r.dst); err != nil {
		// A lost packet is what BFD measures; the timers decide.
		r.log.V(1).Info("BFD send failed", "error", err.Error())
		return
	}
	r.mu.Lock()
	r.status.Sent++
	r.mu.Unlock()
}

// publish updates the snapshot and hands transitions to the consumer,
// outside the lock so it may call the Manager.
func (r *runner) publish(s *session, received uint64) {
	changes := s.takeChanges()
	r.mu.Lock()
	st := &r.status
	st.State, st.RemoteState, st.Diag = s.state, s.remoteState, s.localDiag
	st.RemoteDiscr = s.remoteDiscr
	st.DetectionTime = s.detectionTime()
	st.TxInterval = s.txInterval()
	st.Polling = s.polling
	st.Received = received
	if len(changes) > 0 {
		st.Since = changes[len(changes)-1].At
	}
	r.mu.Unlock()
	for _, c := range changes {
		r.log.Info("BFD session state changed", "from", c.Old, "to", c.New, "diag", c.Diag)
		if r.peer.OnStateChange != nil {
			r.peer.OnStateChange(c)
		}
	}
}
