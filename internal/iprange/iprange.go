package iprange

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"strings"
)

// Range is an inclusive span [First, Last] of addresses of one family.
// The zero Range is invalid.
type Range struct {
	First netip.Addr
	Last  netip.Addr
}

// ErrSyntax is wrapped by every Parse error.
var ErrSyntax = errors.New("not a CIDR or a first-last range")

// Parse reads a CIDR ("192.0.2.0/24") or a dash range ("192.0.2.10-192.0.2.20").
// A CIDR covers every address of the prefix, network and broadcast included,
// because load-balancer pools are often single /32s; it must have no bits set
// beyond its prefix length.
func Parse(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Range{}, fmt.Errorf("iprange: %q: %w: %v", s, ErrSyntax, err)
		}
		if p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return Range{}, fmt.Errorf("iprange: %q: %w: zones and IPv4-mapped IPv6 are not allowed", s, ErrSyntax)
		}
		// Masking silently would hand out other hosts' addresses when the
		// user meant a single address; admission refuses it too.
		if m := p.Masked(); m != p {
			return Range{}, fmt.Errorf("iprange: %q: address has bits set beyond the prefix length; did you mean %s or %s/%d?", s, m, p.Addr(), p.Addr().BitLen())
		}
		return FromPrefix(p), nil
	}
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		return Range{}, fmt.Errorf("iprange: %q: %w", s, ErrSyntax)
	}
	a, err := netip.ParseAddr(strings.TrimSpace(first))
	if err != nil {
		return Range{}, fmt.Errorf("iprange: %q: %w: first address: %v", s, ErrSyntax, err)
	}
	b, err := netip.ParseAddr(strings.TrimSpace(last))
	if err != nil {
		return Range{}, fmt.Errorf("iprange: %q: %w: last address: %v", s, ErrSyntax, err)
	}
	if a.Zone() != "" || b.Zone() != "" || a.Is4In6() || b.Is4In6() {
		return Range{}, fmt.Errorf("iprange: %q: %w: zones and IPv4-mapped IPv6 are not allowed", s, ErrSyntax)
	}
	if a.Is4() != b.Is4() {
		return Range{}, fmt.Errorf("iprange: %q: first and last address are of different families", s)
	}
	if b.Less(a) {
		return Range{}, fmt.Errorf("iprange: %q: first address is after last address", s)
	}
	return Range{First: a, Last: b}, nil
}

// FromPrefix returns the range covering every address of p.
func FromPrefix(p netip.Prefix) Range {
	p = p.Masked()
	first := p.Addr()
	hostBits := first.BitLen() - p.Bits()
	b := first.AsSlice()
	for i := len(b) - 1; i >= 0 && hostBits > 0; i-- {
		n := min(hostBits, 8)
		b[i] |= byte(1<<n - 1)
		hostBits -= n
	}
	last, _ := netip.AddrFromSlice(b)
	return Range{First: first, Last: last}
}

// Is4 reports whether the range holds IPv4 addresses.
func (r Range) Is4() bool { return r.First.Is4() }

// Contains reports whether a lies within r.
func (r Range) Contains(a netip.Addr) bool {
	return a.BitLen() == r.First.BitLen() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// Overlaps reports whether r and o share at least one address.
func (r Range) Overlaps(o Range) bool {
	return r.First.BitLen() == o.First.BitLen() && r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0
}

// Size is the number of addresses in r, saturated at math.MaxUint64 (an IPv6
// /64 holds exactly 2^64, one more than fits).
func (r Range) Size() uint64 {
	hi, lo := Offset(r.First, r.Last)
	if hi != 0 || lo == math.MaxUint64 {
		return math.MaxUint64
	}
	return lo + 1
}

// String returns the range as "first-last", or the CIDR when it is exactly one prefix.
func (r Range) String() string {
	if p, ok := r.Prefix(); ok {
		return p.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// Prefix returns the single prefix equal to r, if there is one.
func (r Range) Prefix() (netip.Prefix, bool) {
	for bitsLen := 0; bitsLen <= r.First.BitLen(); bitsLen++ {
		p := netip.PrefixFrom(r.First, bitsLen)
		if p.Masked().Addr() != r.First {
			continue
		}
		if FromPrefix(p) == r {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// Offset returns b-a as a 128-bit number (hi, lo). a and b must be of the same
// family and a <= b.
func Offset(a, b netip.Addr) (hi, lo uint64) {
	ah, al := words(a)
	bh, bl := words(b)
	lo, borrow := bits.Sub64(bl, al, 0)
	hi, _ = bits.Sub64(bh, ah, borrow)
	return hi, lo
}

// Add returns a+n within the address family, and false if that overflows the family.
func Add(a netip.Addr, n uint64) (netip.Addr, bool) {
	h, l := words(a)
	l, carry := bits.Add64(l, n, 0)
	h, carry = bits.Add64(h, 0, carry)
	if carry != 0 {
		return netip.Addr{}, false
	}
	if a.Is4() {
		if h != 0 || l > math.MaxUint32 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom4([4]byte{byte(l >> 24), byte(l >> 16), byte(l >> 8), byte(l)}), true
	}
	var b [16]byte
	for i := range 8 {
		b[i] = byte(h >> (56 - 8*i))
		b[8+i] = byte(l >> (56 - 8*i))
	}
	return netip.AddrFrom16(b), true
}

func words(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		b := a.As4()
		return 0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	}
	b := a.As16()
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}
