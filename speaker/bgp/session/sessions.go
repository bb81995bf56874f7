package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/portico-lb/portico/speaker/bgp/routes"
)

// Sessions holds this node's BGP sessions, one GoBGP server each (see the
// package documentation), and the routes installed on each. Its methods are
// safe for concurrent use; Apply and Close are serialised.
type Sessions struct {
	o Options
	// changed holds one signal that a session's state or last error
	// changed; see Changed.
	changed chan struct{}

	// mu guards the fields below. It is held across GoBGP calls: none of
	// them opens a socket (sessions dial from GoBGP's own goroutines), and
	// the longest, StopBgp, waits for a NOTIFICATION to be written.
	mu     sync.Mutex
	peers  map[string]*peer
	spare  []*gobgp // stopped servers, to start again for the next peer
	closed bool
}

// New returns Sessions holding no session.
func New(o Options) *Sessions {
	return &Sessions{o: setOptionsDefaults(o), peers: map[string]*peer{}, changed: make(chan struct{}, 1)}
}

// Changed signals that Status may report a new state or last error for
// some session. GoBGP's own goroutines send it as the session moves, so a
// watcher learns of a change when it happens rather than at its next
// poll. Signals coalesce (the channel holds one), and counts (prefixes,
// updates) do not signal: they move with every route and are polled.
func (s *Sessions) Changed() <-chan struct{} { return s.changed }

// notify sends Changed's signal without waiting: one already pending
// covers this change too.
func (s *Sessions) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("session: closed")

// Apply makes the sessions those of peers and the routes announced to each
// those of plan[peer.Name]. A peer that is new starts its session; one that
// is gone is closed with a Cease NOTIFICATION; one whose PeerConfig changed
// is closed and started again, unless only its BFD changed, and no other
// session is touched. Routes are
// diffed per peer: only added, changed and withdrawn prefixes are sent.
//
// Apply goes on past a peer that fails and returns every failure, each
// naming its peer. Two peers of one name are an error.
func (s *Sessions) Apply(ctx context.Context, peers []PeerConfig, plan routes.Plan) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	want := make(map[string]PeerConfig, len(peers))
	var errs []error
	for _, p := range peers {
		if _, dup := want[p.Name]; dup {
			errs = append(errs, fmt.Errorf("session: peer %q: listed twice", p.Name))
			continue
		}
		want[p.Name] = p
	}
	for name, cur := range s.peers {
		p, ok := want[name]
		if ok {
			switch compare(cur.cfg, p) {
			case unchanged:
				continue
			case bfdChanged:
				// GoBGP holds nothing of BFD: keeping the new
				// settings is all a BFD-only change asks here.
				cur.cfg = p
				continue
			}
		}
		if err := s.drop(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		cur := s.peers[name]
		if cur == nil {
			var err error
			if cur, err = s.start(ctx, want[name]); err != nil {
				errs = append(errs, fmt.Errorf("session: peer %q: %w", name, err))
				continue
			}
			s.peers[name] = cur
		}
		if err := cur.announce(ctx, plan[name]); err != nil {
			errs = append(errs, fmt.Errorf("session: peer %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Status is one session's state, for the per-node status object.
type Status struct {
	Peer string
	// State is the BGP FSM state: Idle, Connect, Active, OpenSent,
	// OpenConfirm or Established.
	State string
	// Since is when the session entered State, as this process saw it.
	Since time.Time
	// PrefixesSent counts the prefixes the peer was sent and holds.
	PrefixesSent int
	// Routes counts the prefixes the plan asks for.
	Routes int
	// UpdatesSent counts the UPDATE messages sent to the peer since the
	// session's neighbor was configured (GoBGP's counter; a reset session
	// starts again from zero).
	UpdatesSent uint64
	// LastError says, in plain words, why the session last failed or
	// could not be opened; empty if it never did.
	LastError string
}

// start starts c's session on a spare server, or a new one.
func (s *Sessions) start(ctx context.Context, c PeerConfig) (*peer, error) {
	var g *gobgp
	if n := len(s.spare); n > 0 {
		g, s.spare = s.spare[n-1], s.spare[:n-1]
	} else {
		g = newGoBGP()
	}
	p, err := startPeer(ctx, g, c, s.o, s.notify)
	if err != nil {
		s.spare = append(s.spare, g)
	}
	return p, err
}

// drop closes the session of name and keeps its server as a spare.
func (s *Sessions) drop(ctx context.Context, name string) error {
	p := s.peers[name]
	delete(s.peers, name)
	err := p.stop(ctx)
	s.spare = append(s.spare, p.gobgp)
	if err != nil {
		return fmt.Errorf("session: peer %q: closing: %w", name, err)
	}
	return nil
}

// Status returns every session's state, sorted by peer name.
func (s *Sessions) Status(ctx context.Context) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, p.status(ctx))
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}

// Close ends every session with a Cease NOTIFICATION and stops the GoBGP
// servers. Apply fails afterwards; Close again does nothing.
func (s *Sessions) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for name := range s.peers {
		if err := s.drop(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
