package membership

import (
	"fmt"
	"net/netip"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Config configures a Membership. The zero value of every field except
// NodeName, BindAddr and Namespace means "use the default".
type Config struct {
	// NodeName is this node's name: the memberlist member name and the
	// suffix of the Lease name.
	NodeName string
	// BindAddr is the address memberlist binds to and advertises, normally
	// the node's InternalIP. It must be a specific address: other speakers
	// dial it.
	BindAddr netip.Addr
	// BindPort is the memberlist port, TCP and UDP. Default 7946.
	BindPort int
	// Namespace holds the speakers' Leases (the install namespace).
	Namespace string
	// Subnets are the node's own CIDRs. They are published in the Lease and
	// in memberlist metadata, and reported back in Member.Subnets.
	Subnets []netip.Prefix

	// ProbeInterval is how often memberlist probes a random member.
	// Default 70ms: with the other defaults a dead node is noticed in about
	// 250 ms, at keepalived's pace with 100 ms VRRP adverts, and a node
	// starved of CPU for ten minutes caused no false death in the lab.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for a direct ack before asking
	// other members to probe indirectly. It must be shorter than
	// ProbeInterval. Default 35ms.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a suspect member has to refute before it
	// is declared dead: SuspicionMult × max(1, log10(N)) × ProbeInterval.
	// Default 2, also the minimum: with one interval a member that missed a
	// single probe has no time to hear the suspicion and refute it.
	SuspicionMult int
	// GossipInterval is how often memberlist gossips queued messages (for
	// example a death or a leave). Default 50ms.
	GossipInterval time.Duration
	// RetransmitMult scales how many times each gossip message is
	// retransmitted: RetransmitMult × log(N+1). Default 3.
	RetransmitMult int

	// HoldDown is how long a member must have been continuously alive before
	// it is Stable. Zero means the default, 3s; a negative value disables
	// hold-down (every alive member is Stable).
	HoldDown time.Duration
	// LeaseDuration is how long a Lease counts as fresh after its last
	// renewal. Default 15s. Whole seconds are written to the Lease.
	LeaseDuration time.Duration
	// RenewInterval is how often this speaker renews its Lease and lists the
	// others'. Default 5s; it must be shorter than LeaseDuration.
	RenewInterval time.Duration

	// SecretKey, when set, encrypts and authenticates gossip with AES-GCM
	// (16, 24 or 32 bytes): memberlist drops every packet that does not
	// decrypt with one of the keys. Every speaker must be able to decrypt
	// what the others send, so a key is changed in steps (see
	// SecondaryKeys).
	SecretKey []byte
	// SecondaryKeys decrypt gossip too, but never encrypt it. They let
	// speakers with different primary keys understand each other while a
	// new key is rolled out: first every speaker gets the new key as a
	// secondary, then as its primary (the old one becoming a secondary),
	// then the old one goes. They need SecretKey.
	SecondaryKeys [][]byte
}

const (
	defaultBindPort       = 7946
	defaultProbeInterval  = 70 * time.Millisecond
	defaultProbeTimeout   = 35 * time.Millisecond
	defaultSuspicionMult  = 2
	defaultGossipInterval = 50 * time.Millisecond
	defaultRetransmitMult = 3
	defaultHoldDown       = 3 * time.Second
	defaultLeaseDuration  = 15 * time.Second
	defaultRenewInterval  = 5 * time.Second

	// metaMaxSize is memberlist's limit for node metadata (MetaMaxSize);
	// memberlist panics above it, so New refuses such subnet lists instead.
	metaMaxSize = 512
)

// setConfigDefaults fills every unset field. It does not validate.
func setConfigDefaults(c Config) Config {
	if c.BindPort == 0 {
		c.BindPort = defaultBindPort
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = defaultProbeInterval
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = defaultProbeTimeout
	}
	if c.SuspicionMult == 0 {
		c.SuspicionMult = defaultSuspicionMult
	}
	if c.GossipInterval == 0 {
		c.GossipInterval = defaultGossipInterval
	}
	if c.RetransmitMult == 0 {
		c.RetransmitMult = defaultRetransmitMult
	}
	if c.HoldDown == 0 {
		c.HoldDown = defaultHoldDown
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = defaultLeaseDuration
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = defaultRenewInterval
	}
	// Callers may reuse their slices; the Membership keeps its own copies.
	c.Subnets = append([]netip.Prefix(nil), c.Subnets...)
	c.SecretKey = append([]byte(nil), c.SecretKey...)
	keys := make([][]byte, 0, len(c.SecondaryKeys))
	for _, k := range c.SecondaryKeys {
		keys = append(keys, append([]byte(nil), k...))
	}
	c.SecondaryKeys = keys
	return c
}

// validate checks a defaulted Config. Namespace is checked by New, because
// only the Lease peer source needs it.
func (c Config) validate() error {
	if c.NodeName == "" {
		return fmt.Errorf("membership: NodeName is required")
	}
	if errs := validation.IsDNS1123Subdomain(leaseName(c.NodeName)); len(errs) > 0 {
		return fmt.Errorf("membership: NodeName %q does not make a valid Lease name: %v", c.NodeName, errs)
	}
	if !c.BindAddr.IsValid() || c.BindAddr.IsUnspecified() {
		return fmt.Errorf("membership: BindAddr %q must be a specific address that other nodes can dial", c.BindAddr)
	}
	if c.BindPort < 1 || c.BindPort > 65535 {
		return fmt.Errorf("membership: BindPort %d out of range", c.BindPort)
	}
	for _, p := range c.Subnets {
		if !p.IsValid() {
			return fmt.Errorf("membership: invalid subnet %v", p)
		}
	}
	if n := len(encodeMeta(verdict{}, encodeSubnets(c.Subnets), metaMaxSize)); n > metaMaxSize {
		return fmt.Errorf("membership: %d subnets take %d bytes, more than the %d memberlist carries", len(c.Subnets), n, metaMaxSize)
	}
	switch {
	case c.ProbeInterval < 0 || c.ProbeTimeout < 0 || c.GossipInterval < 0:
		return fmt.Errorf("membership: negative probe or gossip interval")
	case c.ProbeTimeout >= c.ProbeInterval:
		return fmt.Errorf("membership: ProbeTimeout %v must be shorter than ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	case c.SuspicionMult < 2:
		return fmt.Errorf("membership: SuspicionMult %d is below 2", c.SuspicionMult)
	case c.RetransmitMult < 1:
		return fmt.Errorf("membership: RetransmitMult %d is below 1", c.RetransmitMult)
	case c.LeaseDuration < time.Second:
		return fmt.Errorf("membership: LeaseDuration %v is below 1s", c.LeaseDuration)
	case c.RenewInterval <= 0 || c.RenewInterval >= c.LeaseDuration:
		return fmt.Errorf("membership: RenewInterval %v must be positive and shorter than LeaseDuration %v", c.RenewInterval, c.LeaseDuration)
	}
	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		return fmt.Errorf("membership: SecretKey has %d bytes; want 16, 24 or 32", len(c.SecretKey))
	}
	if len(c.SecondaryKeys) > 0 && len(c.SecretKey) == 0 {
		return fmt.Errorf("membership: SecondaryKeys without a SecretKey")
	}
	for i, k := range c.SecondaryKeys {
		switch len(k) {
		case 16, 24, 32:
		default:
			return fmt.Errorf("membership: SecondaryKeys[%d] has %d bytes; want 16, 24 or 32", i, len(k))
		}
	}
	return nil
}
