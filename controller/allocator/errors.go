package allocator

import (
	"errors"
	"fmt"
	"net/netip"
)

// Sentinel errors callers branch on. Each error the allocator returns starts
// with "allocator: " and names the address or pools concerned.
var (
	// ErrFull means none of the pools has a free address of the family left.
	// Releasing an address or growing a pool can cure it.
	ErrFull = errors.New("allocator: no free address")
	// ErrNoFamily means none of the pools (that exist) has a range of the
	// requested family at all. It is kept apart from ErrFull because no
	// release can cure it: the configuration has to change.
	ErrNoFamily = errors.New("allocator: no range of the address family")
	// ErrNotInPools means a requested address lies outside the pools the
	// owner may use, or is an address its pool avoids (.0/.255). Settle's
	// Grant.Pool tells "outside every pool" from "in a pool you may not use".
	ErrNotInPools = errors.New("allocator: address not in the allowed pools")
	// ErrInUse means the address is held by owners that may not share it with
	// the asker. It is always returned wrapped in a *ConflictError.
	ErrInUse = errors.New("allocator: address in use")
)

// errAccounting is returned when the bounded walk finds fewer free addresses
// than the counters promise. It means a broken invariant (for example ranges
// of two pools overlapping), so the allocator fails instead of spinning.
var errAccounting = errors.New("allocator: counters disagree with held addresses")

// ConflictError says why an address cannot be given to an owner. Its Unwrap
// returns ErrInUse.
type ConflictError struct {
	IP      netip.Addr
	Holders []string // keys of the owners holding IP, sorted
	Reason  string   // e.g. "port TCP/80 already used by ns/a"
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("allocator: %s is in use: %s", e.IP, e.Reason)
}

func (e *ConflictError) Unwrap() error { return ErrInUse }

// conflict returns nil when o may hold ip alongside others (which must not
// include o itself). The rule: every holder has the same non-empty
// SharingKey and BackendKey, and no two use the same protocol and port.
func conflict(ip netip.Addr, o Owner, others []Owner) *ConflictError {
	for _, h := range others {
		if reason := refuse(o, h); reason != "" {
			keys := make([]string, len(others))
			for i, x := range others {
				keys[i] = x.Key
			}
			return &ConflictError{IP: ip, Holders: keys, Reason: reason}
		}
	}
	return nil
}

func refuse(o, h Owner) string {
	switch {
	case h.SharingKey == "":
		return fmt.Sprintf("held by %s, which does not share", h.Key)
	case o.SharingKey == "":
		return fmt.Sprintf("held by %s, and %s does not share (no sharing key)", h.Key, o.Key)
	case o.SharingKey != h.SharingKey:
		return fmt.Sprintf("sharing key %q differs from %s's %q", o.SharingKey, h.Key, h.SharingKey)
	case o.BackendKey != h.BackendKey:
		// BackendKey may encode a selector; it is not printed, only named.
		return fmt.Sprintf("backends differ from %s's (sharing needs the same traffic policy and selector)", h.Key)
	}
	for _, p := range o.Ports {
		for _, q := range h.Ports {
			if p == q {
				return fmt.Sprintf("port %s/%d already used by %s", p.Protocol, p.Port, h.Key)
			}
		}
	}
	return ""
}

func notInPools(ip netip.Addr, pools []string, in string) error {
	if in == "" {
		return fmt.Errorf("%w: %s is outside every pool (allowed %q)", ErrNotInPools, ip, pools)
	}
	return fmt.Errorf("%w: %s belongs to pool %q (allowed %q)", ErrNotInPools, ip, in, pools)
}

func avoided(ip netip.Addr, pool string) error {
	return fmt.Errorf("%w: %s ends in .0 or .255 and pool %q avoids such addresses", ErrNotInPools, ip, pool)
}

func family(is6 bool) string {
	if is6 {
		return "IPv6"
	}
	return "IPv4"
}
