package layer2

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/portico-lb/portico/speaker/layer2/plan"
)

// link is one network interface as the kernel reported it in one scan.
type link struct {
	index int
	name  string
	mac   net.HardwareAddr
	mtu   int
	flags net.Flags

	// carrierUps counts how often the carrier came up (IFLA_CARRIER_UP_COUNT,
	// Linux ≥4.16). A change between two scans means the link flapped even if
	// both scans saw it up, so neighbours may have flushed their caches and
	// deserve a new gratuitous announcement.
	carrierUps uint32

	// prefixes are the configured addresses with their prefix lengths; the
	// "no interfaces named" rule matches VIPs against them.
	prefixes []netip.Prefix

	// linkLocal is an IPv6 link-local address an NDP socket can bind to: not
	// tentative (or optimistic) and not DAD-failed. Zero while duplicate
	// address detection runs, which takes 1-2 s after every link up.
	linkLocal netip.Addr
}

// usable reports whether responders belong on the link: administratively up,
// with carrier, and Ethernet-like (ARP and NDP replies carry a 6-byte MAC).
func (l link) usable() bool {
	return l.flags&net.FlagUp != 0 && l.flags&net.FlagRunning != 0 &&
		l.flags&net.FlagLoopback == 0 && len(l.mac) == 6
}

// planLinks returns links as package plan sees them.
func planLinks(links map[string]link) map[string]plan.Link {
	out := make(map[string]plan.Link, len(links))
	for name, l := range links {
		out[name] = plan.Link{Usable: l.usable(), Ethernet: l.flags&net.FlagLoopback == 0 && len(l.mac) == 6, Prefixes: l.prefixes}
	}
	return out
}

func sortAddrs(a []netip.Addr) { slices.SortFunc(a, netip.Addr.Compare) }

// netInterface is the *net.Interface the arp and ndp packages want. They only
// use its index, name, MTU and MAC, and look addresses up by index.
func (l link) netInterface() *net.Interface {
	return &net.Interface{Index: l.index, MTU: l.mtu, Name: l.name, HardwareAddr: l.mac, Flags: l.flags}
}

// listLinks returns every interface of the calling thread's network
// namespace, by name. It costs two netlink dumps however many interfaces
// there are; net.Interface.Addrs would dump every address once per interface,
// which adds up on nodes with hundreds of pod veths, and it hides the carrier
// counter and the DAD state we need.
func listLinks() (map[string]link, error) {
	b, err := syscall.NetlinkRIB(unix.RTM_GETLINK, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("layer2: netlink link dump: %w", err)
	}
	byIndex, err := parseLinks(b)
	if err != nil {
		return nil, err
	}
	b, err = syscall.NetlinkRIB(unix.RTM_GETADDR, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("layer2: netlink address dump: %w", err)
	}
	if err := parseAddrs(b, byIndex); err != nil {
		return nil, err
	}
	links := make(map[string]link, len(byIndex))
	for _, l := range byIndex {
		links[l.name] = *l
	}
	return links, nil
}

// parseLinks decodes an RTM_GETLINK dump.
func parseLinks(b []byte) (map[int]*link, error) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, fmt.Errorf("layer2: parsing link dump: %w", err)
	}
	links := make(map[int]*link)
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return nil, fmt.Errorf("layer2: parsing link attributes: %w", err)
		}
		// struct ifinfomsg: family, pad, type(2), index(4), flags(4), change(4).
		l := &link{
			index: int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))),
			flags: linkFlags(binary.NativeEndian.Uint32(m.Data[8:12])),
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				l.name = cString(a.Value)
			case unix.IFLA_ADDRESS:
				l.mac = net.HardwareAddr(append([]byte(nil), a.Value...))
			case unix.IFLA_MTU:
				l.mtu = int(u32(a.Value))
			case unix.IFLA_CARRIER_UP_COUNT:
				l.carrierUps = u32(a.Value)
			}
		}
		if l.name != "" {
			links[l.index] = l
		}
	}
	return links, nil
}

// parseAddrs decodes an RTM_GETADDR dump into the links it belongs to.
func parseAddrs(b []byte, links map[int]*link) error {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return fmt.Errorf("layer2: parsing address dump: %w", err)
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return fmt.Errorf("layer2: parsing address attributes: %w", err)
		}
		// struct ifaddrmsg: family, prefixlen, flags, scope, index(4).
		bits := int(m.Data[1])
		flags := uint32(m.Data[2])
		l := links[int(binary.NativeEndian.Uint32(m.Data[4:8]))]
		if l == nil {
			continue
		}
		var addr, local netip.Addr
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFA_ADDRESS:
				addr, _ = netip.AddrFromSlice(a.Value)
			case unix.IFA_LOCAL:
				local, _ = netip.AddrFromSlice(a.Value)
			case unix.IFA_FLAGS:
				// The 8-bit header field cannot hold the newer flags.
				flags = u32(a.Value)
			}
		}
		// On point-to-point IPv4 links IFA_ADDRESS is the peer; IFA_LOCAL is
		// ours whenever it is present (as in the net package).
		if local.IsValid() {
			addr = local
		}
		if !addr.IsValid() {
			continue
		}
		addr = addr.Unmap()
		if p, err := addr.Prefix(bits); err == nil {
			l.prefixes = append(l.prefixes, netip.PrefixFrom(addr, p.Bits()))
		}
		if addr.Is6() && addr.IsLinkLocalUnicast() && !l.linkLocal.IsValid() && bindable(flags) {
			l.linkLocal = addr
		}
	}
	return nil
}

// bindable reports whether an IPv6 address with these IFA_F_* flags can be a
// source address. The kernel refuses tentative addresses (DAD still running)
// unless they are optimistic (RFC 4429), and never uses DAD-failed ones.
func bindable(flags uint32) bool {
	if flags&unix.IFA_F_DADFAILED != 0 {
		return false
	}
	return flags&unix.IFA_F_TENTATIVE == 0 || flags&unix.IFA_F_OPTIMISTIC != 0
}

// linkFlags maps IFF_* bits to net.Flags, as the net package does.
func linkFlags(raw uint32) net.Flags {
	var f net.Flags
	for _, m := range []struct {
		iff  uint32
		flag net.Flags
	}{
		{unix.IFF_UP, net.FlagUp},
		{unix.IFF_BROADCAST, net.FlagBroadcast},
		{unix.IFF_LOOPBACK, net.FlagLoopback},
		{unix.IFF_POINTOPOINT, net.FlagPointToPoint},
		{unix.IFF_MULTICAST, net.FlagMulticast},
		{unix.IFF_RUNNING, net.FlagRunning},
	} {
		if raw&m.iff != 0 {
			f |= m.flag
		}
	}
	return f
}

func u32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(b)
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
