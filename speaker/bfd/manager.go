package bfd

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// ErrUnknownPeer is returned by Update and Remove for a peer that has no
// session.
var ErrUnknownPeer = errors.New("bfd: no session for this peer")

// Config configures a Manager.
type Config struct {
	// Logger may be the zero Logger, which discards.
	Logger logr.Logger
	// Port and MultihopPort are the UDP ports the Manager listens on;
	// zero means DefaultPort and DefaultMultihopPort. Tests use others.
	Port, MultihopPort uint16
}

func (c Config) withDefaults() Config {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.MultihopPort == 0 {
		c.MultihopPort = DefaultMultihopPort
	}
	return c
}

// Peer is one BFD session to set up.
type Peer struct {
	// Addr is the peer's address (with its zone if link-local). It names
	// the session: one per address.
	Addr netip.Addr
	// Local is the source address; invalid lets the kernel choose.
	Local netip.Addr
	// Port is the peer's UDP port; zero means DefaultPort, or
	// DefaultMultihopPort with Multihop.
	Port uint16
	// Multihop runs the session over RFC 5883 (a peer several hops away,
	// BGP's ebgpMultiHop): port 4784, and received packets need a TTL of
	// at least MinTTL instead of exactly 255. MinTTL zero accepts any.
	Multihop bool
	MinTTL   uint8
	Timers   Timers
	// Passive sends nothing until the peer has sent (RFC 5880 §6.1).
	Passive bool
	// OnStateChange, if set, is called for every transition, in order,
	// from the session's goroutine: it must return quickly, and may call
	// the Manager.
	OnStateChange func(StateChange)
}

// validate fills p's defaults and checks it, naming the peer.
func (p Peer) validate() (Peer, error) {
	if !p.Addr.IsValid() || p.Addr.IsUnspecified() {
		return p, fmt.Errorf("bfd: peer %v: not a peer address", p.Addr)
	}
	p.Addr = p.Addr.Unmap()
	if p.Local.IsValid() {
		p.Local = p.Local.Unmap()
		if p.Local.Is4() != p.Addr.Is4() {
			return p, fmt.Errorf("bfd: peer %v: local address %v is of the other family", p.Addr, p.Local)
		}
	}
	if p.MinTTL != 0 && !p.Multihop {
		return p, fmt.Errorf("bfd: peer %v: a minimum TTL is for multihop sessions; single hop requires 255 (RFC 5881 §5)", p.Addr)
	}
	if err := p.Timers.validate(); err != nil {
		return p, fmt.Errorf("bfd: peer %v: %w", p.Addr, err)
	}
	if p.Port == 0 {
		p.Port = DefaultPort
		if p.Multihop {
			p.Port = DefaultMultihopPort
		}
	}
	return p, nil
}

// validate checks what the wire can carry (32-bit microseconds) and what
// makes a working session: a zero interval or multiplier cannot detect.
func (t Timers) validate() error {
	const most = math.MaxUint32 * time.Microsecond
	switch {
	case t.DesiredMinTx < time.Microsecond || t.DesiredMinTx > most:
		return fmt.Errorf("transmit interval %v outside 1µs–%v", t.DesiredMinTx, most)
	case t.RequiredMinRx < time.Microsecond || t.RequiredMinRx > most:
		return fmt.Errorf("receive interval %v outside 1µs–%v", t.RequiredMinRx, most)
	case t.DetectMult == 0:
		return errors.New("detect multiplier 0")
	}
	return nil
}

// Status is a snapshot of one session.
type Status struct {
	State, RemoteState      State
	Diag                    Diagnostic // bfd.LocalDiag
	LocalDiscr, RemoteDiscr uint32
	// Since is the time of the last transition (of Add, before any).
	Since time.Time
	// DetectionTime is the Detection Time in force (RFC 5880 §6.8.4),
	// zero until the peer has been heard.
	DetectionTime time.Duration
	// TxInterval is the interval between our packets before jitter.
	TxInterval time.Duration
	// Polling: a Poll Sequence is under way (§6.5).
	Polling bool
	// Received counts packets delivered to the session, Refused those
	// demultiplexed to it but dropped (wrong TTL, source or port, or the
	// session was too busy), Sent those sent.
	Received, Refused, Sent uint64
}

