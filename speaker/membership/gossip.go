package membership

import (
	"bytes"
	"fmt"
	"log"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"
)

const (
	// gossipLabel is prepended to every memberlist packet; packets with
	// another label (or none) are dropped. It keeps Portico from merging
	// with another memberlist cluster on the same port, such as MetalLB's.
	// It is no secret and protects nothing by itself: the key does (see
	// Config.SecretKey), and with a key memberlist authenticates the label
	// along with each packet.
	gossipLabel = "portico"
	// tcpTimeout bounds a join's TCP push/pull. memberlist's 10s default
	// would let one dead address in a Lease stall discovery for that long.
	tcpTimeout = 2 * time.Second
	// deadNodeReclaim lets a node that died come back under a new address
	// (a rebooted node with a new IP) after this long. Node names are
	// unique in a cluster, so a quick reclaim is safe.
	deadNodeReclaim = time.Second
)

// memberlistConfig builds memberlist's configuration from ours.
func memberlistConfig(cfg Config, v *view, logger logr.Logger) (*memberlist.Config, error) {
	c := memberlist.DefaultLANConfig()
	c.Name = cfg.NodeName
	c.BindAddr = cfg.BindAddr.String()
	c.BindPort = cfg.BindPort
	c.AdvertiseAddr = cfg.BindAddr.String()
	c.AdvertisePort = cfg.BindPort
	c.Label = gossipLabel

	c.ProbeInterval = cfg.ProbeInterval
	c.ProbeTimeout = cfg.ProbeTimeout
	c.SuspicionMult = cfg.SuspicionMult
	c.GossipInterval = cfg.GossipInterval
	c.RetransmitMult = cfg.RetransmitMult
	c.TCPTimeout = tcpTimeout
	c.DeadNodeReclaimTime = deadNodeReclaim
	// Left at the LAN defaults on purpose:
	//  - AwarenessMaxMultiplier 8 (Lifeguard's local health multiplier): a
	//    node that misses its own deadlines, say because it is starved of
	//    CPU, probes up to 8× more slowly instead of declaring healthy
	//    nodes dead. That keeps one slow node from making the cluster flap.
	//  - IndirectChecks 3 and TCP fallback pings: a lost UDP packet alone
	//    never kills a member; three others and a TCP connect must fail too.
	//  - SuspicionMaxTimeoutMult, PushPullInterval, GossipNodes.
	if len(cfg.SecretKey) > 0 {
		// A keyring rather than SecretKey alone: it decrypts with every key
		// and encrypts with the primary, which is what a rotation needs.
		// GossipVerifyIncoming and -Outgoing stay true: no plain packet is
		// accepted or sent.
		kr, err := memberlist.NewKeyring(cfg.SecondaryKeys, cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("membership: gossip keys: %w", err)
		}
		c.Keyring = kr
	}

	c.Delegate = metaDelegate{subnets: encodeSubnets(cfg.Subnets), verdict: v.published}
	c.Events = eventDelegate{view: v, log: logger}
	c.Logger = log.New(logWriter{log: logger}, "", 0)
	return c, nil
}

// metaDelegate gives memberlist this node's metadata: its verdict on the
// others (see holdDown), and its subnets, so that peers learn them from
// gossip and not only from the API server.
type metaDelegate struct {
	subnets []byte
	verdict func() verdict
}

var _ memberlist.Delegate = metaDelegate{}

func (d metaDelegate) NodeMeta(limit int) []byte {
	meta := encodeMeta(d.verdict(), d.subnets, limit)
	if len(meta) > limit {
		return nil // cannot happen: validate bounds the subnets' size
	}
	return meta
}

// metaPrefix starts metadata that carries a verdict; metadata without it
// is a bare subnet list, with an empty verdict.
const metaPrefix = "v1|"

// encodeMeta is "v1|<j or s>|<outCount>|<outMin>|<hash>,<hash>…|<subnets>":
// j while starting, the hashes of the peers counted out in hex, those of
// dead peers prefixed with "-", subnets as in the Lease. Hashes that would
// take the metadata over limit are left out; outCount and outMin still
// cover them.
func encodeMeta(v verdict, subnets []byte, limit int) []byte {
	phase := 's'
	if v.starting {
		phase = 'j'
	}
	b := fmt.Appendf(nil, "%s%c|%d|%x|", metaPrefix, phase, v.outCount, v.outMin)
	room := limit - len(b) - 1 - len(subnets)
	for i, h := range v.outHashes {
		entry := strconv.FormatUint(uint64(h), 16)
		if _, dead := slices.BinarySearch(v.deadHashes, h); dead {
			entry = "-" + entry
		}
		if i > 0 {
			entry = "," + entry
		}
		if len(entry) > room {
			break
		}
		b, room = append(b, entry...), room-len(entry)
	}
	b = append(b, '|')
	return append(b, subnets...)
}

