package election

import (
	"hash/fnv"
	"net/netip"
	"testing"
)

// TestScoreIsFNV1a checks the hand-written FNV-1a loop against hash/fnv:
// score is fmix64 of FNV-1a 64 over the address bytes, a 0 byte and the
// name.
func TestScoreIsFNV1a(t *testing.T) {
	for _, tt := range []struct {
		ip   string
		name string
	}{
		{"192.0.2.1", "node-1"},
		{"::ffff:192.0.2.1", "node-1"}, // keyed as 192.0.2.1
		{"2001:db8::1", "worker-a"},
		{"fe80::1%eth0", "n"}, // zone ignored
		{"10.0.0.1", ""},
	} {
		ip := netip.MustParseAddr(tt.ip)
		h := fnv.New64a()
		h.Write(ip.Unmap().AsSlice())
		h.Write([]byte{0})
		h.Write([]byte(tt.name))
		if got, want := score(ipSeed(ip), tt.name), fmix64(h.Sum64()); got != want {
			t.Errorf("score(%s, %q) = %#x, want %#x", tt.ip, tt.name, got, want)
		}
	}
	// The zero Addr has no bytes: only the 0 byte and the name are hashed.
	h := fnv.New64a()
	h.Write([]byte{0, 'n'})
	if got, want := score(ipSeed(netip.Addr{}), "n"), fmix64(h.Sum64()); got != want {
		t.Errorf("score(invalid, \"n\") = %#x, want %#x", got, want)
	}
	// One pinned value, from the same independent computation as
	// TestWinnerIsStable.
	if got := score(ipSeed(netip.MustParseAddr("192.0.2.1")), "node-1"); got != 0x950861e83e7cfebd {
		t.Errorf("score(192.0.2.1, node-1) = %#x, want 0x950861e83e7cfebd", got)
	}
}
