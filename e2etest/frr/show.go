package frr

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Path is one BGP path to a prefix, as bgpd holds it.
type Path struct {
	Peer             netip.Addr   // who sent it; invalid for the instance's own networks
	NextHops         []netip.Addr // in FRR's order: global, then link-local for IPv6; none for a local path
	ASPath           string       // "64513 64514"; "" when empty (FRR says "Local")
	Communities      []string     // "64513:100"
	LargeCommunities []string     // "64513:1:2"
	LocalPref        uint32       // as received, or bgpd's default when the path carries none (eBGP)
	Best             bool
	Multipath        bool // one of several paths bgpd installs (ECMP)
	Valid            bool
	// Stale: the peer's session went away with graceful restart
	// negotiated, and bgpd keeps the path until the peer's End-of-RIB or
	// the restart timer (RFC 4724 §4.2).
	Stale bool
}

// Routes returns bgpd's table for one family: prefix → paths. It reads
// "show bgp <family> unicast json detail"; FRR 8.4's table without detail
// leaves out communities and local preference.
func (r *Router) Routes(ctx context.Context, fam Family) (map[netip.Prefix][]Path, error) {
	out, err := r.vty(ctx, "bgpd", fmt.Sprintf("show bgp %s unicast json detail", fam))
	if err != nil {
		return nil, fmt.Errorf("frr: %w", err)
	}
	routes, err := parseRoutes(out)
	if err != nil {
		return nil, fmt.Errorf("frr: %s: %w", r.Host.Name, err)
	}
	return routes, nil
}

// The JSON of "show bgp … json detail" in FRR 8.4. Each prefix's array
// starts with one element about the prefix itself (prefix, advertisedTo)
// and goes on with the paths.
type jsonTable struct {
	DefaultLocPrf uint32                       `json:"defaultLocPrf"`
	Routes        map[string][]json.RawMessage `json:"routes"`
}

type jsonPath struct {
	Prefix string `json:"prefix"` // set only in the per-prefix element
	ASPath struct {
		String string `json:"string"`
	} `json:"aspath"`
	Community struct {
		List []string `json:"list"`
	} `json:"community"`
	LargeCommunity struct {
		List []string `json:"list"`
	} `json:"largeCommunity"`
	LocPrf   *uint32 `json:"locPrf"`
	Valid    bool    `json:"valid"`
	Stale    bool    `json:"stale"`
	Multi    bool    `json:"multipath"`
	BestPath struct {
		Overall bool `json:"overall"`
	} `json:"bestpath"`
	NextHops []struct {
		IP string `json:"ip"`
	} `json:"nexthops"`
	Peer struct {
		PeerID string `json:"peerId"`
	} `json:"peer"`
}

// parseRoutes decodes "show bgp <family> unicast json detail".
func parseRoutes(out []byte) (map[netip.Prefix][]Path, error) {
	var t jsonTable
	if err := json.Unmarshal(out, &t); err != nil {
		return nil, fmt.Errorf("bgp table: %w", err)
	}
	routes := make(map[netip.Prefix][]Path, len(t.Routes))
	for key, elems := range t.Routes {
		pfx, err := netip.ParsePrefix(key)
		if err != nil {
			return nil, fmt.Errorf("bgp table: prefix %q: %w", key, err)
		}
		var paths []Path
		for _, raw := range elems {
			var jp jsonPath
			if err := json.Unmarshal(raw, &jp); err != nil {
				return nil, fmt.Errorf("bgp table: %s: %w", pfx, err)
			}
			if jp.Prefix != "" {
				continue // the prefix's own element, not a path
			}
			p := Path{
				ASPath: strings.TrimPrefix(jp.ASPath.String, "Local"), Communities: jp.Community.List, LargeCommunities: jp.LargeCommunity.List,
				LocalPref: t.DefaultLocPrf, Best: jp.BestPath.Overall, Multipath: jp.Multi, Valid: jp.Valid, Stale: jp.Stale,
			}
			if jp.LocPrf != nil {
				p.LocalPref = *jp.LocPrf
			}
			// Local paths name no peer, or 0.0.0.0 / ::.
			if a, err := netip.ParseAddr(jp.Peer.PeerID); err == nil && !a.IsUnspecified() {
				p.Peer = a
			}
			for _, nh := range jp.NextHops {
				a, err := netip.ParseAddr(nh.IP)
				if err != nil {
					return nil, fmt.Errorf("bgp table: %s: next hop %q: %w", pfx, nh.IP, err)
				}
				if !a.IsUnspecified() { // a local path's 0.0.0.0 or ::
					p.NextHops = append(p.NextHops, a)
				}
			}
			paths = append(paths, p)
		}
		routes[pfx] = paths
	}
	return routes, nil
}

// Session is the state of one BGP neighbor.
type Session struct {
	State     string // "Established", "Active", "Connect", "Idle", …
	RemoteASN uint32
	// Uptime is how long the session has been Established (FRR 8.4 counts
	// whole seconds); 0 when it is not.
	Uptime time.Duration
	// RemoteGRMode is the peer's graceful-restart role as bgpd sees it:
	// "Restart" when the peer asked bgpd to keep its routes across a
	// restart for RestartFamilies, "Helper" when it only offers to keep
	// bgpd's, "" without the capability.
	RemoteGRMode string
	// RestartFamilies are the families the peer's graceful-restart
	// capability covers, as FRR names them ("ipv4Unicast"), sorted.
	RestartFamilies []string
}

// Neighbors returns every configured neighbor's session, from "show bgp
// neighbors json".
func (r *Router) Neighbors(ctx context.Context) (map[netip.Addr]Session, error) {
	out, err := r.vty(ctx, "bgpd", "show bgp neighbors json")
	if err != nil {
		return nil, fmt.Errorf("frr: %w", err)
	}
	s, err := parseNeighbors(out)
	if err != nil {
		return nil, fmt.Errorf("frr: %s: %w", r.Host.Name, err)
	}
	return s, nil
}

// parseNeighbors decodes "show bgp neighbors json". Keys that are not
// addresses (unnumbered neighbors named by interface) are left out: the
// lab configures none.
func parseNeighbors(out []byte) (map[netip.Addr]Session, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("bgp neighbors: %w", err)
	}
	s := make(map[netip.Addr]Session, len(m))
	for key, raw := range m {
		a, err := netip.ParseAddr(key)
		if err != nil {
			continue
		}
		var n struct {
			State    string `json:"bgpState"`
			RemoteAs uint32 `json:"remoteAs"`
			UpMsec   int64  `json:"bgpTimerUpMsec"`
			Caps     struct {
				// "none", or an object keyed by family.
				Families json.RawMessage `json:"addressFamiliesByPeer"`
			} `json:"neighborCapabilities"`
			GR struct {
				RemoteMode string `json:"remoteGrMode"`
			} `json:"gracefulRestartInfo"`
		}
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, fmt.Errorf("bgp neighbors: %s: %w", a, err)
		}
		sess := Session{State: n.State, RemoteASN: n.RemoteAs, RemoteGRMode: n.GR.RemoteMode}
		var fams map[string]json.RawMessage
		if json.Unmarshal(n.Caps.Families, &fams) == nil { // else "none" or absent
			sess.RestartFamilies = slices.Sorted(maps.Keys(fams))
		}
		if n.State == "Established" {
			sess.Uptime = time.Duration(n.UpMsec) * time.Millisecond
		}
		s[a] = sess
	}
	return s, nil
}