// Manager runs BFD sessions: one receive socket per address family and
// hop mode, opened when the first session needs it, and one goroutine per
// session for its timers and transmissions, so neither waits on anything
// else in the process.
type Manager struct {
	cfg Config
	log logr.Logger

	mu        sync.RWMutex
	closed    bool
	listeners map[listenerKey]*listener
	byPeer    map[netip.Addr]*runner
	byDiscr   map[uint32]*runner
	wg        sync.WaitGroup // receive goroutines
}

// New returns a Manager with no sessions.
func New(cfg Config) *Manager {
	cfg = cfg.withDefaults()
	return &Manager{
		cfg:       cfg,
		log:       cfg.Logger,
		listeners: map[listenerKey]*listener{},
		byPeer:    map[netip.Addr]*runner{},
		byDiscr:   map[uint32]*runner{},
	}
}

// Add starts a session to p, which is Down until the peer answers. ctx
// bounds the setup only; the session lasts until Remove or Run's end.
func (m *Manager) Add(ctx context.Context, p Peer) error {
	p, err := p.validate()
	if err != nil {
		return err
	}
	key := listenerKey{v6: p.Addr.Is6(), multihop: p.Multihop}
	if err := m.ensureListener(key); err != nil {
		return fmt.Errorf("bfd: peer %v: %w", p.Addr, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bfd: peer %v: %w", p.Addr, err)
	}
	rng := rand.New(rand.NewPCG(randUint64(), randUint64()))
	tx, err := dialSource(p.Local, key.v6, rng)
	if err != nil {
		return fmt.Errorf("bfd: peer %v: %w", p.Addr, err)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		tx.Close()
		return fmt.Errorf("bfd: peer %v: manager stopped", p.Addr)
	case m.byPeer[p.Addr] != nil:
		tx.Close()
		return fmt.Errorf("bfd: peer %v: session exists", p.Addr)
	}
	discr, err := m.newDiscr()
	if err != nil {
		tx.Close()
		return fmt.Errorf("bfd: peer %v: %w", p.Addr, err)
	}
	r := newRunner(p, discr, tx, m.log.WithValues("peer", p.Addr, "discriminator", discr))
	m.byPeer[p.Addr] = r
	m.byDiscr[discr] = r
	go r.run(newSession(discr, p.Timers, p.Passive, rng, time.Now()))
	return nil
}

// newDiscr picks an unused, non-zero bfd.LocalDiscr (§6.8.1), random so a
// restarted speaker is not mistaken for its former self. m.mu is held.
func (m *Manager) newDiscr() (uint32, error) {
	for range 64 {
		if d := uint32(randUint64()); d != 0 && m.byDiscr[d] == nil {
			return d, nil
		}
	}
	return 0, errors.New("no free discriminator after 64 draws")
}

func randUint64() uint64 {
	var b [8]byte
	crand.Read(b[:]) // never fails (crypto/rand)
	return binary.LittleEndian.Uint64(b[:])
}

// ensureListener opens the receive socket for k if there is none yet. The
// socket is opened outside m.mu; a concurrent Add that lost the race
// closes its own.
func (m *Manager) ensureListener(k listenerKey) error {
	m.mu.Lock()
	have := m.listeners[k] != nil
	m.mu.Unlock()
	if have {
		return nil
	}
	port := m.cfg.Port
	if k.multihop {
		port = m.cfg.MultihopPort
	}
	l, err := listen(k, port)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.listeners[k] != nil {
		l.conn.Close()
		if m.closed {
			return errors.New("manager stopped")
		}
		return nil
	}
	m.listeners[k] = l
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.receive(l)
	}()
	return nil
}

