package layer2

import "time"

// Config tunes a Responders. The zero value is ready to use.
type Config struct {
	// GratuitousCount is how many gratuitous ARP rounds (a request and a reply
	// form) or unsolicited Neighbor Advertisements are sent when this node
	// takes an IP over. Several, because a single frame is easily lost while
	// switches are still learning the new port. Default 3 (RFC 4861's
	// MAX_NEIGHBOR_ADVERTISEMENT).
	GratuitousCount int

	// GratuitousInterval separates those rounds; the first one goes out at
	// once. Default 100ms.
	GratuitousInterval time.Duration

	// RescanInterval is how often interfaces are listed again, to find links
	// that appeared, went down or came back, and addresses that changed.
	// Default 1s.
	RescanInterval time.Duration

	// LinkUpDelay keeps a link that came back (or flapped) silent for this
	// long: no answers, no gratuitous announcement. A link that was down
	// long enough for the other speakers to declare this node dead has been
	// replaced: the addresses this node held moved away, and until
	// membership has healed (a few hundred milliseconds) this node still
	// believes it holds them, and the others' too. Speaking then would
	// answer beside the rightful owners and pull clients away from them.
	// Listening first costs a node whose link merely blinked little: its
	// neighbours' entries still point at it, and the interface scan that
	// notices a link is up already lags by up to RescanInterval. Default
	// 500ms; negative disables.
	LinkUpDelay time.Duration

	// NetNS, when set, is the path of a network namespace (for example
	// /run/netns/node-1) in which interfaces are listed and sockets opened.
	// Sockets stay bound to the namespace they were created in, so only that
	// step needs the namespace. Empty means the caller's namespace, which is
	// what the speaker (hostNetwork) uses; tests and the lab set it to run an
	// Responders inside a namespace from an ordinary process.
	NetNS string
}

const (
	defaultGratuitousCount    = 3
	defaultGratuitousInterval = 100 * time.Millisecond
	defaultRescanInterval     = time.Second
	defaultLinkUpDelay        = 500 * time.Millisecond
)

// setConfigDefaults fills every unset or nonsensical field, so the rest of the
// package never has to check.
func setConfigDefaults(cfg Config) Config {
	if cfg.GratuitousCount <= 0 {
		cfg.GratuitousCount = defaultGratuitousCount
	}
	if cfg.GratuitousInterval <= 0 {
		cfg.GratuitousInterval = defaultGratuitousInterval
	}
	if cfg.RescanInterval <= 0 {
		cfg.RescanInterval = defaultRescanInterval
	}
	switch {
	case cfg.LinkUpDelay == 0:
		cfg.LinkUpDelay = defaultLinkUpDelay
	case cfg.LinkUpDelay < 0:
		cfg.LinkUpDelay = 0
	}
	return cfg
}
