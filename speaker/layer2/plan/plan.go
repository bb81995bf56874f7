package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Link is what planning needs to know of one interface, from one scan.
type Link struct {
	// Usable: up with carrier, so frames can be sent.
	Usable bool
	// Ethernet: not loopback and with a 6-byte MAC, so ARP/NDP makes sense.
	Ethernet bool
	// Prefixes are the interface's addresses with their prefix lengths.
	Prefixes []netip.Prefix
}

// Normalize copies a desired set into the form the package works with:
// zones dropped, IPv4-mapped addresses unmapped, interface names sorted and
// deduplicated. Addresses nobody can answer ARP/NDP for (unspecified,
// loopback, link-local, multicast, broadcast) are returned separately.
func Normalize(want map[netip.Addr][]string) (map[netip.Addr][]string, []netip.Addr) {
	out := make(map[netip.Addr][]string, len(want))
	var rejected []netip.Addr
	for ip, names := range want {
		ip = ip.WithZone("").Unmap()
		if !ip.IsGlobalUnicast() {
			rejected = append(rejected, ip)
			continue
		}
		// Two keys can meet here (192.0.2.1 and ::ffff:192.0.2.1): merge.
		out[ip] = append(out[ip], names...)
	}
	for ip, names := range out {
		names = slices.DeleteFunc(names, func(n string) bool { return n == "" })
		slices.Sort(names)
		out[ip] = slices.Compact(names)
	}
	sortAddrs(rejected)
	return out, rejected
}

// Interfaces is which IPs each interface answers for, by name.
type Interfaces map[string]*Interface

// Interface is which IPs one interface answers for, per family, each
// sorted.
type Interface struct {
	V4, V6 []netip.Addr
}

// Assign maps the desired set onto the links of one scan. An IP with
// interface names goes to those of them that are usable; an IP without goes
// to every usable link with an address whose prefix contains it. Named
// interfaces that do not exist or cannot carry ARP/NDP are returned as
// problems; links that are merely down are skipped without complaint (their
// state is the operator's, and they are picked up when they come back).
func Assign(want map[netip.Addr][]string, links map[string]Link) (Interfaces, map[string]error) {
	p := Interfaces{}
	problems := map[string]error{}
	add := func(name string, ip netip.Addr) {
		ifp := p[name]
		if ifp == nil {
			ifp = &Interface{}
			p[name] = ifp
		}
		if ip.Is4() {
			ifp.V4 = append(ifp.V4, ip)
		} else {
			ifp.V6 = append(ifp.V6, ip)
		}
	}
	for ip, names := range want {
		if len(names) == 0 {
			for name, l := range links {
				if l.Usable && onSubnet(l, ip) {
					add(name, ip)
				}
			}
			continue
		}
		for _, name := range names {
			l, ok := links[name]
			switch {
			case !ok:
				problems[name] = fmt.Errorf("layer2: interface %q: not found", name)
			case !l.Ethernet:
				problems[name] = fmt.Errorf("layer2: interface %q: not an Ethernet interface, cannot answer ARP/NDP", name)
			case l.Usable:
				add(name, ip)
			}
		}
	}
	for _, ifp := range p {
		sortAddrs(ifp.V4)
		sortAddrs(ifp.V6)
	}
	return p, problems
}

// Unplaced returns, for every IP of the desired set that no link could ever
// carry, why, in words for a Service condition. A link that is merely down
// counts as able to: its state is the operator's, a flap must not make the
// elected node report anything, and the address is answered for when the
// link comes back.
func Unplaced(want map[netip.Addr][]string, links map[string]Link) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for ip, names := range want {
		placed := false
		if len(names) == 0 {
			for _, l := range links {
				placed = placed || l.Ethernet && onSubnet(l, ip)
			}
			if !placed {
				out[ip] = "no Ethernet interface has a subnet containing it"
			}
			continue
		}
		for _, name := range names {
			l, ok := links[name]
			placed = placed || ok && l.Ethernet
		}
		if !placed {
			out[ip] = fmt.Sprintf("none of its interfaces (%s) exists as an Ethernet interface", strings.Join(names, ", "))
		}
	}
	return out
}

// onSubnet reports whether one of l's prefixes contains ip.
func onSubnet(l Link, ip netip.Addr) bool {
	for _, pfx := range l.Prefixes {
		if pfx.Contains(ip) {
			return true
		}
	}
	return false
}

func sortAddrs(a []netip.Addr) { slices.SortFunc(a, netip.Addr.Compare) }