// Update changes a session's timers. The change reaches the peer by a
// Poll Sequence, so an Up session stays Up (RFC 5880 §6.8.3).
func (m *Manager) Update(addr netip.Addr, t Timers) error {
	addr = addr.Unmap()
	if err := t.validate(); err != nil {
		return fmt.Errorf("bfd: peer %v: %w", addr, err)
	}
	m.mu.Lock()
	r := m.byPeer[addr]
	m.mu.Unlock()
	if r == nil {
		return fmt.Errorf("bfd: peer %v: %w", addr, ErrUnknownPeer)
	}
	r.setTimers(t)
	return nil
}

// Remove takes the session to AdminDown (Diag 7), tells the peer, and ends
// it. It returns once the session is gone: after one detection time of
// AdminDown packets, or sooner when ctx ends (after the first packet).
func (m *Manager) Remove(ctx context.Context, addr netip.Addr) error {
	addr = addr.Unmap()
	m.mu.Lock()
	r := m.byPeer[addr]
	if r != nil {
		delete(m.byPeer, addr)
		delete(m.byDiscr, r.discr)
	}
	m.mu.Unlock()
	if r == nil {
		return fmt.Errorf("bfd: peer %v: %w", addr, ErrUnknownPeer)
	}
	r.stop(ctx)
	return nil
}

// Status reports the session to addr.
func (m *Manager) Status(addr netip.Addr) (Status, bool) {
	m.mu.Lock()
	r := m.byPeer[addr.Unmap()]
	m.mu.Unlock()
	if r == nil {
		return Status{}, false
	}
	return r.snapshot(), true
}

// Run waits for ctx to end, then sends every session's AdminDown at once
// (so peers do not count the shutdown as a failure, RFC 5880 §6.8.16),
// closes the sockets and returns.
func (m *Manager) Run(ctx context.Context) error {
	<-ctx.Done()
	m.mu.Lock()
	m.closed = true
	runners := make([]*runner, 0, len(m.byPeer))
	for _, r := range m.byPeer {
		runners = append(runners, r)
	}
	clear(m.byPeer)
	clear(m.byDiscr)
	listeners := m.listeners
	m.listeners = map[listenerKey]*listener{}
	m.mu.Unlock()

	done, cancel := context.WithCancel(context.Background())
	cancel() // one AdminDown packet each, no waiting for more
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Go(func() { r.stop(done) })
	}
	wg.Wait()
	for _, l := range listeners {
		l.conn.Close()
	}
	m.wg.Wait()
	return nil
}

// receive reads one listener until it is closed: parse, demultiplex,
// check, and hand the packet to its session's goroutine.
func (m *Manager) receive(l *listener) {
	buf := make([]byte, 1500) // a packet is 24 bytes; room for garbage to be read and refused whole
	var p Packet
	errs := 0
	for {
		n, src, ttl, err := l.read(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Not closed, so transient (a signal, a full buffer); back
			// off so a persistent one cannot spin a CPU.
			errs++
			m.log.Error(err, "BFD receive failed", "listener", l.key, "consecutive", errs)
			time.Sleep(time.Duration(min(errs, 100)) * 10 * time.Millisecond)
			continue
		}
		errs = 0
		at := time.Now()
		if err := p.UnmarshalBinary(buf[:n]); err != nil {
			m.log.V(1).Info("BFD packet refused", "from", src, "reason", err.Error())
			continue
		}
		r := m.demux(&p, src.Addr())
		if r == nil {
			m.log.V(1).Info("BFD packet for no session", "from", src, "yourDiscriminator", p.YourDiscr, "state", p.State)
			continue
		}
		r.deliver(l.key, &p, src.Addr(), ttl, at)
	}
}

// demux finds the session of a packet (RFC 5880 §6.8.6): by Your
// Discriminator, or, while the peer has not learnt it (zero, which
// UnmarshalBinary allows only in Down and AdminDown), by source address.
func (m *Manager) demux(p *Packet, src netip.Addr) *runner {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if p.YourDiscr != 0 {
		return m.byDiscr[p.YourDiscr]
	}
	return m.byPeer[src]
}
