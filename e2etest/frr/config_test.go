package frr

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portico-lb/portico/e2etest/netlab"
)

var (
	router  = &netlab.Host{Name: "router", Namespace: "pt0000-router", IPv4: netip.MustParseAddr("10.213.57.2"), IPv6: netip.MustParseAddr("fd00:213:57::2")}
	node1   = netip.MustParseAddr("10.213.57.11")
	node1v6 = netip.MustParseAddr("fd00:213:57::11")
)

func TestSetConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      Config
		want    Config
		wantErr string
	}{
		{name: "defaults", in: Config{Host: router},
			want: Config{Host: router, ASN: DefaultASN, RouterID: router.IPv4}},
		{name: "kept", in: Config{Host: router, ASN: 65000, RouterID: netip.MustParseAddr("192.0.2.1"),
			Neighbors: []Neighbor{{Addr: node1, ASN: 64601, Password: "pw", EBGPMultihop: 3}}, Communities: []string{"65000:1"}, LargeCommunities: []string{"65000:1:2"}},
			want: Config{Host: router, ASN: 65000, RouterID: netip.MustParseAddr("192.0.2.1"),
				Neighbors: []Neighbor{{Addr: node1, ASN: 64601, Password: "pw", EBGPMultihop: 3}}, Communities: []string{"65000:1"}, LargeCommunities: []string{"65000:1:2"}}},
		{name: "no host", in: Config{}, wantErr: "frr: Config.Host is nil"},
		{name: "IPv6 router ID", in: Config{Host: router, RouterID: node1v6}, wantErr: "frr: router: router ID fd00:213:57::11: want an IPv4 address"},
		{name: "neighbor without ASN", in: Config{Host: router, Neighbors: []Neighbor{{Addr: node1}}}, wantErr: "frr: router: neighbor 10.213.57.11: no ASN"},
		{name: "neighbor twice", in: Config{Host: router, Neighbors: []Neighbor{{Addr: node1, ASN: 1}, {Addr: node1, ASN: 2}}}, wantErr: "frr: router: neighbor 10.213.57.11 twice"},
		{name: "zoned neighbor", in: Config{Host: router, Neighbors: []Neighbor{{Addr: netip.MustParseAddr("fe80::1%eth0"), ASN: 1}}},
			wantErr: "frr: router: neighbor fe80::1%eth0: want a plain IPv4 or IPv6 address"},
		{name: "password with a space", in: Config{Host: router, Neighbors: []Neighbor{{Addr: node1, ASN: 1, Password: "a b"}}},
			wantErr: "frr: router: neighbor 10.213.57.11: password: want 1 to 80 printable characters without spaces"},
		{name: "multihop out of range", in: Config{Host: router, Neighbors: []Neighbor{{Addr: node1, ASN: 1, EBGPMultihop: 256}}},
			wantErr: "frr: router: neighbor 10.213.57.11: ebgp-multihop 256: want 0 to 255"},
		{name: "unmasked network", in: Config{Host: router, Networks: []netip.Prefix{netip.MustParsePrefix("198.51.100.7/24")}},
			wantErr: "frr: router: network 198.51.100.7/24: want a masked prefix"},
		{name: "bad community", in: Config{Host: router, Communities: []string{"1:2:3"}}, wantErr: `frr: router: community "1:2:3": want AA:NN`},
		{name: "bad large community", in: Config{Host: router, LargeCommunities: []string{"1:2"}}, wantErr: `frr: router: large community "1:2": want A:B:C`},
		{name: "BFD profile defaults", in: Config{Host: router, BFDProfiles: []BFDProfile{{Name: "p"}},
			Neighbors: []Neighbor{{Addr: node1, ASN: 1, BFDProfile: "p"}}},
			want: Config{Host: router, ASN: DefaultASN, RouterID: router.IPv4,
				BFDProfiles: []BFDProfile{{Name: "p", ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}},
				Neighbors:   []Neighbor{{Addr: node1, ASN: 1, BFDProfile: "p"}}}},
		{name: "BFD profile twice", in: Config{Host: router, BFDProfiles: []BFDProfile{{Name: "p"}, {Name: "p", DetectMultiplier: 5}}},
			wantErr: "frr: router: BFD profile p twice"},
		{name: "bad BFD profile", in: Config{Host: router, BFDProfiles: []BFDProfile{{Name: "p", ReceiveInterval: time.Millisecond}}},
			wantErr: "frr: router: BFD profile p: receive interval 1ms: want whole milliseconds from 10ms to 1m0s"},
		{name: "neighbor with an unknown BFD profile", in: Config{Host: router, BFDProfiles: []BFDProfile{{Name: "p"}},
			Neighbors: []Neighbor{{Addr: node1, ASN: 1, BFDProfile: "q"}}},
			wantErr: `frr: router: neighbor 10.213.57.11: BFD profile "q" is not in Config.BFDProfiles`},
		{name: "neighbor with a BFD profile that is not a word", in: Config{Host: router, Neighbors: []Neighbor{{Addr: node1, ASN: 1, BFDProfile: "a b"}}},
			wantErr: `frr: router: neighbor 10.213.57.11: BFD profile "a b": want a name of letters, digits, '.', '_' and '-'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setConfigDefaults(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b *netlab.Host) bool { return a == b })); diff != "" {
				t.Errorf("setConfigDefaults (-want +got):\n%s", diff)
			}
		})
	}
}

// fullConfig uses every option.
func fullConfig(t *testing.T) Config {
	t.Helper()
	c, err := setConfigDefaults(Config{Host: router, Neighbors: []Neighbor{
		{Addr: node1, ASN: 64601, Password: "s3cret", EBGPMultihop: 2, BFDProfile: "quiet"},
		{Addr: node1v6, ASN: DefaultASN, BFDProfile: "lab"},
	}, Networks: []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8:b6::7/128")},
		Communities: []string{"64512:100", "64512:200"}, LargeCommunities: []string{"64512:1:2"},
		BFDProfiles: []BFDProfile{
			{Name: "lab", ReceiveInterval: 50 * time.Millisecond, TransmitInterval: 50 * time.Millisecond, DetectMultiplier: 3},
			{Name: "quiet", TransmitInterval: time.Second, DetectMultiplier: 5, Passive: true},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRenderBGPD(t *testing.T) {
	want := `frr defaults datacenter
hostname router
!
router bgp 64512
 bgp router-id 10.213.57.2
 no bgp default ipv4-unicast
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp bestpath as-path multipath-relax
 neighbor 10.213.57.11 remote-as 64601
 neighbor 10.213.57.11 password s3cret
 neighbor 10.213.57.11 ebgp-multihop 2
 neighbor 10.213.57.11 bfd profile quiet
 neighbor fd00:213:57::11 remote-as 64512
 neighbor fd00:213:57::11 bfd profile lab
 address-family ipv4 unicast
  maximum-paths 64
  maximum-paths ibgp 64
  network 198.51.100.7/32 route-map portico-announce
  neighbor 10.213.57.11 activate
 exit-address-family
 address-family ipv6 unicast
  maximum-paths 64
  maximum-paths ibgp 64
  network 2001:db8:b6::7/128 route-map portico-announce
  neighbor fd00:213:57::11 activate
  neighbor fd00:213:57::11 route-map portico-in in
 exit-address-family
!
route-map portico-announce permit 10
 set community 64512:100 64512:200
 set large-community 64512:1:2
!
route-map portico-in permit 10
 set ipv6 next-hop prefer-global
!
`
	if diff := cmp.Diff(want, renderBGPD(fullConfig(t))); diff != "" {
		t.Errorf("renderBGPD (-want +got):\n%s", diff)
	}
}

// TestRenderedConfigParses checks the rendered configurations with the
// daemons' own parsers (bgpd -C, bfdd -C). FRR 8.4 exits 0 even for lines
// it rejects, so the test reads the output.
func TestRenderedConfigParses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bgpd and bfdd; skipped with -short")
	}
	if err := Installed(); err != nil {
		t.Skip(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("bgpd -C -u root needs root")
	}
	c := fullConfig(t)
	for _, d := range []struct {
		name, bin, conf string
		extra           []string
	}{
		{"bgpd", bgpdBin, renderBGPD(c), nil},
		{"bfdd", bfddBin, renderBFDD(c), []string{"--bfdctl", "bfdd.sock"}},
	} {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, d.name+".conf")
			if err := os.WriteFile(conf, []byte(d.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"-C", "-f", conf, "-u", "root", "-g", vtyGroup, "--vty_socket", dir,
				"-i", filepath.Join(dir, "pid"), "-z", filepath.Join(dir, "zserv.api"), "-P", "0"}
			for _, e := range d.extra {
				if e == "bfdd.sock" {
					e = filepath.Join(dir, e)
				}
				args = append(args, e)
			}
			cmd := exec.Command(d.bin, args...)
			out, err := cmd.CombinedOutput()
			// Every FRR daemon makes /var/tmp/frr/<daemon>.<pid> for crash
			// logs and removes it on a clean exit, which -C skips.
			if cmd.Process != nil {
				os.Remove(fmt.Sprintf("/var/tmp/frr/%s.%d", d.name, cmd.Process.Pid))
			}
			if err != nil || strings.Contains(string(out), "[EC ") || strings.Contains(string(out), "Unknown command") {
				t.Errorf("%s -C: %v\n%s", d.name, err, out)
			}
		})
	}
}
