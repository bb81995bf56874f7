package config

import (
	"math"
	"net/netip"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Defaults and limits of BGPPeer fields. The default hold time and
// keepalive are RFC 4271's suggested values; its timers are 16-bit seconds.
const (
	defaultPeerPort  = 179
	defaultHoldTime  = 90 * time.Second
	minHoldTime      = 3 * time.Second // RFC 4271: zero or at least three seconds
	maxTimer         = math.MaxUint16 * time.Second
	passwordKey      = "password"
	minConnectTime   = time.Second
	keepalivePerHold = 3
)

// Defaults and limits of a BGPPeer's BFD. 300ms × 3 detects a failure in
// under a second without a real-time scheduler; 10ms to 60s and a multiplier
// of 2 to 255 are what routers commonly accept (FRR's bfdd among them), and
// a multiplier of 1 would take BGP down for one lost packet. The wire carries
// intervals in microseconds (RFC 5880 §4.1).
const (
	defaultBFDInterval   = 300 * time.Millisecond
	defaultBFDMultiplier = 3
	minBFDInterval       = 10 * time.Millisecond
	maxBFDInterval       = 60 * time.Second
	bfdIntervalUnit      = time.Microsecond
	minBFDMultiplier     = 2
	maxBFDMultiplier     = math.MaxUint8
)

// BGPPeer is a validated BGPPeer with its defaults applied and its password
// resolved. It must not be modified.
type BGPPeer struct {
	Name    string
	MyASN   uint32
	PeerASN uint32
	Address netip.Addr
	Port    uint16
	// SourceAddress is the zero Addr when unset.
	SourceAddress netip.Addr
	// RouterID is the zero Addr when unset: the speaker uses its node's address.
	RouterID netip.Addr
	// HoldTime zero means the session sends no keepalives.
	HoldTime      time.Duration
	KeepaliveTime time.Duration
	// ConnectTime zero means the BGP implementation's default.
	ConnectTime  time.Duration
	EBGPMultiHop bool
	// Password is the TCP MD5 password, empty for none. Never log it.
	Password string
	// NodeSelectors select the nodes that open the session; empty means all.
	NodeSelectors   []labels.Selector
	GracefulRestart bool
	// BFD is nil when the session runs without BFD.
	BFD *BFD
}

// BFD is a session's BFD with its defaults applied. It is a comparable
// value, apart from the rest of the peer, so that the speaker can tell a
// change of BFD alone (renegotiated with a poll sequence, RFC 5880 §6.8.3,
// while the BGP session stays up) from a change of the session.
type BFD struct {
	// ReceiveInterval is the Required Min RX Interval, TransmitInterval the
	// Desired Min TX Interval: whole microseconds, 10ms to 60s.
	ReceiveInterval  time.Duration
	TransmitInterval time.Duration
	DetectMultiplier uint8
	// Passive waits for the peer's first packet before sending.
	Passive bool
	// Multihop is RFC 5883 (UDP 4784) instead of single hop (RFC 5881,
	// UDP 3784, TTL 255); it follows the peer's EBGPMultiHop, so it can
	// change only with the session.
	Multihop bool
}

// peerInputs is what validating a BGPPeer needs besides the object itself.
type peerInputs struct {
	secrets          []corev1.Secret
	installNamespace string
	nodes            []corev1.Node
}

// buildPeer validates one BGPPeer spec, the one written or the last valid
// one. It returns nil when the spec has errors.
func buildPeer(name string, spec *v1beta1.BGPPeerSpec, env peerInputs) (*BGPPeer, []Problem) {
	o := object{kindPeer, name}
	var problems []Problem
	p := &BGPPeer{
		Name:            name,
		EBGPMultiHop:    spec.EBGPMultiHop,
		GracefulRestart: spec.GracefulRestart,
	}

	var ok bool
	if p.MyASN, ok = asn(spec.MyASN); !ok {
		problems = append(problems, o.errorf("spec.myASN", v1beta1.ReasonInvalid, "%d is not an AS number (1 to 4294967295)", spec.MyASN))
	}
	if p.PeerASN, ok = asn(spec.PeerASN); !ok {
		problems = append(problems, o.errorf("spec.peerASN", v1beta1.ReasonInvalid, "%d is not an AS number (1 to 4294967295)", spec.PeerASN))
	}

	var ps []Problem
	p.Address, ps = parseHostAddr(o, "spec.peerAddress", spec.PeerAddress)
	problems = append(problems, ps...)
	switch {
	case spec.PeerPort == 0:
		p.Port = defaultPeerPort
	case spec.PeerPort < 0 || spec.PeerPort > math.MaxUint16:
		problems = append(problems, o.errorf("spec.peerPort", v1beta1.ReasonInvalid, "%d is not a TCP port", spec.PeerPort))
	default:
		p.Port = uint16(spec.PeerPort)
	}
	if spec.SourceAddress != "" {
		p.SourceAddress, ps = parseHostAddr(o, "spec.sourceAddress", spec.SourceAddress)
		problems = append(problems, ps...)
		if len(ps) == 0 && p.Address.IsValid() && p.SourceAddress.Is4() != p.Address.Is4() {
			problems = append(problems, o.errorf("spec.sourceAddress", v1beta1.ReasonInvalid,
				"%s and the peer address %s are of different families", p.SourceAddress, p.Address))
		}
	}
	if spec.RouterID != "" {
		p.RouterID, ps = parseHostAddr(o, "spec.routerID", spec.RouterID)
		problems = append(problems, ps...)
		if len(ps) == 0 && !p.RouterID.Is4() {
			problems = append(problems, o.errorf("spec.routerID", v1beta1.ReasonInvalid, "%s is not an IPv4 address; a router ID is 32 bits", p.RouterID))
		}
	}

	p.HoldTime, p.KeepaliveTime, p.ConnectTime, ps = peerTimers(o, spec)
	problems = append(problems, ps...)

	p.BFD, ps = bfd(o, spec.BFD, spec.EBGPMultiHop)
	problems = append(problems, ps...)

	p.Password, ps = password(o, spec.PasswordSecret, env)
	problems = append(problems, ps...)

	p.NodeSelectors, ps = parseSelectors(o, "spec.nodeSelectors", spec.NodeSelectors)
	problems = append(problems, ps...)
	problems = append(problems, nodeSelectorWarnings(o, spec.NodeSelectors, p.NodeSelectors, env.nodes)...)

	if hasError(problems) {
		return nil, problems
	}
	return p, problems
}

func asn(n int64) (uint32, bool) {
	if n < 1 || n > math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}

// parseHostAddr accepts one unicast address. Zones and IPv4-mapped IPv6 are
// refused: the first names an interface of one node only, the second is an
// IPv4 address in disguise that would be given the wrong family.
func parseHostAddr(o object, field, s string) (netip.Addr, []Problem) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return netip.Addr{}, []Problem{o.errorf(field, v1beta1.ReasonInvalid, "%q is not an IP address", s)}
	case a.Zone() != "" || a.Is4In6():
		return netip.Addr{}, []Problem{o.errorf(field, v1beta1.ReasonInvalid, "%q: zones and IPv4-mapped IPv6 addresses are not allowed", s)}
	case a.IsUnspecified() || a.IsMulticast():
		return netip.Addr{}, []Problem{o.errorf(field, v1beta1.ReasonInvalid, "%s is not a unicast address", a)}
	}
	return a, nil
}

