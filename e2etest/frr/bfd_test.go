package frr

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testdata/show-bfd-peers-json.json is FRR 8.4.4's "show bfd peers json"
// on the router of TestBFD (PORTICO_FRR_CAPTURE), at 50ms × 3: node-1
// (.11) runs BFD and is up over IPv4 and IPv6; node-2 (.12) runs none, so
// its sessions are down, and its IPv6 one is multihop (ebgp-multihop).
// Down sessions show the 1s that RFC 5880 §6.8.3 has a system send until
// the session is up as the remote timers.
func TestParseBFDPeers(t *testing.T) {
	ms := time.Millisecond
	lab := BFDTimers{ReceiveInterval: 50 * ms, TransmitInterval: 50 * ms, DetectMultiplier: 3}
	unheard := BFDTimers{ReceiveInterval: time.Second, TransmitInterval: time.Second, DetectMultiplier: 3}
	want := []BFDPeer{
		{Peer: a("10.213.76.11"), Local: a("10.213.76.2"), Interface: "eth0", Status: BFDUp, LocalID: 1582526138, RemoteID: 1898455242,
			Diagnostic: "ok", RemoteDiagnostic: "ok", LocalTimers: lab, RemoteTimers: lab},
		{Peer: a("10.213.76.12"), Local: a("10.213.76.2"), Interface: "eth0", Status: BFDDown, LocalID: 4076390779,
			Diagnostic: "ok", RemoteDiagnostic: "ok", LocalTimers: lab, RemoteTimers: unheard, Downtime: time.Second},
		{Peer: a("fd00:213:51::11"), Local: a("fd00:213:51::2"), Interface: "eth0", Status: BFDUp, LocalID: 1726243049, RemoteID: 2093598423,
			Diagnostic: "ok", RemoteDiagnostic: "ok", LocalTimers: lab, RemoteTimers: lab},
		{Peer: a("fd00:213:51::12"), Local: a("fd00:213:51::2"), Multihop: true, Status: BFDDown, LocalID: 2711705873,
			Diagnostic: "ok", RemoteDiagnostic: "ok", LocalTimers: lab, RemoteTimers: unheard, Downtime: time.Second},
	}
	got, err := parseBFDPeers(readTestdata(t, "show-bfd-peers-json.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); d != "" {
		t.Errorf("parseBFDPeers (-want +got):\n%s", d)
	}
}

func TestParseBFDPeersErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"not JSON", `% Unknown command`, "bfd peers: invalid character"},
		{"an object", `{"peer":"10.0.0.1"}`, "bfd peers: json: cannot unmarshal object"},
		{"peer not an address", `[{"peer":"tor-1"}]`, `bfd peers: peer "tor-1"`},
		{"local not an address", `[{"peer":"10.0.0.1","local":"eth0"}]`, `bfd peers: 10.0.0.1: local "eth0"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseBFDPeers([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	got, err := parseBFDPeers([]byte(`[]`))
	if err != nil || len(got) != 0 {
		t.Errorf("no sessions: %v, %v", got, err)
	}
}

func TestSetBFDProfileDefaults(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		in      BFDProfile
		want    BFDProfile
		wantErr string
	}{
		{name: "FRR's defaults written out", in: BFDProfile{Name: "p"},
			want: BFDProfile{Name: "p", ReceiveInterval: 300 * ms, TransmitInterval: 300 * ms, DetectMultiplier: 3}},
		{name: "kept", in: BFDProfile{Name: "lab_1.fast-x", ReceiveInterval: 10 * ms, TransmitInterval: time.Minute, DetectMultiplier: 255, Passive: true},
			want: BFDProfile{Name: "lab_1.fast-x", ReceiveInterval: 10 * ms, TransmitInterval: time.Minute, DetectMultiplier: 255, Passive: true}},
		{name: "no name", in: BFDProfile{}, wantErr: `BFD profile "": want a name of letters, digits, '.', '_' and '-'`},
		{name: "name with a space", in: BFDProfile{Name: "a b"}, wantErr: `BFD profile "a b": want a name`},
		{name: "receive below 10ms", in: BFDProfile{Name: "p", ReceiveInterval: 9 * ms},
			wantErr: "BFD profile p: receive interval 9ms: want whole milliseconds from 10ms to 1m0s"},
		{name: "transmit above 60s", in: BFDProfile{Name: "p", TransmitInterval: time.Minute + ms},
			wantErr: "BFD profile p: transmit interval 1m0.001s: want whole milliseconds"},
		{name: "part of a millisecond", in: BFDProfile{Name: "p", TransmitInterval: 50*ms + time.Microsecond},
			wantErr: "BFD profile p: transmit interval 50.001ms: want whole milliseconds"},
		{name: "multiplier 1", in: BFDProfile{Name: "p", DetectMultiplier: 1}, wantErr: "BFD profile p: detect multiplier 1: want 2 to 255"},
		{name: "multiplier 256", in: BFDProfile{Name: "p", DetectMultiplier: 256}, wantErr: "BFD profile p: detect multiplier 256: want 2 to 255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setBFDProfileDefaults(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("setBFDProfileDefaults (-want +got):\n%s", d)
			}
		})
	}
}

func TestRenderBFDD(t *testing.T) {
	want := `hostname router
!
bfd
 profile lab
  receive-interval 50
  transmit-interval 50
  detect-multiplier 3
  no passive-mode
 exit
 profile quiet
  receive-interval 300
  transmit-interval 1000
  detect-multiplier 5
  passive-mode
 exit
exit
!
`
	if d := cmp.Diff(want, renderBFDD(fullConfig(t))); d != "" {
		t.Errorf("renderBFDD (-want +got):\n%s", d)
	}
}
