package bfd

import (
	"net/netip"
	"testing"
)

// TestReadAllocs holds the receive path to no allocation per packet.
func TestReadAllocs(t *testing.T) {
	for _, k := range []listenerKey{{}, {v6: true}} {
		t.Run(k.String(), func(t *testing.T) {
			l, err := listen(k, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer l.conn.Close()
			lo := netip.MustParseAddr("127.0.0.1")
			if k.v6 {
				lo = netip.IPv6Loopback()
			}
			port := netip.MustParseAddrPort(l.conn.LocalAddr().String()).Port()
			c, err := dialSource(netip.Addr{}, k.v6, testRand())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if src := netip.MustParseAddrPort(c.LocalAddr().String()).Port(); src < minSourcePort {
				t.Fatalf("source port %d below %d (RFC 5881 §4)", src, minSourcePort)
			}
			dst := netip.AddrPortFrom(lo, port)
			buf := make([]byte, 1500)
			var ttl int
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := c.WriteToUDPAddrPort(wire, dst); err != nil {
					t.Fatal(err)
				}
				_, _, ttl, err = l.read(buf)
				if err != nil {
					t.Fatal(err)
				}
			})
			if ttl != gtsmTTL {
				t.Fatalf("received TTL %d, want %d", ttl, gtsmTTL)
			}
			if allocs != 0 {
				t.Fatalf("%v allocations per packet sent and received, want 0", allocs)
			}
		})
	}
}

func TestReceivedTTLParse(t *testing.T) {
	// No control message, or one of another kind: no TTL, refused.
	if got := receivedTTL(nil, false); got != -1 {
		t.Fatalf("TTL %d from no control message, want -1", got)
	}
	if got := receivedTTL([]byte{1, 2, 3}, true); got != -1 {
		t.Fatalf("TTL %d from a truncated control message, want -1", got)
	}
}
