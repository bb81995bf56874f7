package frr

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
)

// BFDProfile is a bfdd profile ("bfd" → "profile NAME"): the timers of
// every BFD session of the neighbors that name it (Neighbor.BFDProfile).
// bfdd runs only in instances whose Config has a profile, so node
// namespaces that also run Portico's speaker keep UDP 3784 and 4784 free.
type BFDProfile struct {
	Name string
	// ReceiveInterval (Required Min RX) and TransmitInterval (Desired Min
	// TX): whole milliseconds from 10ms to 60s, FRR's range. Zero means
	// FRR's default, 300ms.
	ReceiveInterval, TransmitInterval time.Duration
	// DetectMultiplier is 2 to 255; 0 means FRR's default, 3.
	DetectMultiplier int
	// Passive waits for the peer's first packet before sending.
	Passive bool
}

// FRR 8.4's bfdd defaults and limits (doc/user/bfd.rst).
const (
	bfdDefaultInterval   = 300 * time.Millisecond
	bfdDefaultMultiplier = 3
	bfdMinInterval       = 10 * time.Millisecond
	bfdMaxInterval       = 60 * time.Second
)

// bfdProfileRE keeps a profile name one word of FRR's CLI.
var bfdProfileRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// setBFDProfileDefaults fills FRR's defaults in, so that every line of the
// profile is written and an edit (SetBFDProfile) leaves nothing of the old
// settings behind, and validates p.
func setBFDProfileDefaults(p BFDProfile) (BFDProfile, error) {
	if !bfdProfileRE.MatchString(p.Name) {
		return p, fmt.Errorf("BFD profile %q: want a name of letters, digits, '.', '_' and '-'", p.Name)
	}
	for _, iv := range []struct {
		name string
		d    *time.Duration
	}{{"receive", &p.ReceiveInterval}, {"transmit", &p.TransmitInterval}} {
		if *iv.d == 0 {
			*iv.d = bfdDefaultInterval
		}
		if *iv.d < bfdMinInterval || *iv.d > bfdMaxInterval || *iv.d%time.Millisecond != 0 {
			return p, fmt.Errorf("BFD profile %s: %s interval %s: want whole milliseconds from %s to %s", p.Name, iv.name, *iv.d, bfdMinInterval, bfdMaxInterval)
		}
	}
	if p.DetectMultiplier == 0 {
		p.DetectMultiplier = bfdDefaultMultiplier
	}
	if p.DetectMultiplier < 2 || p.DetectMultiplier > 255 {
		return p, fmt.Errorf("BFD profile %s: detect multiplier %d: want 2 to 255", p.Name, p.DetectMultiplier)
	}
	return p, nil
}

// profileLines are the lines inside "profile NAME" for a filled profile.
func profileLines(p BFDProfile) []string {
	passive := "no passive-mode"
	if p.Passive {
		passive = "passive-mode"
	}
	return []string{
		fmt.Sprintf("receive-interval %d", p.ReceiveInterval.Milliseconds()),
		fmt.Sprintf("transmit-interval %d", p.TransmitInterval.Milliseconds()),
		fmt.Sprintf("detect-multiplier %d", p.DetectMultiplier),
		passive,
	}
}

// renderBFDD writes bfdd's configuration: the profiles only. Sessions are
// not configured here but requested by bgpd through zebra for each
// neighbor with "bfd profile", single hop or multihop as bgpd decides
// (multihop for ebgp-multihop neighbors, RFC 5883).
func renderBFDD(c Config) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("hostname %s", c.Host.Name)
	w("!")
	w("bfd")
	for _, p := range c.BFDProfiles {
		w(" profile %s", p.Name)
		for _, l := range profileLines(p) {
			w("  %s", l)
		}
		w(" exit")
	}
	w("exit")
	w("!")
	return b.String()
}

// SetBFDProfile adds profile p to bfdd or replaces its settings. bfdd
// applies an edited profile to the running sessions that use it without
// taking them down: with a poll sequence (RFC 5880 §6.8.3).
func (r *Router) SetBFDProfile(ctx context.Context, p BFDProfile) error {
	p, err := setBFDProfileDefaults(p)
	if err != nil {
		return fmt.Errorf("frr: %s: %w", r.Host.Name, err)
	}
	if !r.bfdd {
		return fmt.Errorf("frr: %s: BFD profile %s: bfdd is not running (Config had no BFD profile)", r.Host.Name, p.Name)
	}
	r.cfgMu.Lock()
	defer r.cfgMu.Unlock()
	cmds := append([]string{"configure terminal", "bfd", "profile " + p.Name}, profileLines(p)...)
	if _, err := r.vty(ctx, "bfdd", cmds...); err != nil {
		return fmt.Errorf("frr: %w", err)
	}
	return nil
}

// BFDStatus is a BFD session's state as bfdd names it.
type BFDStatus string

const (
	BFDUp       BFDStatus = "up"
	BFDDown     BFDStatus = "down"
	BFDInit     BFDStatus = "init"
	BFDShutdown BFDStatus = "shutdown" // AdminDown
)

