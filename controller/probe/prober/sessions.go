package prober

import (
	"io"
	"net/netip"
	"sync"
	"time"
)

// DefaultReuse is how long New's MySQL and Redis probers keep a connection
// between probes.
//
// A fresh connection per probe costs the controller about 300µs of CPU on
// Linux loopback (TCP handshake, MySQL login or Redis AUTH), several times
// the 100µs a probe may cost for 1000 probes/s to fit in 0.1 core. A kept
// connection answers the same questions (is it alive, is it writable)
// within the same deadline: a killed server resets it, a cut link times it
// out. What it cannot see is a server that stopped accepting new
// connections or changed the password, so it is replaced after this long,
// and a probe whose kept connection fails tries a fresh one before it
// reports a failure.
const DefaultReuse = 30 * time.Second

// sessions keeps at most one idle connection per address. A probe takes it
// (so no two probes share a connection) and puts it back when it worked.
type sessions[C io.Closer] struct {
	mu   sync.Mutex
	idle map[netip.AddrPort]idle[C]
}

type idle[C io.Closer] struct {
	c      C
	opened time.Time
}

// take returns the idle connection to a opened less than maxAge ago, and
// when it was opened; an older one is closed.
func (s *sessions[C]) take(a netip.AddrPort, maxAge time.Duration) (C, time.Time, bool) {
	s.mu.Lock()
	i, ok := s.idle[a]
	delete(s.idle, a)
	s.mu.Unlock()
	if ok && time.Since(i.opened) < maxAge {
		return i.c, i.opened, true
	}
	if ok {
		_ = i.c.Close()
	}
	var zero C
	return zero, time.Time{}, false
}

// put keeps c as a's idle connection, or closes it if a has one already.
func (s *sessions[C]) put(a netip.AddrPort, c C, opened time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.idle[a]; ok {
		_ = c.Close()
		return
	}
	if s.idle == nil {
		s.idle = map[netip.AddrPort]idle[C]{}
	}
	s.idle[a] = idle[C]{c, opened}
}

// forget closes a's idle connection.
func (s *sessions[C]) forget(a netip.AddrPort) {
	s.mu.Lock()
	i, ok := s.idle[a]
	delete(s.idle, a)
	s.mu.Unlock()
	if ok {
		_ = i.c.Close()
	}
}

// closeAll closes every idle connection.
func (s *sessions[C]) closeAll() {
	s.mu.Lock()
	all := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, i := range all {
		_ = i.c.Close()
	}
}
