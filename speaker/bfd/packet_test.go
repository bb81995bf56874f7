package bfd

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// wire is a valid packet: Up, Poll, detect mult 3, discriminators 1 and 2,
// 50 ms TX, 40 ms RX, no echo. Cases below change one byte of it.
var wire = []byte{
	0x20 | 0x03, 0xc0 | flagPoll, 3, 24, // version 1, diag 3; Up, P; mult 3; length 24
	0, 0, 0, 1, // my discriminator
	0, 0, 0, 2, // your discriminator
	0, 0, 0xc3, 0x50, // desired min TX 50 000 µs
	0, 0, 0x9c, 0x40, // required min RX 40 000 µs
	0, 0, 0, 0, // required min echo RX
}

func with(i int, v byte) []byte {
	b := bytes.Clone(wire)
	b[i] = v
	return b
}

func TestPacketRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want Packet
	}{
		{"up with poll", wire, Packet{Diag: DiagNeighborDown, State: StateUp, Poll: true, DetectMult: 3, MyDiscr: 1, YourDiscr: 2, DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 40 * time.Millisecond}},
		{"every flag we know", with(1, 0xc0|flagPoll|flagFinal|flagCPI|flagDemand), Packet{Diag: DiagNeighborDown, State: StateUp, Poll: true, Final: true, CPI: true, Demand: true, DetectMult: 3, MyDiscr: 1, YourDiscr: 2, DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 40 * time.Millisecond}},
		{"down, your discriminator 0", append(append(bytes.Clone(wire[:1]), 0x40, 3, 24, 0, 0, 0, 1, 0, 0, 0, 0), wire[12:]...), Packet{Diag: DiagNeighborDown, State: StateDown, DetectMult: 3, MyDiscr: 1, DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 40 * time.Millisecond}},
		{"reserved diagnostic kept", with(0, 0x20|0x1f), Packet{Diag: 31, State: StateUp, Poll: true, DetectMult: 3, MyDiscr: 1, YourDiscr: 2, DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 40 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			if err := p.UnmarshalBinary(tc.b); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, p); diff != "" {
				t.Fatalf("parsed (-want +got):\n%s", diff)
			}
			b, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, tc.b) {
				t.Fatalf("marshalled % x, want % x", b, tc.b)
			}
		})
	}
}

func TestPacketMalformed(t *testing.T) {
	// Each refusal of RFC 5880 §6.8.6 that needs only the packet, and the
	// fuzzer's finds, by name.
	for _, tc := range []struct {
		name, b, want string
	}{
		{"empty", "", "0 bytes"},
		{"truncated", string(wire[:23]), "23 bytes"},
		{"version 0", string(with(0, 0x03)), "version 0"},
		{"version 2", string(with(0, 0x43)), "version 2"},
		{"length below 24", string(with(3, 23)), "length 23, less than 24"},
		{"length 0", string(with(3, 0)), "length 0"},
		{"length beyond the payload", string(with(3, 25)), "longer than the 24-byte payload"},
		{"length 26 with padding but no auth", string(append(with(3, 26), 0, 0)), "length 26 without authentication"},
		{"detect mult 0", string(with(2, 0)), "detect multiplier 0"},
		{"multipoint", string(with(1, 0xc0|flagMulti)), "multipoint"},
		{"authentication present", string(with(1, 0xc0|flagAuth)), "authentication present"},
		{"authentication with a plausible length", string(append(with(1, 0xc0|flagAuth), 1, 2, 0, 0)), "authentication present"},
		{"my discriminator 0", string(with(7, 0)), "my discriminator 0"},
		{"your discriminator 0 while up", string(with(11, 0)), "your discriminator 0 in state Up"},
		{"your discriminator 0 while init", string(with(1, 0x80)[:8]) + "\x00\x00\x00\x00" + string(wire[12:]), "your discriminator 0 in state Init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			err := p.UnmarshalBinary([]byte(tc.b))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrMalformed saying %q", err, tc.want)
			}
		})
	}
}

func TestPacketPayloadLongerThanLength(t *testing.T) {
	// Trailing bytes beyond Length (UDP padding) are not the packet.
	var p Packet
	if err := p.UnmarshalBinary(append(bytes.Clone(wire), 0xff, 0xff)); err != nil {
		t.Fatal(err)
	}
	if p.MyDiscr != 1 {
		t.Fatalf("my discriminator %d, want 1", p.MyDiscr)
	}
}

func TestPacketMarshalRefuses(t *testing.T) {
	ok := Packet{State: StateUp, DetectMult: 3, MyDiscr: 1, YourDiscr: 2}
	for _, tc := range []struct {
		name   string
		change func(*Packet)
		want   string
	}{
		{"detect mult 0", func(p *Packet) { p.DetectMult = 0 }, "detect multiplier 0"},
		{"my discriminator 0", func(p *Packet) { p.MyDiscr = 0 }, "my discriminator 0"},
		{"your discriminator 0 while up", func(p *Packet) { p.YourDiscr = 0 }, "your discriminator 0"},
		{"diagnostic too wide", func(p *Packet) { p.Diag = 32 }, "5 bits"},
		{"state too wide", func(p *Packet) { p.State = 4 }, "2 bits"},
		{"negative interval", func(p *Packet) { p.DesiredMinTx = -time.Microsecond }, "desired min TX"},
		{"interval past 32 bits", func(p *Packet) { p.RequiredMinRx = 4294967296 * time.Microsecond }, "required min RX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			tc.change(&p)
			b, err := p.AppendBinary([]byte{9})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrMalformed saying %q", err, tc.want)
			}
			if !bytes.Equal(b, []byte{9}) {
				t.Fatalf("a refused append changed the buffer to % x", b)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{StateAdminDown.String(), "AdminDown"},
		{StateUp.String(), "Up"},
		{State(7).String(), "State(7)"},
		{DiagControlDetectionExpired.String(), "control detection time expired"},
		{DiagNeighborDown.String(), "neighbor signaled session down"},
		{DiagAdminDown.String(), "administratively down"},
		{Diagnostic(9).String(), "Diagnostic(9)"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}

// FuzzParse: no panic, and whatever parses marshals back to the same first
// Length bytes (all of the packet: nothing is dropped or invented).
func FuzzParse(f *testing.F) {
	f.Add(wire)                               // valid, Up with Poll
	f.Add(with(1, 0xc0|flagFinal|flagCPI))    // Final and C
	f.Add(append(bytes.Clone(wire), 0, 0, 0)) // payload longer than Length
	f.Add(with(1, 0xc0|flagAuth))             // A bit: refused
	f.Add(with(3, 255))                       // Length past the payload
	f.Add(wire[:4])                           // truncated
	f.Add(with(0, 0x3f))                      // reserved diagnostic 31
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		if err := p.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := p.AppendBinary(nil)
		if err != nil {
			t.Fatalf("parsed %+v does not marshal: %v", p, err)
		}
		if n := int(b[3]); !bytes.Equal(out, b[:n]) {
			t.Fatalf("round trip\n% x, want\n% x", out, b[:n])
		}
	})
}

func BenchmarkParse(b *testing.B) {
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := p.UnmarshalBinary(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	var p Packet
	if err := p.UnmarshalBinary(wire); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, packetLen)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = p.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
