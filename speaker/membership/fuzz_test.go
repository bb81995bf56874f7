package membership

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Everything a peer controls reaches a speaker through two parsers: the
// memberlist metadata (decodeMeta, sent by any member) and the Lease
// annotations (decodeLease, written by anyone who may write Leases in the
// namespace). Neither may panic or loop, and what they accept must encode
// back to itself, since every speaker compares verdicts for equality.

func FuzzDecodeMeta(f *testing.F) {
	for _, seed := range []string{
		"",                             // no metadata at all
		"10.0.0.0/8,fd00::/64",         // before verdicts: a bare subnet list
		"v1|s|0|0||",                   // nobody counted out, no subnets
		"v1|j|2|1a|1a,-ff|10.1.0.0/16", // starting, one held down, one dead
		"v1|s|1|0|-0,-0,-0|",           // one hash, repeated
		"v1|s|-1|0||",                  // negative count
		"v1|s|+5|0||",                  // Atoi accepts a sign
		"v1|x|0|0||",                   // unknown phase
		"v1|s|0|100000000||",           // min wider than 32 bits
		"v1|s|0|0|,,,|",                // empty hashes
		"v1|s|0|0||10.0.0.1/33",        // bad subnet
		"v1|s|0|0|||||",                // extra separators end up in the subnets
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, meta []byte) {
		v, subnets, err := decodeMeta(meta)
		if err != nil {
			return
		}
		if len(v.outHashes) > maxVerdictHashes || len(subnets) > maxSubnets {
			t.Fatalf("decodeMeta(%q) accepted %d hashes and %d subnets", meta, len(v.outHashes), len(subnets))
		}
		again := encodeMeta(v, encodeSubnets(subnets), 1<<20)
		v2, subnets2, err := decodeMeta(again)
		if err != nil {
			t.Fatalf("decodeMeta(%q) = %+v, which encodes to %q, which does not decode: %v", meta, v, again, err)
		}
		if !v.equal(v2) || !cmp.Equal(subnets, subnets2, netipCmp) {
			t.Fatalf("round trip of %q: %+v %v, then %q: %+v %v", meta, v, subnets, again, v2, subnets2)
		}
	})
}

func FuzzDecodeLease(f *testing.F) {
	for _, seed := range []struct{ name, holder, addr, subnets string }{
		{"portico-speaker-n1", "n1", "192.0.2.1:7946", "192.0.2.0/24"},  // a speaker's own Lease
		{"portico-speaker-n1", "n1", "[2001:db8::1]:7946", ""},          // IPv6, no subnets
		{"portico-speaker-n1", "n1", "", "10.0.0.0/8, fd00::/64"},       // no memberlist: judged by the Lease
		{"portico-speaker-n1", "n2", "192.0.2.1:7946", ""},              // a Lease that speaks for another node
		{"portico-speaker-n1", "n1", "[::ffff:192.0.2.1]:7946", ""},     // 4in6, unmapped on decoding
		{"portico-speaker-n1", "n1", "[fe80::1%eth0]:7946", ""},         // a zone
		{"portico-speaker-n1", "n1", "0.0.0.0:7946", ""},                // unspecified: nobody can dial it
		{"portico-speaker-n1", "n1", "192.0.2.1:0", ""},                 // port 0
		{"portico-speaker-n1", "n1", "192.0.2.1", ""},                   // no port
		{"portico-speaker-n1", "n1", "192.0.2.1:7946", "10.0.0.0/8,,x"}, // a bad subnet
		{"portico-speaker-", "", "", ""},                                // no holder
	} {
		f.Add(seed.name, seed.holder, seed.addr, seed.subnets)
	}
	f.Fuzz(func(t *testing.T, name, holder, addr, subnets string) {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{}}}
		if holder != "" {
			l.Spec.HolderIdentity = &holder
		}
		if addr != "" {
			l.Annotations[annotationAddr] = addr
		}
		l.Annotations[annotationSubnets] = subnets
		p, err := decodeLease(l)
		if err != nil {
			return
		}
		if p.Addr.IsValid() && (p.Addr.Port() == 0 || p.Addr.Addr().IsUnspecified() || p.Addr.Addr().Is4In6()) {
			t.Fatalf("decodeLease accepted memberlist address %v from %q", p.Addr, addr)
		}
		// The same peer, written by encodeLease, reads back the same.
		var again coordinationv1.Lease
		encodeLease(&again, p, defaultLeaseDuration, p.Renewed)
		p2, err := decodeLease(&again)
		if err != nil {
			t.Fatalf("decodeLease(%+v) = %+v, which encodes to a Lease that does not decode: %v", l, p, err)
		}
		if diff := cmp.Diff(p, p2, netipCmp); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
