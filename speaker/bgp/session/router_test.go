package session_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"
)

// router is a real GoBGP v3 server in the test process playing the ToR: it
// listens on a loopback port and waits for Portico's speaker to dial in.
type router struct {
	srv  *server.BgpServer
	addr netip.Addr
	port uint16
}

// newRouter starts a router of AS asn listening on addr (127.0.0.1 or ::1)
// for one passive neighbor, the speaker at addr, of AS speakerASN; mod
// changes that neighbor.
func newRouter(t *testing.T, asn uint32, addr string, speakerASN uint32, mod ...func(*api.Peer)) *router {
	t.Helper()
	r := &router{srv: server.NewBgpServer(), addr: netip.MustParseAddr(addr), port: freePort(t, addr)}
	go r.srv.Serve()
	ctx := context.Background()
	if err := r.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: fmt.Sprintf("10.255.0.%d", r.port%250+1), ListenPort: int32(r.port), ListenAddresses: []string{addr},
	}}); err != nil {
		t.Fatalf("router: StartBgp: %v", err)
	}
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if r.addr.Is6() {
		fam = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
	}
	n := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: addr, PeerAsn: speakerASN},
		Transport: &api.Transport{PassiveMode: true},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
	}
	for _, f := range mod {
		f(n)
	}
	if err := r.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: n}); err != nil {
		t.Fatalf("router: AddPeer: %v", err)
	}
	t.Cleanup(r.srv.Stop)
	return r
}

// freePort returns a TCP port that was free on addr a moment ago.
func freePort(t *testing.T, addr string) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Skipf("no loopback listener on %s: %v", addr, err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// seen is one route as the router received it.
type seen struct {
	NextHop          string
	Communities      []uint32
	LargeCommunities [][3]uint32
	LocalPref        uint32
	HasLocalPref     bool
}

// routes returns what the router holds, by prefix.
func (r *router) routes(t *testing.T) map[netip.Prefix]seen {
	t.Helper()
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if r.addr.Is6() {
		fam = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
	}
	out := map[netip.Prefix]seen{}
	err := r.srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: fam}, func(d *api.Destination) {
		for _, p := range d.Paths {
			if p.IsWithdraw {
				continue
			}
			out[netip.MustParsePrefix(d.Prefix)] = decode(t, p.Pattrs)
		}
	})
	if err != nil {
		t.Fatalf("router: ListPath: %v", err)
	}
	return out
}

func decode(t *testing.T, attrs []*anypb.Any) seen {
	var s seen
	for _, a := range attrs {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatalf("router: attribute %s: %v", a.TypeUrl, err)
		}
		switch v := m.(type) {
		case *api.NextHopAttribute:
			s.NextHop = v.NextHop
		case *api.MpReachNLRIAttribute:
			s.NextHop = v.NextHops[0]
		case *api.CommunitiesAttribute:
			s.Communities = slices.Clone(v.Communities)
		case *api.LargeCommunitiesAttribute:
			for _, c := range v.Communities {
				s.LargeCommunities = append(s.LargeCommunities, [3]uint32{c.GlobalAdmin, c.LocalData1, c.LocalData2})
			}
		case *api.LocalPrefAttribute:
			s.LocalPref, s.HasLocalPref = v.LocalPref, true
		}
	}
	return s
}

// remoteCaps returns the capabilities the speaker sent, by type name.
func (r *router) remoteCaps(t *testing.T) []string {
	t.Helper()
	var out []string
	err := r.srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		for _, c := range p.GetState().GetRemoteCap() {
			out = append(out, c.TypeUrl[strings.LastIndex(c.TypeUrl, ".")+1:])
		}
	})
	if err != nil {
		t.Fatalf("router: ListPeer: %v", err)
	}
	return out
}

// session returns the router's view of its neighbor: state and when it
// was last established.
func (r *router) session(t *testing.T) (api.PeerState_SessionState, time.Time) {
	t.Helper()
	var (
		st api.PeerState_SessionState
		up time.Time
	)
	err := r.srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		st = p.GetState().GetSessionState()
		if u := p.GetTimers().GetState().GetUptime(); u != nil {
			up = u.AsTime()
		}
	})
	if err != nil {
		t.Fatalf("router: ListPeer: %v", err)
	}
	return st, up
}

// eventually polls cond every 20ms until it returns nil or timeout
// passes, and fails the test with cond's last error then. It returns how
// long it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
