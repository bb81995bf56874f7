package ipam

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/allocator"
)

func sharing(key string, ports ...int32) func(*Request) {
	return func(r *Request) {
		r.Owner.SharingKey = key
		r.Owner.Ports = nil
		for _, p := range ports {
			r.Owner.Ports = append(r.Owner.Ports, allocator.Port{Protocol: "TCP", Port: p})
		}
	}
}

func mustAssign(t *testing.T, m *IPAM, r Request) Decision {
	t.Helper()
	d, _ := m.Decide(r)
	if !d.Assigned {
		t.Fatalf("%s: %s: %s", r.Owner.Key, d.Reason, d.Message)
	}
	return d
}

// TestEditedSharerMoves: a Service sharing an address is judged by its
// current spec on every decision. When an edit means two holders may no
// longer share, the one that held the address first keeps it and the other
// moves, with the reason in its condition. Before the fix the edited Service
// kept the shared address whatever it changed to.
func TestEditedSharerMoves(t *testing.T) {
	edits := []struct {
		name     string
		edit     func(*Request)
		wantNote string
	}{
		{"port now clashes", sharing("k", 80), "port TCP/80 already used by ns/a"},
		{"sharing key dropped", sharing("", 443), "held by ns/a, and ns/b does not share (no sharing key)"},
		{"sharing key changed", sharing("k2", 443), `sharing key "k2" differs from ns/a's "k"`},
		{"traffic policy Local with other backends", func(r *Request) { r.Owner.BackendKey = "local:app=db" },
			"backends differ from ns/a's"},
	}
	for _, tt := range edits {
		t.Run("later holder edited: "+tt.name, func(t *testing.T) {
			m := newIPAM(t, pool("p", "192.0.2.0/28"))
			a := mustAssign(t, m, req("ns/a", sharing("k", 80)))
			b := mustAssign(t, m, req("ns/b", sharing("k", 443)))
			if a.Addrs[0] != b.Addrs[0] {
				t.Fatalf("setup: a %v and b %v do not share", a.Addrs, b.Addrs)
			}
			shared := a.Addrs[0]
			edited := req("ns/b", sharing("k", 443), tt.edit)
			d, eff := m.Decide(edited)
			if !d.Assigned || d.Addrs[0] == shared {
				t.Fatalf("edited b = %+v, want a new address", d)
			}
			if !strings.Contains(d.Note, "lost "+shared.String()) || !strings.Contains(d.Note, tt.wantNote) {
				t.Errorf("note %q, want it to name %s and %q", d.Note, shared, tt.wantNote)
			}
			if !eff.Freed && len(eff.Evicted) != 0 {
				t.Errorf("effects %+v: nobody should be evicted", eff)
			}
			if again := mustAssign(t, m, req("ns/a", sharing("k", 80))); again.Addrs[0] != shared {
				t.Errorf("a moved to %v; the first holder keeps %s", again.Addrs, shared)
			}
			// The note is said once: deciding b again changes nothing.
			if again, _ := m.Decide(edited); again.Note != "" || again.Addrs[0] != d.Addrs[0] {
				t.Errorf("b decided again: %+v", again)
			}
		})
	}
	t.Run("first holder edited: the later holder is evicted and moves", func(t *testing.T) {
		m := newIPAM(t, pool("p", "192.0.2.0/28"))
		a := mustAssign(t, m, req("ns/a", sharing("k", 80)))
		mustAssign(t, m, req("ns/b", sharing("k", 443)))
		mustAssign(t, m, req("ns/c", sharing("k", 8080)))
		shared := a.Addrs[0]
		d, eff := m.Decide(req("ns/a", sharing("k", 80, 443)))
		if !d.Assigned || d.Addrs[0] != shared {
			t.Fatalf("a = %+v, want it to keep %s", d, shared)
		}
		if !slices.Equal(eff.Evicted, []string{"ns/b"}) {
			t.Fatalf("evicted %v, want [ns/b] (ns/c does not clash)", eff.Evicted)
		}
		b, _ := m.Decide(req("ns/b", sharing("k", 443)))
		if !b.Assigned || b.Addrs[0] == shared {
			t.Fatalf("evicted b = %+v, want a new address", b)
		}
		if want := "lost " + shared.String() + ": port TCP/443 already used by ns/a, which holds it first"; b.Note != want {
			t.Errorf("b note %q, want %q", b.Note, want)
		}
		if c := mustAssign(t, m, req("ns/c", sharing("k", 8080))); c.Addrs[0] != shared {
			t.Errorf("c moved to %v; it may still share %s", c.Addrs, shared)
		}
	})
	t.Run("requested shared address after an edit that clashes", func(t *testing.T) {
		m := newIPAM(t, pool("p", "192.0.2.0/28"))
		mustAssign(t, m, req("ns/a", sharing("k", 80), requesting("192.0.2.5")))
		mustAssign(t, m, req("ns/b", sharing("k", 443), requesting("192.0.2.5")))
		d, _ := m.Decide(req("ns/b", sharing("k", 80), requesting("192.0.2.5")))
		if d.Assigned || d.Reason != v1beta1.ReasonRequestedIPTaken || !strings.Contains(d.Message, "port TCP/80 already used by ns/a") {
			t.Fatalf("b = %+v, want RequestedIPTaken naming the port", d)
		}
		if !slices.Contains(m.Pending(), "ns/b") {
			t.Errorf("b not waiting for its address")
		}
		// Once a lets go, b gets it back without further edits.
		m.Forget("ns/a")
		if d := mustAssign(t, m, req("ns/b", sharing("k", 80), requesting("192.0.2.5"))); d.Addrs[0] != netip.MustParseAddr("192.0.2.5") {
			t.Errorf("b = %v", d.Addrs)
		}
	})
}

