package ipam

import (
	"net/netip"

	"github.com/portico-lb/portico/config"
	"github.com/portico-lb/portico/controller/allocator"
)

// Request is what a Service asks for, already parsed from its spec and annotations.
type Request struct {
	// Owner identifies the Service and its sharing constraints.
	Owner allocator.Owner
	// Info is what pool policy (namespaces, selectors) needs.
	Info config.ServiceInfo
	// Families lists the IP families wanted, in the Service's order
	// (false = IPv4, true = IPv6).
	Families []bool
	// RequireAll is true unless the Service prefers but does not require dual-stack.
	RequireAll bool
	// Requested addresses, at most one per family; empty means automatic.
	Requested []netip.Addr
	// Pool is the pool the Service names, or empty.
	Pool string
	// Invalid says why the Service's request cannot be read, or is empty.
	// An invalid request keeps what the Service holds and gets nothing new.
	Invalid string
}

// Decision is the outcome for one Service.
type Decision struct {
	// Addrs are the addresses the Service holds, in its family order, with
	// the pool each came from.
	Addrs []netip.Addr
	Pools []string
	// Assigned is true when the Service has the addresses it needs (for
	// PreferDualStack, at least one). When it is false, Addrs are what the
	// Service keeps meanwhile: nothing, except for an invalid request.
	Assigned bool
	// LeaveStatus is true when the Service's current status must be left
	// alone (its address is a duplicate found at start-up, reported, not
	// fixed).
	LeaveStatus bool
	// Reason and Message explain the outcome for the Service's condition.
	Reason  string
	Message string
	// Note says why the Service lost an address it held, once, on the
	// decision that moved it; the reconciler keeps it in the condition for
	// as long as the decision stands.
	Note string
}

// Explanation is the Message with the Note, as the Service's condition and
// Events say it.
func (d Decision) Explanation() string {
	if d.Note == "" {
		return d.Message
	}
	return d.Message + " (" + d.Note + ")"
}
