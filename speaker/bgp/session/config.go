package session

import (
	"net/netip"
	"time"

	"github.com/go-logr/logr"
	"github.com/portico-lb/portico/config"
)

// PeerConfig is one session's configuration. Apply resets a session only
// when its PeerConfig changes outside BFD (see compare).
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
	// BFD is nil for a session without BFD. It is shared with the model,
	// which is immutable.
	BFD *config.BFD
}

// change is what a new PeerConfig asks of a running session.
type change int

const (
	unchanged change = iota
	// bfdChanged: only BFD differs (its timers, passive, or BFD turned on
	// or off). The BGP session stays up: BFD agrees on new timers with a
	// poll sequence (RFC 5880 §6.8.3) without going Down, and turning BFD
	// on or off changes what may take the session down, not the session.
	bfdChanged
	// sessionChanged: something GoBGP was configured with differs, and
	// only a new session applies it.
	sessionChanged
)

// compare says what going from old to new asks of the session. It is the
// one place that knows which fields GoBGP holds: every field but BFD.
func compare(old, new PeerConfig) change {
	oldBFD, newBFD := old.BFD, new.BFD
	old.BFD, new.BFD = nil, nil
	switch {
	case old != new:
		return sessionChanged
	case (oldBFD == nil) != (newBFD == nil) || oldBFD != nil && *oldBFD != *newBFD:
		return bfdChanged
	}
	return unchanged
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
		BFD: p.BFD,
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