// BFDTimers are one side's BFD settings: what it sent last for the remote
// side, what it is configured with for the local one.
type BFDTimers struct {
	ReceiveInterval, TransmitInterval time.Duration
	DetectMultiplier                  int
}

// BFDPeer is one of bfdd's sessions.
type BFDPeer struct {
	Peer netip.Addr
	// Local is the session's source; invalid when bfdd was given none.
	Local netip.Addr
	// Interface is the interface a single-hop session is bound to; empty
	// for multihop.
	Interface string
	Multihop  bool
	Passive   bool
	Status    BFDStatus
	// LocalID and RemoteID are the discriminators; RemoteID is 0 until the
	// peer has been heard.
	LocalID, RemoteID uint32
	// Diagnostic is why the session last went down ("ok", "control
	// detection time expired", "neighbor signaled session down", …);
	// RemoteDiagnostic is the peer's.
	Diagnostic, RemoteDiagnostic string
	LocalTimers, RemoteTimers    BFDTimers
	// Uptime is how long the session has been up, Downtime how long down,
	// in whole seconds; each is 0 in the other states.
	Uptime, Downtime time.Duration
}

// BFDPeers returns bfdd's sessions, from "show bfd peers json", sorted by
// peer address and single hop first. It fails when bfdd is not running.
func (r *Router) BFDPeers(ctx context.Context) ([]BFDPeer, error) {
	if !r.bfdd {
		return nil, fmt.Errorf("frr: %s: bfdd is not running (Config had no BFD profile)", r.Host.Name)
	}
	out, err := r.vty(ctx, "bfdd", "show bfd peers json")
	if err != nil {
		return nil, fmt.Errorf("frr: %w", err)
	}
	peers, err := parseBFDPeers(out)
	if err != nil {
		return nil, fmt.Errorf("frr: %s: %w", r.Host.Name, err)
	}
	return peers, nil
}

// jsonBFDPeer is one element of FRR 8.4's "show bfd peers json": intervals
// in milliseconds, uptime and downtime in seconds.
type jsonBFDPeer struct {
	Multihop         bool   `json:"multihop"`
	Peer             string `json:"peer"`
	Local            string `json:"local"`
	Interface        string `json:"interface"`
	ID               uint32 `json:"id"`
	RemoteID         uint32 `json:"remote-id"`
	Passive          bool   `json:"passive-mode"`
	Status           string `json:"status"`
	Uptime           int64  `json:"uptime"`
	Downtime         int64  `json:"downtime"`
	Diagnostic       string `json:"diagnostic"`
	RemoteDiagnostic string `json:"remote-diagnostic"`
	RX               int64  `json:"receive-interval"`
	TX               int64  `json:"transmit-interval"`
	Mult             int    `json:"detect-multiplier"`
	RemoteRX         int64  `json:"remote-receive-interval"`
	RemoteTX         int64  `json:"remote-transmit-interval"`
	RemoteMult       int    `json:"remote-detect-multiplier"`
}

// parseBFDPeers decodes "show bfd peers json".
func parseBFDPeers(out []byte) ([]BFDPeer, error) {
	var js []jsonBFDPeer
	if err := json.Unmarshal(out, &js); err != nil {
		return nil, fmt.Errorf("bfd peers: %w", err)
	}
	ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	peers := make([]BFDPeer, 0, len(js))
	for _, j := range js {
		a, err := netip.ParseAddr(j.Peer)
		if err != nil {
			return nil, fmt.Errorf("bfd peers: peer %q: %w", j.Peer, err)
		}
		p := BFDPeer{
			Peer: a, Interface: j.Interface, Multihop: j.Multihop, Passive: j.Passive, Status: BFDStatus(j.Status),
			LocalID: j.ID, RemoteID: j.RemoteID, Diagnostic: j.Diagnostic, RemoteDiagnostic: j.RemoteDiagnostic,
			LocalTimers:  BFDTimers{ReceiveInterval: ms(j.RX), TransmitInterval: ms(j.TX), DetectMultiplier: j.Mult},
			RemoteTimers: BFDTimers{ReceiveInterval: ms(j.RemoteRX), TransmitInterval: ms(j.RemoteTX), DetectMultiplier: j.RemoteMult},
			Uptime:       time.Duration(j.Uptime) * time.Second, Downtime: time.Duration(j.Downtime) * time.Second,
		}
		if j.Local != "" {
			if p.Local, err = netip.ParseAddr(j.Local); err != nil {
				return nil, fmt.Errorf("bfd peers: %s: local %q: %w", a, j.Local, err)
			}
		}
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(x, y BFDPeer) int {
		if c := x.Peer.Compare(y.Peer); c != 0 {
			return c
		}
		return cmp.Compare(hops(x.Multihop), hops(y.Multihop))
	})
	return peers, nil
}

// hops orders single hop before multihop.
func hops(multihop bool) int {
	if multihop {
		return 1
	}
	return 0
}