// TestDuplicateRedecidedWhenEdited: a Service marked DuplicateIP at start-up
// is decided afresh once its request changes.
func TestDuplicateRedecidedWhenEdited(t *testing.T) {
	m := newIPAM(t, pool("a", "192.0.2.0/29"))
	dup := netip.MustParseAddr("192.0.2.3")
	if err := m.Restore(req("ns/first"), []netip.Addr{dup}); err != nil {
		t.Fatal(err)
	}
	if err := m.Restore(req("ns/second", requesting("192.0.2.3")), []netip.Addr{dup}); err == nil {
		t.Fatal("second Restore of one address succeeded")
	}
	if d, _ := m.Decide(req("ns/second", requesting("192.0.2.3"))); !d.LeaveStatus || d.Reason != v1beta1.ReasonDuplicateIP {
		t.Fatalf("unchanged duplicate = %+v, want DuplicateIP", d)
	}
	d, _ := m.Decide(req("ns/second", requesting("192.0.2.5")))
	if !d.Assigned || d.Addrs[0] != netip.MustParseAddr("192.0.2.5") {
		t.Fatalf("duplicate edited to request a free address = %+v", d)
	}
	if d := mustAssign(t, m, req("ns/first")); d.Addrs[0] != dup {
		t.Errorf("first holder moved to %v", d.Addrs)
	}
	t.Run("edited to automatic", func(t *testing.T) {
		m := newIPAM(t, pool("a", "192.0.2.0/29"))
		if err := m.Restore(req("ns/first"), []netip.Addr{dup}); err != nil {
			t.Fatal(err)
		}
		_ = m.Restore(req("ns/second", requesting("192.0.2.3")), []netip.Addr{dup})
		if d := mustAssign(t, m, req("ns/second")); d.Addrs[0] == dup {
			t.Errorf("second got the duplicate %s", dup)
		}
	})
}

