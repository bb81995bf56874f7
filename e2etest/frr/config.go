package frr

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// DefaultASN is the lab router's AS number (DESIGN §5).
const DefaultASN = 64512

// Config is one FRR instance: which host it runs in, its BGP identity, its
// neighbors and what it announces itself.
type Config struct {
	// Host is the lab host (network namespace) zebra and bgpd run in.
	Host *netlab.Host

	// ASN is the local AS. Default DefaultASN.
	ASN uint32

	// RouterID is the BGP router ID. Default Host.IPv4.
	RouterID netip.Addr

	// Neighbors are the BGP peers. An IPv4 neighbor carries IPv4 unicast
	// only and an IPv6 neighbor IPv6 unicast only.
	Neighbors []Neighbor

	// Networks are prefixes this instance announces itself (network
	// statements; they need no route in the kernel), each with
	// Communities and LargeCommunities. The lab router announces nothing;
	// a reference speaker in a node does.
	Networks []netip.Prefix

	// Communities ("64512:100") and LargeCommunities ("64512:1:2") are set
	// on every announced network.
	Communities, LargeCommunities []string

	// BFDProfiles are bfdd's profiles. With at least one, bfdd runs
	// beside zebra and bgpd; without, it does not.
	BFDProfiles []BFDProfile
}

// Neighbor is one BGP peer.
type Neighbor struct {
	Addr netip.Addr
	ASN  uint32 // its AS; equal to Config.ASN for iBGP

	// Password turns on TCP MD5 authentication (RFC 2385) with this key.
	Password string

	// EBGPMultihop, when above 0, allows the eBGP session over that many
	// hops (ebgp-multihop); 0 means directly connected only.
	EBGPMultihop int

	// BFDProfile, when set, runs BFD for this neighbor with that profile
	// ("neighbor … bfd profile"); bgpd then takes the session down when
	// BFD goes Down. The BFD session is multihop (RFC 5883, UDP 4784) when
	// EBGPMultihop is set, single hop (RFC 5881, UDP 3784) otherwise.
	BFDProfile string
}

var (
	communityRE = regexp.MustCompile(`^[0-9]{1,5}:[0-9]{1,5}$`)
	largeRE     = regexp.MustCompile(`^[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$`)
	// passwordRE keeps the key one word of FRR's CLI.
	passwordRE = regexp.MustCompile(`^[!-~]{1,80}$`)
)

// setConfigDefaults fills the unset fields of c and validates it.
func setConfigDefaults(c Config) (Config, error) {
	if c.Host == nil {
		return c, errors.New("frr: Config.Host is nil")
	}
	if c.ASN == 0 {
		c.ASN = DefaultASN
	}
	if !c.RouterID.IsValid() {
		c.RouterID = c.Host.IPv4
	}
	if !c.RouterID.Is4() {
		return c, fmt.Errorf("frr: %s: router ID %s: want an IPv4 address", c.Host.Name, c.RouterID)
	}
	c.BFDProfiles = append([]BFDProfile(nil), c.BFDProfiles...)
	profiles := map[string]bool{}
	for i, p := range c.BFDProfiles {
		var err error
		if c.BFDProfiles[i], err = setBFDProfileDefaults(p); err != nil {
			return c, fmt.Errorf("frr: %s: %w", c.Host.Name, err)
		}
		if profiles[p.Name] {
			return c, fmt.Errorf("frr: %s: BFD profile %s twice", c.Host.Name, p.Name)
		}
		profiles[p.Name] = true
	}
	c.Neighbors = append([]Neighbor(nil), c.Neighbors...)
	seen := map[netip.Addr]bool{}
	for _, n := range c.Neighbors {
		if err := checkNeighbor(n); err != nil {
			return c, fmt.Errorf("frr: %s: %w", c.Host.Name, err)
		}
		// FRR would accept a profile it does not know and run BFD with
		// its defaults: a typo would go unnoticed.
		if n.BFDProfile != "" && !profiles[n.BFDProfile] {
			return c, fmt.Errorf("frr: %s: neighbor %s: BFD profile %q is not in Config.BFDProfiles", c.Host.Name, n.Addr, n.BFDProfile)
		}
		if seen[n.Addr] {
			return c, fmt.Errorf("frr: %s: neighbor %s twice", c.Host.Name, n.Addr)
		}
		seen[n.Addr] = true
	}
	for _, p := range c.Networks {
		if !p.IsValid() || p.Masked() != p || p.Addr().Is4In6() {
			return c, fmt.Errorf("frr: %s: network %s: want a masked prefix", c.Host.Name, p)
		}
	}
	for _, s := range c.Communities {
		if !communityRE.MatchString(s) {
			return c, fmt.Errorf("frr: %s: community %q: want AA:NN", c.Host.Name, s)
		}
	}
	for _, s := range c.LargeCommunities {
		if !largeRE.MatchString(s) {
			return c, fmt.Errorf("frr: %s: large community %q: want A:B:C", c.Host.Name, s)
		}
	}
	return c, nil
}

