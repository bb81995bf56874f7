package bfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Wire constants of RFC 5880 §4.1.
const (
	version    = 1
	packetLen  = 24 // the mandatory section; the only length without authentication
	flagPoll   = 0x20
	flagFinal  = 0x10
	flagCPI    = 0x08 // Control Plane Independent
	flagAuth   = 0x04
	flagDemand = 0x02
	flagMulti  = 0x01
)

// ErrMalformed is wrapped by every refusal of Packet.UnmarshalBinary and
// Packet.AppendBinary, so a receiver can count malformed packets apart from
// socket errors. The message says which check of RFC 5880 §6.8.6 failed.
var ErrMalformed = errors.New("bfd: malformed control packet")

// State is a session state (RFC 5880 §4.1, the Sta field; §6.2).
type State uint8

// The session states, with their wire values.
const (
	StateAdminDown State = 0
	StateDown      State = 1
	StateInit      State = 2
	StateUp        State = 3
)

func (s State) String() string {
	switch s {
	case StateAdminDown:
		return "AdminDown"
	case StateDown:
		return "Down"
	case StateInit:
		return "Init"
	case StateUp:
		return "Up"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Diagnostic says why a session last changed state (RFC 5880 §4.1, the
// Diag field). It is five bits on the wire; values 9–31 are reserved and
// kept as they came.
type Diagnostic uint8

// The diagnostic codes of RFC 5880 §4.1.
const (
	DiagNone                        Diagnostic = 0
	DiagControlDetectionExpired     Diagnostic = 1
	DiagEchoFailed                  Diagnostic = 2
	DiagNeighborDown                Diagnostic = 3
	DiagForwardingPlaneReset        Diagnostic = 4
	DiagPathDown                    Diagnostic = 5
	DiagConcatenatedPathDown        Diagnostic = 6
	DiagAdminDown                   Diagnostic = 7
	DiagReverseConcatenatedPathDown Diagnostic = 8
)

func (d Diagnostic) String() string {
	switch d {
	case DiagNone:
		return "no diagnostic"
	case DiagControlDetectionExpired:
		return "control detection time expired"
	case DiagEchoFailed:
		return "echo function failed"
	case DiagNeighborDown:
		return "neighbor signaled session down"
	case DiagForwardingPlaneReset:
		return "forwarding plane reset"
	case DiagPathDown:
		return "path down"
	case DiagConcatenatedPathDown:
		return "concatenated path down"
	case DiagAdminDown:
		return "administratively down"
	case DiagReverseConcatenatedPathDown:
		return "reverse concatenated path down"
	}
	return fmt.Sprintf("Diagnostic(%d)", uint8(d))
}

// Packet is a BFD Control packet without authentication (RFC 5880 §4.1).
// The A (authentication) and M (multipoint) bits have no field: a packet
// carrying either is refused on receipt (§6.8.6), so none can be built.
// Intervals are carried in microseconds on the wire; finer parts of a
// Duration are dropped by AppendBinary.
type Packet struct {
	Diag          Diagnostic
	State         State
	Poll          bool // P: the sender asks for a packet with Final (§6.5)
	Final         bool // F: the sender answers a Poll
	CPI           bool // C: the sender's BFD does not share fate with its control plane
	Demand        bool // D: the sender wants Demand mode (§6.6)
	DetectMult    uint8
	MyDiscr       uint32
	YourDiscr     uint32
	DesiredMinTx  time.Duration
	RequiredMinRx time.Duration
	// RequiredMinEchoRx is zero from systems without the Echo function,
	// which is all Portico sends.
	RequiredMinEchoRx time.Duration
}

// UnmarshalBinary parses b, a UDP payload, into p, with the checks of RFC
// 5880 §6.8.6 that need nothing but the packet. Bytes after the Length the
// packet declares are ignored (§6.8.6 only refuses a Length longer than
// the payload). It does not allocate.
func (p *Packet) UnmarshalBinary(b []byte) error {
	if len(b) < packetLen {
		return fmt.Errorf("%w: %d bytes, shorter than the %d-byte mandatory section", ErrMalformed, len(b), packetLen)
	}
	if v := b[0] >> 5; v != version {
		return fmt.Errorf("%w: version %d, want %d", ErrMalformed, v, version)
	}
	flags := b[1] & 0x3f
	length := int(b[3])
	switch {
	case flags&flagAuth != 0:
		// §6.8.6: an A bit with no authentication in use is a discard;
		// Portico supports none (no bfd.AuthType).
		return fmt.Errorf("%w: authentication present (A bit), and none is configured", ErrMalformed)
	case length < packetLen:
		return fmt.Errorf("%w: length %d, less than %d", ErrMalformed, length, packetLen)
	case length > len(b):
		return fmt.Errorf("%w: length %d, longer than the %d-byte payload", ErrMalformed, length, len(b))
	case length != packetLen:
		// Without an authentication section the packet is exactly the
		// mandatory section (§4.1); anything else is not a packet we can
		// reproduce, so it is refused rather than half-read.
		return fmt.Errorf("%w: length %d without authentication, want %d", ErrMalformed, length, packetLen)
	case b[2] == 0:
		return fmt.Errorf("%w: detect multiplier 0", ErrMalformed)
	case flags&flagMulti != 0:
		return fmt.Errorf("%w: multipoint (M bit) set", ErrMalformed)
	}
	my := binary.BigEndian.Uint32(b[4:])
	your := binary.BigEndian.Uint32(b[8:])
	state := State(b[1] >> 6)
	switch {
	case my == 0:
		return fmt.Errorf("%w: my discriminator 0", ErrMalformed)
	case your == 0 && state != StateDown && state != StateAdminDown:
		// §6.8.6: only a sender that has not heard from us yet may leave
		// Your Discriminator zero, and such a sender cannot be Init or Up.
		return fmt.Errorf("%w: your discriminator 0 in state %v", ErrMalformed, state)
	}
	*p = Packet{
		Diag:              Diagnostic(b[0] & 0x1f),
		State:             state,
		Poll:              flags&flagPoll != 0,
		Final:             flags&flagFinal != 0,
		CPI:               flags&flagCPI != 0,
		Demand:            flags&flagDemand != 0,
		DetectMult:        b[2],
		MyDiscr:           my,
		YourDiscr:         your,
		DesiredMinTx:      micros(binary.BigEndian.Uint32(b[12:])),
		RequiredMinRx:     micros(binary.BigEndian.Uint32(b[16:])),
		RequiredMinEchoRx: micros(binary.BigEndian.Uint32(b[20:])),
	}
	return nil
}

// AppendBinary appends p's wire form to b. It refuses what a receiver
// would refuse (§6.8.6), so Portico never sends a packet the peer drops.
func (p *Packet) AppendBinary(b []byte) ([]byte, error) {
	switch {
	case p.Diag > 0x1f:
		return b, fmt.Errorf("%w: diagnostic %d does not fit 5 bits", ErrMalformed, p.Diag)
	case p.State > StateUp:
		return b, fmt.Errorf("%w: state %d does not fit 2 bits", ErrMalformed, p.State)
	case p.DetectMult == 0:
		return b, fmt.Errorf("%w: detect multiplier 0", ErrMalformed)
	case p.MyDiscr == 0:
		return b, fmt.Errorf("%w: my discriminator 0", ErrMalformed)
	case p.YourDiscr == 0 && p.State != StateDown && p.State != StateAdminDown:
		return b, fmt.Errorf("%w: your discriminator 0 in state %v", ErrMalformed, p.State)
	}
	tx, err := toMicros("desired min TX interval", p.DesiredMinTx)
	if err != nil {
		return b, err
	}
	rx, err := toMicros("required min RX interval", p.RequiredMinRx)
	if err != nil {
		return b, err
	}
	echo, err := toMicros("required min echo RX interval", p.RequiredMinEchoRx)
	if err != nil {
		return b, err
	}
	var flags byte
	for _, f := range [...]struct {
		set bool
		bit byte
	}{{p.Poll, flagPoll}, {p.Final, flagFinal}, {p.CPI, flagCPI}, {p.Demand, flagDemand}} {
		if f.set {
			flags |= f.bit
		}
	}
	b = append(b, version<<5|byte(p.Diag), byte(p.State)<<6|flags, p.DetectMult, packetLen)
	b = binary.BigEndian.AppendUint32(b, p.MyDiscr)
	b = binary.BigEndian.AppendUint32(b, p.YourDiscr)
	b = binary.BigEndian.AppendUint32(b, tx)
	b = binary.BigEndian.AppendUint32(b, rx)
	return binary.BigEndian.AppendUint32(b, echo), nil
}

// MarshalBinary returns p's wire form; see AppendBinary.
func (p *Packet) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, packetLen))
}

func micros(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }

func toMicros(field string, d time.Duration) (uint32, error) {
	us := d / time.Microsecond
	if us < 0 || us > math.MaxUint32 {
		return 0, fmt.Errorf("%w: %s %v outside 0–%d µs", ErrMalformed, field, d, uint32(math.MaxUint32))
	}
	return uint32(us), nil
}
