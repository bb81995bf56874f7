package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
)

// Options shape a Lab. The zero value is a lab with three nodes and a client
// on random subnets under a random prefix.
type Options struct {
	// Prefix names everything the lab creates: "pt" and four lowercase
	// letters or digits. Default: "pt" and four random hex digits.
	Prefix string

	// Nodes is how many node namespaces (node-1 … node-N) to create, at most
	// 89. Default 3.
	Nodes int

	// NoClient leaves out the client namespace. (A negative flag, so that the
	// zero value gets a client, which almost every test wants.)
	NoClient bool

	// LANv4 is the lab's IPv4 subnet, /24 or larger. Default 10.213.X.0/24
	// with X random and free in the root namespace.
	LANv4 netip.Prefix

	// LANv6 is the lab's IPv6 subnet, /112 or larger. Default
	// fd00:213:X::/64 with X random and free in the root namespace.
	LANv6 netip.Prefix
}

// Host IDs: the last part of a host's addresses (see the package doc).
const (
	idGateway   = 1
	idFirstNode = 11
	idClient    = 100

	// PoolFirst and PoolLast bound the host IDs kept for IPAddressPools:
	// Lab.Addr(PoolFirst) … Lab.Addr(PoolLast). AddHost refuses them.
	PoolFirst = 200
	PoolLast  = 254

	maxNodes = idClient - idFirstNode
)

// prefixRE is the shape of every lab prefix. A fixed length keeps names of
// different labs apart: "pt3f2abr" can only be lab pt3f2a's bridge.
var prefixRE = regexp.MustCompile(`^pt[0-9a-z]{4}$`)

// setOptionsDefaults fills every unset field of o, drawing random choices from
// randN (which returns a number in [0, n)), and validates the result.
func setOptionsDefaults(o Options, randN func(n int) int) (Options, error) {
	if o.Prefix == "" {
		const hex = "0123456789abcdef"
		b := []byte("pt")
		for range 4 {
			b = append(b, hex[randN(len(hex))])
		}
		o.Prefix = string(b)
	}
	if !prefixRE.MatchString(o.Prefix) {
		return o, fmt.Errorf("netlab: prefix %q: want \"pt\" and four lowercase letters or digits", o.Prefix)
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 0 || o.Nodes > maxNodes {
		return o, fmt.Errorf("netlab: %d nodes: want 1 to %d", o.Nodes, maxNodes)
	}
	if !o.LANv4.IsValid() {
		o.LANv4 = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte(randN(256)), 0}), 24)
	}
	if !o.LANv6.IsValid() {
		a := netip.MustParseAddr("fd00:213::").As16()
		g := sameDigits(randN(256))
		a[4], a[5] = byte(g>>8), byte(g)
		o.LANv6 = netip.PrefixFrom(netip.AddrFrom16(a), 64)
	}
	if err := checkLAN(o.LANv4, o.LANv6); err != nil {
		return o, err
	}
	return o, nil
}

// checkLAN makes sure both subnets are masked, of the right family and large
// enough for every host ID up to 255.
func checkLAN(v4, v6 netip.Prefix) error {
	if !v4.Addr().Is4() || v4.Bits() > 24 || v4.Masked() != v4 {
		return fmt.Errorf("netlab: LANv4 %s: want a masked IPv4 prefix of /24 or larger", v4)
	}
	if !v6.Addr().Is6() || v6.Addr().Is4In6() || v6.Bits() > 112 || v6.Masked() != v6 {
		return fmt.Errorf("netlab: LANv6 %s: want a masked IPv6 prefix of /112 or larger", v6)
	}
	return nil
}

// sameDigits reads n's decimal digits as hex, so that host 11 gets ::11 and
// host 100 gets ::100: the IPv6 address reads like the IPv4 one.
func sameDigits(n int) uint16 {
	v, err := strconv.ParseUint(strconv.Itoa(n), 16, 16)
	if err != nil {
		panic(err) // unreachable for 0 ≤ n ≤ 255, the only IDs used
	}
	return uint16(v)
}

// hostAddrs returns the addresses of host ID id on the given subnets.
func hostAddrs(v4, v6 netip.Prefix, id int) (netip.Addr, netip.Addr) {
	a4 := v4.Addr().As4()
	n := uint32(a4[0])<<24 | uint32(a4[1])<<16 | uint32(a4[2])<<8 | uint32(a4[3])
	n += uint32(id)
	a6 := v6.Addr().As16()
	g := sameDigits(id)
	a6[14], a6[15] = byte(g>>8), byte(g)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), netip.AddrFrom16(a6)
}

var errBadHost = errors.New("netlab: bad host")

// hostTag is the part of a host's root-side link name after the prefix: the
// first letter of its name and its trailing digits (node-12 → n12, client → c).
func hostTag(name string) (string, error) {
	if !hostNameRE.MatchString(name) {
		return "", fmt.Errorf("%w: name %q: want lowercase letters, digits and '-', starting with a letter, at most 20 characters", errBadHost, name)
	}
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	tag := name[:1] + name[i:]
	if len(tag) > maxTag {
		return "", fmt.Errorf("%w: name %q: link tag %q is longer than %d characters", errBadHost, name, tag, maxTag)
	}
	return tag, nil
}

// maxTag keeps "<prefix><tag>" within the kernel's 15-character link names.
const maxTag = 15 - 6

var hostNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)