func checkNeighbor(n Neighbor) error {
	switch {
	case !n.Addr.IsValid() || n.Addr.Is4In6() || n.Addr.Zone() != "":
		return fmt.Errorf("neighbor %s: want a plain IPv4 or IPv6 address", n.Addr)
	case n.ASN == 0:
		return fmt.Errorf("neighbor %s: no ASN", n.Addr)
	case n.Password != "" && !passwordRE.MatchString(n.Password):
		return fmt.Errorf("neighbor %s: password: want 1 to 80 printable characters without spaces", n.Addr)
	case n.EBGPMultihop < 0 || n.EBGPMultihop > 255:
		return fmt.Errorf("neighbor %s: ebgp-multihop %d: want 0 to 255", n.Addr, n.EBGPMultihop)
	case n.BFDProfile != "" && !bfdProfileRE.MatchString(n.BFDProfile):
		return fmt.Errorf("neighbor %s: BFD profile %q: want a name of letters, digits, '.', '_' and '-'", n.Addr, n.BFDProfile)
	}
	return nil
}

// Route-map names in the rendered configuration.
const (
	rmAnnounce = "portico-announce"
	rmIn       = "portico-in"
)

// renderBGPD writes bgpd's configuration for a filled Config.
//
// Choices, each for the lab's sake:
//   - "frr defaults datacenter": keepalive 3 s, hold 9 s, connect retry
//     10 s and no advertisement interval, so sessions come up and routes
//     move in seconds, not minutes.
//   - "no bgp default ipv4-unicast": otherwise every neighbor, IPv6 ones
//     too, would be activated for IPv4 unicast. Each neighbor is activated
//     in its own family only.
//   - "no bgp ebgp-requires-policy": FRR 8.4 otherwise accepts and sends
//     nothing on eBGP sessions without a route-map (RFC 8212).
//   - "no bgp network import-check": announce Networks whether or not the
//     kernel has a route for them.
//   - multipath-relax and maximum-paths 64 (eBGP and iBGP): several nodes
//     announcing one VIP give one ECMP route, whatever their AS.
//   - route-map portico-in with "set ipv6 next-hop prefer-global": FRR
//     would install the peer's link-local address as the IPv6 next hop; the
//     global one names the node as the lab does.
func renderBGPD(c Config) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("frr defaults datacenter")
	w("hostname %s", c.Host.Name)
	w("!")
	w("router bgp %d", c.ASN)
	w(" bgp router-id %s", c.RouterID)
	w(" no bgp default ipv4-unicast")
	w(" no bgp ebgp-requires-policy")
	w(" no bgp network import-check")
	w(" bgp bestpath as-path multipath-relax")
	for _, n := range c.Neighbors {
		for _, line := range neighborLines(n) {
			w(" %s", line)
		}
	}
	for _, fam := range []Family{IPv4, IPv6} {
		w(" address-family %s unicast", fam)
		w("  maximum-paths 64")
		w("  maximum-paths ibgp 64")
		for _, p := range c.Networks {
			if familyOf(p.Addr()) == fam {
				w("  network %s route-map %s", p, rmAnnounce)
			}
		}
		for _, n := range c.Neighbors {
			if familyOf(n.Addr) == fam {
				for _, line := range activateLines(n) {
					w("  %s", line)
				}
			}
		}
		w(" exit-address-family")
	}
	w("!")
	w("route-map %s permit 10", rmAnnounce)
	if len(c.Communities) > 0 {
		w(" set community %s", strings.Join(c.Communities, " "))
	}
	if len(c.LargeCommunities) > 0 {
		w(" set large-community %s", strings.Join(c.LargeCommunities, " "))
	}
	w("!")
	w("route-map %s permit 10", rmIn)
	w(" set ipv6 next-hop prefer-global")
	w("!")
	return b.String()
}

// neighborLines are the "router bgp" lines that define n.
func neighborLines(n Neighbor) []string {
	l := []string{fmt.Sprintf("neighbor %s remote-as %d", n.Addr, n.ASN)}
	if n.Password != "" {
		l = append(l, fmt.Sprintf("neighbor %s password %s", n.Addr, n.Password))
	}
	if n.EBGPMultihop > 0 {
		l = append(l, fmt.Sprintf("neighbor %s ebgp-multihop %d", n.Addr, n.EBGPMultihop))
	}
	// After ebgp-multihop: bgpd picks single hop or multihop BFD from it.
	if n.BFDProfile != "" {
		l = append(l, fmt.Sprintf("neighbor %s bfd profile %s", n.Addr, n.BFDProfile))
	}
	return l
}

// activateLines are the address-family lines for n, in its family.
func activateLines(n Neighbor) []string {
	l := []string{fmt.Sprintf("neighbor %s activate", n.Addr)}
	if n.Addr.Is6() {
		l = append(l, fmt.Sprintf("neighbor %s route-map %s in", n.Addr, rmIn))
	}
	return l
}

// renderZebra writes zebra's configuration: zebra only needs to exist, to
// put bgpd's routes in the namespace's kernel tables.
func renderZebra(c Config) string {
	return "hostname " + c.Host.Name + "\n!\n"
}

// Family is an address family: IPv4 or IPv6, spelt as FRR's CLI spells it.
type Family string

const (
	IPv4 Family = "ipv4"
	IPv6 Family = "ipv6"
)

func familyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}
