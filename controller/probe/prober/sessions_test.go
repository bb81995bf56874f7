package prober

import (
	"net/netip"
	"testing"
	"time"
)

type closer struct{ closed int }

func (c *closer) Close() error { c.closed++; return nil }

func TestSessions(t *testing.T) {
	a, b := netip.MustParseAddrPort("10.1.0.41:6379"), netip.MustParseAddrPort("10.1.0.42:6379")
	var s sessions[*closer]
	if _, _, ok := s.take(a, time.Minute); ok {
		t.Fatal("took from an empty set")
	}
	c1, c2, c3 := &closer{}, &closer{}, &closer{}
	opened := time.Now()
	s.put(a, c1, opened)
	s.put(a, c2, opened) // a has one: c2 is closed, not kept
	if c2.closed != 1 {
		t.Errorf("a second connection for one address was not closed")
	}
	got, at, ok := s.take(a, time.Minute)
	if !ok || got != c1 || at != opened || c1.closed != 0 {
		t.Fatalf("take = %p, %v, %v; want c1 open", got, at, ok)
	}
	if _, _, ok := s.take(a, time.Minute); ok {
		t.Error("took the same connection twice")
	}
	s.put(a, c1, time.Now().Add(-time.Hour))
	if _, _, ok := s.take(a, time.Minute); ok || c1.closed != 1 {
		t.Errorf("an expired connection was taken (ok %v) or not closed (%d)", ok, c1.closed)
	}
	s.put(b, c3, time.Now())
	s.forget(a) // nothing kept for a
	s.forget(b)
	if c3.closed != 1 {
		t.Errorf("forget did not close b's connection")
	}
	c4, c5 := &closer{}, &closer{}
	s.put(a, c4, time.Now())
	s.put(b, c5, time.Now())
	s.closeAll()
	if c4.closed != 1 || c5.closed != 1 {
		t.Errorf("closeAll closed %d and %d", c4.closed, c5.closed)
	}
	if _, _, ok := s.take(a, time.Minute); ok {
		t.Error("took after closeAll")
	}
}
