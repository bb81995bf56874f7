package session

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"github.com/portico-lb/portico/speaker/bgp/routes"
)

// noListener is GoBGP's ListenPort for "accept no connection": every
// session dials out, and the node opens no BGP port.
const noListener = -1

// gobgp is one GoBGP server and the logger it was created with. GoBGP v3's
// Serve never returns, so a server once made lives as long as the process:
// Sessions keeps stopped ones and starts them again for the next peer.
type gobgp struct {
	srv *server.BgpServer
	log *logger
}

func newGoBGP() *gobgp {
	lg := &logger{}
	g := &gobgp{srv: server.NewBgpServer(server.LoggerOption(lg)), log: lg}
	go g.srv.Serve()
	return g
}

// peer is one session: a GoBGP server of its own with one neighbor.
type peer struct {
	cfg PeerConfig
	*gobgp
	now    func() time.Time
	notify func()             // Sessions.notify, after a state change
	cancel context.CancelFunc // ends the state watch
	// installed are the routes announced, by prefix.
	installed map[netip.Prefix]routes.Route

	mu    sync.Mutex // guards state and since, written by the watch
	state string
	since time.Time
}

// startPeer starts the session of c on g, a stopped server. On error g is
// stopped again and can be reused.
func startPeer(ctx context.Context, g *gobgp, c PeerConfig, o Options, notify func()) (*peer, error) {
	if !c.RouterID.Is4() {
		return nil, fmt.Errorf("router ID %v is not an IPv4 address (set routerID or the node's IPv4 InternalIP)", c.RouterID)
	}
	g.log.bind(o.Logger, c, notify)
	p := &peer{
		cfg: c, gobgp: g, now: o.Now, notify: notify,
		installed: map[netip.Prefix]routes.Route{},
		state:     "Idle", since: o.Now(),
	}
	err := g.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: c.MyASN, RouterId: c.RouterID.String(), ListenPort: noListener,
	}})
	if err != nil {
		return nil, fmt.Errorf("starting GoBGP: %w", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if err := g.srv.WatchEvent(wctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, p.onEvent); err != nil {
		_ = p.stop(ctx)
		return nil, fmt.Errorf("watching GoBGP: %w", err)
	}
	if err := g.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: neighbor(c, o.GracefulRestartTime)}); err != nil {
		_ = p.stop(ctx)
		return nil, fmt.Errorf("adding the neighbor: %w", err)
	}
	return p, nil
}

// neighbor is the GoBGP neighbor configuration of c.
func neighbor(c PeerConfig, grTime time.Duration) *api.Peer {
	fam := familyOf(c.Address)
	n := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: c.Address.String(), PeerAsn: c.PeerASN, LocalAsn: c.MyASN, AuthPassword: c.Password},
		Transport: &api.Transport{
			RemotePort: uint32(c.Port),
			// Dial out; with no listener a passive session would never come up.
			PassiveMode: false,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime: uint64(c.HoldTime / time.Second), KeepaliveInterval: uint64(c.KeepaliveTime / time.Second),
			ConnectRetry: uint64(c.ConnectTime / time.Second),
		}},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
	}
	if c.SourceAddress.IsValid() {
		n.Transport.LocalAddress = c.SourceAddress.String()
	}
	if c.EBGPMultiHop {
		n.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: 255}
	}
	if c.GracefulRestart {
		n.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: uint32(grTime / time.Second)}
		n.AfiSafis[0].MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
	}
	return n
}

func (p *peer) onEvent(r *api.WatchEventResponse) {
	ev := r.GetPeer()
	if ev == nil || ev.Type != api.WatchEventResponse_PeerEvent_STATE {
		return
	}
	st := stateName(ev.GetPeer().GetState().GetSessionState())
	p.mu.Lock()
	changed := st != p.state
	if changed {
		p.state, p.since = st, p.now()
	}
	p.mu.Unlock()
	if changed {
		p.notify()
	}
}

// stateName is RFC 4271's name of a GoBGP session state.
func stateName(s api.PeerState_SessionState) string {
	switch s {
	case api.PeerState_IDLE:
		return "Idle"
	case api.PeerState_CONNECT:
		return "Connect"
	case api.PeerState_ACTIVE:
		return "Active"
	case api.PeerState_OPENSENT:
		return "OpenSent"
	case api.PeerState_OPENCONFIRM:
		return "OpenConfirm"
	case api.PeerState_ESTABLISHED:
		return "Established"
	}
	return strings.ToTitle(s.String())
}

// announce installs rs: withdraws what is no longer wanted, adds what is
// new or changed. GoBGP replaces a path of the same prefix from the same
// source, so a changed route is one AddPath.
func (p *peer) announce(ctx context.Context, rs []routes.Route) error {
	want := make(map[netip.Prefix]routes.Route, len(rs))
	for _, r := range rs {
		want[r.Prefix] = r
	}
	var errs []error
	for pfx, old := range p.installed {
		if _, ok := want[pfx]; ok {
			continue
		}
		path, err := toPath(old)
		if err == nil {
			err = p.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: path.Family, Path: path})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("withdrawing %s: %w", pfx, err))
			continue
		}
		delete(p.installed, pfx)
	}
	for _, r := range rs {
		if old, ok := p.installed[r.Prefix]; ok && sameAnnouncement(old, r) {
			p.installed[r.Prefix] = r
			continue
		}
		path, err := toPath(r)
		if err == nil {
			_, err = p.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("announcing %s: %w", r.Prefix, err))
			continue
		}
		p.installed[r.Prefix] = r
	}
	return errors.Join(errs...)
}

func (p *peer) status(ctx context.Context) Status {
	p.mu.Lock()
	st := Status{Peer: p.cfg.Name, State: p.state, Since: p.since, Routes: len(p.installed)}
	p.mu.Unlock()
	st.LastError = p.log.lastError()
	_ = p.srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(n *api.Peer) {
		for _, af := range n.GetAfiSafis() {
			st.PrefixesSent += int(af.GetState().GetAdvertised())
		}
		st.UpdatesSent = n.GetState().GetMessages().GetSent().GetUpdate()
	})
	return st
}

// stop sends the peer a Cease NOTIFICATION (GoBGP's StopBgp deletes the
// neighbor with Peer De-configured) and leaves the server stopped, its RIB
// to be replaced by the next StartBgp.
func (p *peer) stop(ctx context.Context) error {
	p.cancel()
	return p.srv.StopBgp(ctx, &api.StopBgpRequest{})
}
