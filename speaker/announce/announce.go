// Package announce holds what the speaker and its announcers (layer2 today,
// bgp next) hand each other: the desired state of this node, decided by the
// election, and each announcer's status per address, from which the speaker
// writes the Service conditions.
//
// It is data only, with no imports beyond net/netip, so that an announcer
// can implement speaker.Announcer without importing the speaker, the
// election or any Kubernetes or Portico API package.
package announce

import "net/netip"

// Desired is one node's desired state: an entry for every address this node
// is elected or eligible to announce. Keys are unmapped and without zone.
type Desired map[netip.Addr]Want

// Want is what one address asks of this node.
type Want struct {
	// Elected is set on the one node that announces the address in layer 2,
	// where two answering nodes would split the traffic.
	Elected bool
	// Eligible is set on every node that may announce the address: the
	// alive nodes the election chose among. An elected node is eligible.
	// Methods that announce from every eligible node (BGP) read it.
	Eligible bool
	// Interfaces, sorted, are the only interfaces to announce the address
	// on; nil means any interface whose subnet holds it.
	Interfaces []string
}

// Elected returns the addresses d elects this node for, each with its
// interfaces: the share of an announcer that needs one node per address.
func (d Desired) Elected() map[netip.Addr][]string {
	out := make(map[netip.Addr][]string, len(d))
	for ip, w := range d {
		if w.Elected {
			out[ip] = w.Interfaces
		}
	}
	return out
}

// Status is what one announcer reports for one address it is responsible
// for.
type Status struct {
	// Announced is set while the announcer makes the address reachable.
	Announced bool
	// Method names how, for the Service condition, for example "ARP/NDP".
	Method string
	// Interfaces are where it announces or would announce; nil means any
	// interface whose subnet holds the address.
	Interfaces []string
	// Why says, when not Announced, what keeps it from announcing, in words
	// for a Service condition.
	Why string
}