// peerTimers fills in and checks the session timers: holdTime defaults to 90s
// and keepaliveTime to a third of the hold time, as RFC 4271 suggests.
func peerTimers(o object, spec *v1beta1.BGPPeerSpec) (hold, keepalive, connect time.Duration, problems []Problem) {
	hold = defaultHoldTime
	if spec.HoldTime != nil {
		hold = spec.HoldTime.Duration
		if hold != 0 && (hold < minHoldTime || hold > maxTimer) {
			problems = append(problems, o.errorf("spec.holdTime", v1beta1.ReasonInvalid, "%s must be 0 or between %s and %s", hold, minHoldTime, maxTimer))
		}
	}
	keepalive = hold / keepalivePerHold
	if spec.KeepaliveTime != nil {
		keepalive = spec.KeepaliveTime.Duration
		switch {
		case hold == 0 && keepalive != 0:
			problems = append(problems, o.errorf("spec.keepaliveTime", v1beta1.ReasonInvalid, "%s must be 0 when holdTime is 0", keepalive))
		case hold != 0 && (keepalive <= 0 || keepalive >= hold):
			problems = append(problems, o.errorf("spec.keepaliveTime", v1beta1.ReasonInvalid, "%s must be more than 0 and less than holdTime (%s)", keepalive, hold))
		}
	}
	if spec.ConnectTime != nil {
		connect = spec.ConnectTime.Duration
		if connect < minConnectTime || connect > maxTimer {
			problems = append(problems, o.errorf("spec.connectTime", v1beta1.ReasonInvalid, "%s must be between %s and %s", connect, minConnectTime, maxTimer))
		}
	}
	return hold, keepalive, connect, problems
}

