package session

import (
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/portico-lb/portico/speaker/bgp/routes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

var (
	familyV4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	familyV6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
)

func familyOf(a netip.Addr) *api.Family {
	if a.Is4() {
		return familyV4
	}
	return familyV6
}

// toPath encodes a route as a GoBGP path. The next hop is left unspecified
// (0.0.0.0 or ::): GoBGP then sends the session's local address, on iBGP as
// on eBGP, which is this node's address toward the peer in the right
// family. LOCAL_PREF is set only when the plan carries one, which it does
// for iBGP peers only.
func toPath(r routes.Route) (*api.Path, error) {
	fam := familyOf(r.Prefix.Addr())
	nlri, err := anypb.New(&api.IPAddressPrefix{Prefix: r.Prefix.Addr().String(), PrefixLen: uint32(r.Prefix.Bits())})
	if err != nil {
		return nil, err
	}
	attrs := []proto.Message{&api.OriginAttribute{Origin: 0}} // IGP
	if fam == familyV4 {
		attrs = append(attrs, &api.NextHopAttribute{NextHop: "0.0.0.0"})
	} else {
		attrs = append(attrs, &api.MpReachNLRIAttribute{Family: fam, NextHops: []string{"::"}, Nlris: []*anypb.Any{nlri}})
	}
	if len(r.Communities) > 0 {
		attrs = append(attrs, &api.CommunitiesAttribute{Communities: slices.Clone(r.Communities)})
	}
	if len(r.LargeCommunities) > 0 {
		lc := &api.LargeCommunitiesAttribute{}
		for _, c := range r.LargeCommunities {
			lc.Communities = append(lc.Communities, &api.LargeCommunity{GlobalAdmin: c[0], LocalData1: c[1], LocalData2: c[2]})
		}
		attrs = append(attrs, lc)
	}
	if r.HasLocalPref {
		attrs = append(attrs, &api.LocalPrefAttribute{LocalPref: r.LocalPref})
	}
	p := &api.Path{Family: fam, Nlri: nlri}
	for _, a := range attrs {
		x, err := anypb.New(a)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Prefix, err)
		}
		p.Pattrs = append(p.Pattrs, x)
	}
	return p, nil
}

// sameAnnouncement reports whether a and b put the same UPDATE on the
// wire: Addrs and Advertisements are bookkeeping.
func sameAnnouncement(a, b routes.Route) bool {
	return a.Prefix == b.Prefix && slices.Equal(a.Communities, b.Communities) &&
		slices.Equal(a.LargeCommunities, b.LargeCommunities) &&
		a.HasLocalPref == b.HasLocalPref && a.LocalPref == b.LocalPref
}