// maxVerdictHashes bounds decoding: metadata is another node's input.
const maxVerdictHashes = 128

// decodeMeta reads encodeMeta's form.
func decodeMeta(meta []byte) (verdict, []netip.Prefix, error) {
	s := string(meta)
	rest, ok := strings.CutPrefix(s, metaPrefix)
	if !ok {
		subnets, err := decodeSubnets(s)
		return verdict{}, subnets, err
	}
	f := strings.SplitN(rest, "|", 5)
	if len(f) != 5 || (f[0] != "j" && f[0] != "s") {
		return verdict{}, nil, fmt.Errorf("metadata %q: want j or s and 4 more fields after %q", s, metaPrefix)
	}
	v := verdict{starting: f[0] == "j"}
	f = f[1:]
	count, err := strconv.Atoi(f[0])
	if err != nil || count < 0 {
		return verdict{}, nil, fmt.Errorf("metadata %q: bad count", s)
	}
	minHash, err := strconv.ParseUint(f[1], 16, 32)
	if err != nil {
		return verdict{}, nil, fmt.Errorf("metadata %q: bad min: %w", s, err)
	}
	v.outCount, v.outMin = count, uint32(minHash)
	for h := range strings.SplitSeq(f[2], ",") {
		if h == "" {
			continue
		}
		if len(v.outHashes) == maxVerdictHashes {
			return verdict{}, nil, fmt.Errorf("metadata %q: more than %d hashes", s, maxVerdictHashes)
		}
		h, dead := strings.CutPrefix(h, "-")
		n, err := strconv.ParseUint(h, 16, 32)
		if err != nil {
			return verdict{}, nil, fmt.Errorf("metadata %q: bad hash: %w", s, err)
		}
		v.outHashes = append(v.outHashes, uint32(n))
		if dead {
			v.deadHashes = append(v.deadHashes, uint32(n))
		}
	}
	// Sorted and without repeats, as a verdict computed here is: the
	// comparisons binary-search them.
	slices.Sort(v.outHashes)
	v.outHashes = slices.Compact(v.outHashes)
	slices.Sort(v.deadHashes)
	v.deadHashes = slices.Compact(v.deadHashes)
	subnets, err := decodeSubnets(f[3])
	return v, subnets, err
}

func (metaDelegate) NotifyMsg([]byte)                {}
func (metaDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (metaDelegate) LocalState(bool) []byte          { return nil }
func (metaDelegate) MergeRemoteState([]byte, bool)   {}

// eventDelegate feeds memberlist's view of who is alive into ours.
// memberlist calls it with its node lock held; the view never blocks.
type eventDelegate struct {
	view *view
	log  logr.Logger
}

var _ memberlist.EventDelegate = eventDelegate{}

func (d eventDelegate) NotifyJoin(n *memberlist.Node) {
	d.log.V(1).Info("member alive", "member", n.Name, "addr", n.Address())
	d.view.setGossip(n.Name, d.info(n))
}

func (d eventDelegate) NotifyLeave(n *memberlist.Node) {
	died := n.State != memberlist.StateLeft
	d.log.V(1).Info("member gone", "member", n.Name, "addr", n.Address(), "died", died)
	d.view.dropGossip(n.Name, died)
}

func (d eventDelegate) NotifyUpdate(n *memberlist.Node) {
	d.view.setGossip(n.Name, d.info(n))
}

func (d eventDelegate) info(n *memberlist.Node) memberInfo {
	var info memberInfo
	if a, ok := netip.AddrFromSlice(n.Addr); ok {
		info.addr = netip.AddrPortFrom(a.Unmap(), n.Port)
	}
	v, subnets, err := decodeMeta(n.Meta)
	if err != nil {
		// Still alive: liveness does not depend on the metadata.
		d.log.Info("member sent unreadable metadata", "member", n.Name, "error", err.Error())
	}
	info.verdict, info.subnets = v, subnets
	return info
}

// logWriter turns memberlist's log lines ("[WARN] memberlist: …") into logr
// records. Everything goes to V(1), except [DEBUG], which memberlist writes
// on every failed probe and stream connection, and which goes to V(2).
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\n"))
	level := ""
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			level, line = line[1:i], strings.TrimSpace(line[i+1:])
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	v := 1
	if level == "DEBUG" {
		v = 2
	}
	w.log.V(v).Info(line, "source", "memberlist", "severity", level)
	return len(p), nil
}