// bfd fills in and checks a peer's BFD block; nil stays nil (no BFD). The
// API server checks the same bounds, but a recorded last valid version or
// an object written before the rules existed reaches here unchecked.
func bfd(o object, spec *v1beta1.BGPPeerBFD, multihop bool) (*BFD, []Problem) {
	if spec == nil {
		return nil, nil
	}
	b := &BFD{
		ReceiveInterval:  defaultBFDInterval,
		TransmitInterval: defaultBFDInterval,
		DetectMultiplier: defaultBFDMultiplier,
		Passive:          spec.Passive,
		Multihop:         multihop,
	}
	var problems []Problem
	interval := func(field string, d *metav1.Duration, into *time.Duration) {
		if d == nil {
			return
		}
		switch v := d.Duration; {
		case v < minBFDInterval || v > maxBFDInterval:
			problems = append(problems, o.errorf(field, v1beta1.ReasonInvalid, "%s must be between %s and %s", v, minBFDInterval, maxBFDInterval))
		case v%bfdIntervalUnit != 0:
			problems = append(problems, o.errorf(field, v1beta1.ReasonInvalid, "%s is not a whole number of microseconds, the unit of BFD intervals", v))
		default:
			*into = v
		}
	}
	interval("spec.bfd.receiveInterval", spec.ReceiveInterval, &b.ReceiveInterval)
	interval("spec.bfd.transmitInterval", spec.TransmitInterval, &b.TransmitInterval)
	if m := spec.DetectMultiplier; m != nil {
		if *m < minBFDMultiplier || *m > maxBFDMultiplier {
			problems = append(problems, o.errorf("spec.bfd.detectMultiplier", v1beta1.ReasonInvalid, "%d must be between %d and %d", *m, minBFDMultiplier, maxBFDMultiplier))
		} else {
			b.DetectMultiplier = uint8(*m)
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return b, nil
}

// password resolves the TCP MD5 password from its Secret. A reference without
// a namespace means Portico's own namespace.
func password(o object, ref *v1beta1.SecretReference, env peerInputs) (string, []Problem) {
	const field = "spec.passwordSecret"
	if ref == nil {
		return "", nil
	}
	if ref.Name == "" {
		return "", []Problem{o.errorf(field+".name", v1beta1.ReasonInvalid, "the Secret name is empty")}
	}
	ns := ref.Namespace
	if ns == "" {
		ns = env.installNamespace
	}
	for i := range env.secrets {
		s := &env.secrets[i]
		if s.Name != ref.Name || s.Namespace != ns {
			continue
		}
		pw, ok := s.Data[passwordKey]
		if !ok {
			// StringData is write-only in the API server, but objects
			// built in code (tests, dry runs) may carry it.
			var str string
			str, ok = s.StringData[passwordKey]
			pw = []byte(str)
		}
		switch {
		case !ok:
			return "", []Problem{o.errorf(field, v1beta1.ReasonInvalid, "Secret %q has no %q key", ns+"/"+ref.Name, passwordKey)}
		case len(pw) == 0:
			return "", []Problem{o.errorf(field, v1beta1.ReasonInvalid, "Secret %q has an empty %q", ns+"/"+ref.Name, passwordKey)}
		}
		return string(pw), nil
	}
	return "", []Problem{o.errorf(field, v1beta1.ReasonSecretNotFound, "Secret %q not found", ns+"/"+ref.Name)}
}
