package allocator_test

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portico-lb/portico/controller/allocator"
	"github.com/portico-lb/portico/internal/iprange"
)

// addrCmp lets cmp compare netip.Addr, whose fields are unexported.
var addrCmp = cmp.Comparer(func(x, y netip.Addr) bool { return x == y })

func newAlloc(seed uint64, pools ...allocator.Pool) *allocator.Allocator {
	a := allocator.New(allocator.Options{Rand: rand.New(rand.NewPCG(seed, seed))})
	a.SetPools(pools)
	return a
}

// pool builds a Pool from "CIDR" or "first-last" strings.
func pool(tb testing.TB, name string, avoid bool, ranges ...string) allocator.Pool {
	tb.Helper()
	p := allocator.Pool{Name: name, AvoidBuggyIPs: avoid}
	for _, s := range ranges {
		r, err := iprange.Parse(s)
		if err != nil {
			tb.Fatal(err)
		}
		p.Ranges = append(p.Ranges, r)
	}
	return p
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func exclusive(key string) allocator.Owner { return allocator.Owner{Key: key} }

func sharer(key, sharingKey string, ports ...string) allocator.Owner {
	o := allocator.Owner{Key: key, SharingKey: sharingKey}
	for _, p := range ports { // "TCP/80"
		proto, num, _ := strings.Cut(p, "/")
		var n int32
		for _, c := range num {
			n = n*10 + int32(c-'0')
		}
		o.Ports = append(o.Ports, allocator.Port{Protocol: proto, Port: n})
	}
	return o
}
