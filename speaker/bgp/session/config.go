package session

import (
	"net/netip"
	"time"

	"github.com/go-logr/logr"
	"github.com/portico-lb/portico/config"
)

// PeerConfig is one session's configuration. Two equal PeerConfigs are the
// same session: Apply resets a session only when its PeerConfig changes.
type PeerConfig struct {
	Name    string
	MyASN   uint32
	PeerASN uint32
	Address netip.Addr
	Port    uint16
	// SourceAddress is the zero Addr for the kernel's choice.
	SourceAddress netip.Addr
	// RouterID must be IPv4.
	RouterID      netip.Addr
	HoldTime      time.Duration
	KeepaliveTime time.Duration
	// ConnectTime zero means GoBGP's default.
	ConnectTime     time.Duration
	EBGPMultiHop    bool
	Password        string
	GracefulRestart bool
}

// PeerFor returns the session configuration of p on a node whose IPv4
// InternalIP is nodeIPv4: the router ID defaults to it.
func PeerFor(p *config.BGPPeer, nodeIPv4 netip.Addr) PeerConfig {
	rid := p.RouterID
	if !rid.IsValid() {
		rid = nodeIPv4
	}
	return PeerConfig{
		Name: p.Name, MyASN: p.MyASN, PeerASN: p.PeerASN, Address: p.Address, Port: p.Port,
		SourceAddress: p.SourceAddress, RouterID: rid,
		HoldTime: p.HoldTime, KeepaliveTime: p.KeepaliveTime, ConnectTime: p.ConnectTime,
		EBGPMultiHop: p.EBGPMultiHop, Password: p.Password, GracefulRestart: p.GracefulRestart,
	}
}

// Options configure Sessions.
type Options struct {
	// Logger receives GoBGP's logs, each with the peer's name.
	Logger logr.Logger
	// Now is the clock for Status.Since; default time.Now.
	Now func() time.Time
	// GracefulRestartTime is the restart time advertised to peers with
	// gracefulRestart; default 120s (RFC 4724 suggests at most the hold
	// time's order; FRR's default is 120s).
	GracefulRestartTime time.Duration
}

const defaultGracefulRestartTime = 120 * time.Second

// setOptionsDefaults fills every unset field. It does not validate.
func setOptionsDefaults(o Options) Options {
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.GracefulRestartTime <= 0 {
		o.GracefulRestartTime = defaultGracefulRestartTime
	}
	return o
}