// TestInvalidRequestKeepsAddress: an unreadable request keeps what the
// Service holds, so nobody else can take it, and reports InvalidRequest.
func TestInvalidRequestKeepsAddress(t *testing.T) {
	m := newIPAM(t, pool("one", "192.0.2.7/32"))
	held := mustAssign(t, m, req("ns/a")).Addrs[0]
	d, eff := m.Decide(req("ns/a", func(r *Request) {
		r.Invalid = `metadata.annotations[portico.dev/load-balancer-ips]: "192.0.2.x" is not an IP address`
	}))
	if d.Assigned || d.Reason != v1beta1.ReasonInvalidRequest || !slices.Equal(d.Addrs, []netip.Addr{held}) || eff.Freed {
		t.Fatalf("invalid request = %+v (%+v), want %s kept with InvalidRequest", d, eff, held)
	}
	if !strings.Contains(d.Message, "keeping 192.0.2.7") {
		t.Errorf("message %q does not say the address is kept", d.Message)
	}
	if slices.Contains(m.Pending(), "ns/a") {
		t.Error("an invalid request waits for an address; only an edit can fix it")
	}
	if other, _ := m.Decide(req("ns/b")); other.Assigned {
		t.Fatalf("another Service took the kept address: %+v", other)
	}
	// Fixing the request decides normally.
	if d := mustAssign(t, m, req("ns/a")); d.Addrs[0] != held {
		t.Errorf("fixed request moved to %v", d.Addrs)
	}
	t.Run("an invalid request is still judged by its current ports", func(t *testing.T) {
		m := newIPAM(t, pool("p", "192.0.2.0/28"))
		a := mustAssign(t, m, req("ns/a", sharing("k", 80)))
		mustAssign(t, m, req("ns/b", sharing("k", 443)))
		d, _ := m.Decide(req("ns/b", sharing("k", 80), func(r *Request) { r.Invalid = "bad" }))
		if len(d.Addrs) != 0 || d.Reason != v1beta1.ReasonInvalidRequest {
			t.Fatalf("b = %+v, want it to lose %s (port clash) and wait for a fix", d, a.Addrs[0])
		}
	})
}

// TestPreferDualStackGetsSecondFamilyLater: a PreferDualStack Service that
// got only IPv4 because IPv6 was exhausted waits for an IPv6 address.
func TestPreferDualStackGetsSecondFamilyLater(t *testing.T) {
	m := newIPAM(t, pool("v4", "192.0.2.0/28"), pool("v6", "2001:db8::5/128"))
	mustAssign(t, m, req("ns/v6", families(true, true)))
	dual := req("ns/dual", families(false, false, true))
	d := mustAssign(t, m, dual)
	if len(d.Addrs) != 1 || !d.Addrs[0].Is4() {
		t.Fatalf("dual = %v, want only IPv4 while IPv6 is full", d.Addrs)
	}
	if !slices.Contains(m.Pending(), "ns/dual") {
		t.Fatalf("Pending = %v, want ns/dual waiting for IPv6", m.Pending())
	}
	if !m.Forget("ns/v6") {
		t.Fatal("nothing freed")
	}
	d = mustAssign(t, m, dual)
	if len(d.Addrs) != 2 || d.Addrs[1] != netip.MustParseAddr("2001:db8::5") {
		t.Fatalf("dual after IPv6 freed = %v", d.Addrs)
	}
	if slices.Contains(m.Pending(), "ns/dual") {
		t.Error("ns/dual still waiting with both families")
	}
}

// TestFailedDecisionEvictsNobody: a decision that fails as a whole takes
// nothing from anybody. Here a Service that held a shared address first is
// edited so that the later sharer clashes with it, and it requires an IPv6
// address no pool has. Before the allocator judged a claim as a whole, ipam
// kept the IPv4 address (evicting the later sharer), then failed on IPv6 and
// released the IPv4 address again: the sharer lost it for nothing.
func TestFailedDecisionEvictsNobody(t *testing.T) {
	m := newIPAM(t, pool("p", "192.0.2.0/28"))
	a := mustAssign(t, m, req("ns/a", sharing("k", 80)))
	b := mustAssign(t, m, req("ns/b", sharing("k", 443)))
	if a.Addrs[0] != b.Addrs[0] {
		t.Fatalf("setup: a %v and b %v do not share", a.Addrs, b.Addrs)
	}
	d, eff := m.Decide(req("ns/a", sharing("k", 80, 443), families(true, false, true)))
	if d.Assigned || d.Reason != v1beta1.ReasonNoPoolMatches {
		t.Fatalf("a = %+v, want NoPoolMatches (no IPv6 pool)", d)
	}
	if len(eff.Evicted) != 0 {
		t.Errorf("evicted %v by a decision that failed", eff.Evicted)
	}
	if again := mustAssign(t, m, req("ns/b", sharing("k", 443))); again.Addrs[0] != b.Addrs[0] || again.Note != "" {
		t.Errorf("b = %+v, want it to keep %s untouched", again, b.Addrs[0])
	}
}
