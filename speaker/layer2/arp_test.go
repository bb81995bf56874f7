package layer2

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAnswerARP(t *testing.T) {
	announced := func(ip netip.Addr) bool { return ip == vip4 }
	req := func(mod func(p *arp.Packet)) *arp.Packet {
		p := arpRequest(t, peerMAC, peerIP, vip4)
		if mod != nil {
			mod(p)
		}
		return p
	}
	tests := []struct {
		name string
		p    *arp.Packet
		want bool
	}{
		{"request for announced IP", req(nil), true},
		{"RFC 5227 probe (sender 0.0.0.0) is defended", req(func(p *arp.Packet) { p.SenderIP = netip.IPv4Unspecified() }), true},
		{"IEEE 802 hardware type", req(func(p *arp.Packet) { p.HardwareType = 6 }), true},
		{"request for another IP", req(func(p *arp.Packet) { p.TargetIP = other4 }), false},
		{"reply", req(func(p *arp.Packet) { p.Operation = arp.OperationReply }), false},
		{"gratuitous request from another node", req(func(p *arp.Packet) { p.SenderIP = vip4 }), false},
		{"our own frame looped back", req(func(p *arp.Packet) { p.SenderHardwareAddr = ownMAC }), false},
		{"broadcast sender MAC", req(func(p *arp.Packet) { p.SenderHardwareAddr = ethernet.Broadcast }), false},
		{"not IPv4 over ARP", req(func(p *arp.Packet) { p.ProtocolType = 0x86dd }), false},
		{"unknown hardware type", req(func(p *arp.Packet) { p.HardwareType = 32 }), false},
		{"short hardware addresses", req(func(p *arp.Packet) { p.HardwareAddrLength = 4 }), false},
		{"loopback sender IP", req(func(p *arp.Packet) { p.SenderIP = netip.MustParseAddr("127.0.0.1") }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := answerARP(tt.p, ownMAC, announced); got != tt.want {
				t.Errorf("answerARP = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClaimedARP(t *testing.T) {
	mustPacket := func(op arp.Operation, mac net.HardwareAddr, sender netip.Addr, target netip.Addr) *arp.Packet {
		p, err := arp.NewPacket(op, mac, sender, ethernet.Broadcast, target)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		p    *arp.Packet
		want netip.Addr // invalid: no claim
	}{
		{"gratuitous request", mustPacket(arp.OperationRequest, peerMAC, vip4, vip4), vip4},
		{"reply", mustPacket(arp.OperationReply, peerMAC, vip4, peerIP), vip4},
		{"request from a host using the address", mustPacket(arp.OperationRequest, peerMAC, vip4, peerIP), vip4},
		{"ordinary request", mustPacket(arp.OperationRequest, peerMAC, peerIP, vip4), peerIP},
		{"probe", mustPacket(arp.OperationRequest, peerMAC, netip.IPv4Unspecified(), vip4), netip.Addr{}},
		{"our own frame", mustPacket(arp.OperationRequest, ownMAC, vip4, vip4), netip.Addr{}},
		{"multicast sender", mustPacket(arp.OperationRequest, net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}, vip4, vip4), netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := claimedARP(tt.p, ownMAC)
			if ok != tt.want.IsValid() || got != tt.want {
				t.Errorf("claimedARP = %v, %v; want %v", got, ok, tt.want)
			}
		})
	}
}

// TestARPDefends: a claim on an announced address from another station is
// answered with one gratuitous round after defendDelay, at most once per
// defendInterval; claims on other addresses, or after Yield, are not.
func TestARPDefends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMetrics()
		r, conn := newFakeARP(t, "test0", Config{GratuitousCount: 1}, m)
		r.set([]netip.Addr{vip4})
		time.Sleep(time.Second)
		conn.take()

		claim := func(ip netip.Addr) {
			req, _, err := gratuitousARP(peerMAC, ip)
			if err != nil {
				t.Fatal(err)
			}
			conn.in <- arpFrame(t, req)
			synctest.Wait()
		}
		start := time.Now()
		claim(vip4)
		claim(other4) // not ours: nothing to defend
		if got := conn.take(); len(got) != 0 {
			t.Fatalf("%d frames before defendDelay", len(got))
		}
		time.Sleep(defendDelay)
		synctest.Wait()
		sent := conn.take()
		if len(sent) != 2 || sent[0].pkt.SenderIP != vip4 || !bytes.Equal(sent[0].pkt.SenderHardwareAddr, ownMAC) || sent[0].at.Sub(start) != defendDelay {
			t.Fatalf("defence: %d frames %+v, want one gratuitous round for %v at +%v", len(sent), sent, vip4, defendDelay)
		}
		claim(vip4)
		time.Sleep(time.Second / 2)
		if got := conn.take(); len(got) != 0 {
			t.Errorf("second claim within defendInterval answered with %d frames", len(got))
		}
		if v := testutil.ToFloat64(m.conflicts.WithLabelValues("test0", "arp")); v != 1 {
			t.Errorf("conflicts = %v, want 1", v)
		}
		time.Sleep(defendInterval)
		r.defending.Store(false)
		claim(vip4)
		time.Sleep(time.Second)
		if got := conn.take(); len(got) != 0 {
			t.Errorf("claim while yielding answered with %d frames", len(got))
		}
	})
}

func TestGratuitousARP(t *testing.T) {
	req, reply, err := gratuitousARP(ownMAC, vip4)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p     *arp.Packet
		op    arp.Operation
		tgtHW net.HardwareAddr
	}{
		{req, arp.OperationRequest, net.HardwareAddr{0, 0, 0, 0, 0, 0}},
		{reply, arp.OperationReply, ethernet.Broadcast},
	} {
		if c.p.Operation != c.op || c.p.SenderIP != vip4 || c.p.TargetIP != vip4 ||
			!bytes.Equal(c.p.SenderHardwareAddr, ownMAC) || !bytes.Equal(c.p.TargetHardwareAddr, c.tgtHW) {
			t.Errorf("%v form = %+v", c.op, c.p)
		}
	}
}

// TestARPResponder feeds frames through the socket boundary and checks what
// goes back out.
func TestARPResponder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMetrics()
		r, conn := newFakeARP(t, "test0", Config{GratuitousCount: 1}, m)
		r.set([]netip.Addr{vip4})
		synctest.Wait()
		conn.take() // the gratuitous round, tested below

		send := func(p *arp.Packet) []sentFrame {
			conn.in <- arpFrame(t, p)
			synctest.Wait()
			return conn.take()
		}

		got := send(arpRequest(t, peerMAC, peerIP, vip4))
		if len(got) != 1 {
			t.Fatalf("request for announced IP: %d frames sent, want 1", len(got))
		}
		want := &arp.Packet{
			HardwareType: 1, ProtocolType: 0x0800, HardwareAddrLength: 6, IPLength: 4,
			Operation:          arp.OperationReply,
			SenderHardwareAddr: ownMAC, SenderIP: vip4,
			TargetHardwareAddr: peerMAC, TargetIP: peerIP,
		}
		if diff := cmp.Diff(want, got[0].pkt, equateAddrs); diff != "" {
			t.Errorf("reply (-want +got):\n%s", diff)
		}
		if !bytes.Equal(got[0].frame.Destination, peerMAC) {
			t.Errorf("reply sent to %v, want the asker %v", got[0].frame.Destination, peerMAC)
		}

		if got := send(arpRequest(t, peerMAC, peerIP, other4)); len(got) != 0 {
			t.Errorf("request for unannounced IP answered: %+v", got[0].pkt)
		}
		reply := arpRequest(t, peerMAC, peerIP, vip4)
		reply.Operation = arp.OperationReply
		if got := send(reply); len(got) != 0 {
			t.Errorf("reply answered: %+v", got[0].pkt)
		}
		// A malformed frame is skipped and the next one still answered.
		conn.in <- []byte{1, 2, 3}
		if got := send(arpRequest(t, peerMAC, peerIP, vip4)); len(got) != 1 {
			t.Errorf("after a malformed frame: %d frames sent, want 1", len(got))
		}

		r.set(nil)
		if got := send(arpRequest(t, peerMAC, peerIP, vip4)); len(got) != 0 {
			t.Errorf("request answered after the IP was removed: %+v", got[0].pkt)
		}
		if v := testutil.ToFloat64(m.arpAnswered.WithLabelValues("test0")); v != 2 {
			t.Errorf("arp answered counter = %v, want 2", v)
		}
	})
}

// TestRespondersSetPerInterface drives two fake-socket responders through the
// public Set: each answers only for the IPs Set gives its interface, and a
// change applies before Set returns.
func TestRespondersSetPerInterface(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(Config{GratuitousCount: 1}, testr.New(t))
		r0, c0 := newFakeARP(t, "test0", a.cfg, a.m)
		r1, c1 := newFakeARP(t, "test1", a.cfg, a.m)
		up := net.FlagUp | net.FlagRunning
		a.links = map[string]link{
			"test0": {index: 100, name: "test0", mac: ownMAC, flags: up, prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")}},
			"test1": {index: 101, name: "test1", mac: ownMAC, flags: up, prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.1/24")}},
		}
		a.ifaces = map[string]*ifaceState{"test0": {link: a.links["test0"], arp: r0}, "test1": {link: a.links["test1"], arp: r1}}

		// answered sends the same request on both interfaces and returns
		// which of them answered.
		answered := func() []string {
			var names []string
			for _, c := range []struct {
				name string
				conn *fakeConn
			}{{"test0", c0}, {"test1", c1}} {
				c.conn.take()
				c.conn.in <- arpFrame(t, arpRequest(t, peerMAC, peerIP, vip4))
				synctest.Wait()
				if len(c.conn.take()) > 0 {
					names = append(names, c.name)
				}
			}
			return names
		}
		steps := []struct {
			name string
			want map[netip.Addr][]string
			on   []string
		}{
			{"no interfaces named: the one whose subnet holds the IP", map[netip.Addr][]string{vip4: nil}, []string{"test0"}},
			{"named interface, subnet or not", map[netip.Addr][]string{vip4: {"test1"}}, []string{"test1"}},
			{"both named", map[netip.Addr][]string{vip4: {"test0", "test1"}}, []string{"test0", "test1"}},
			{"removed", nil, nil},
		}
		for _, s := range steps {
			a.Set(s.want)
			synctest.Wait()
			if diff := cmp.Diff(s.on, answered()); diff != "" {
				t.Errorf("%s: answering interfaces (-want +got):\n%s", s.name, diff)
			}
		}
		if v := testutil.ToFloat64(a.m.announced); v != 0 {
			t.Errorf("announced gauge = %v after removal, want 0", v)
		}
	})
}

func TestARPGratuitousTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMetrics()
		r, conn := newFakeARP(t, "test0", Config{GratuitousCount: 3, GratuitousInterval: 100 * time.Millisecond}, m)
		start := time.Now()
		r.set([]netip.Addr{vip4})
		time.Sleep(time.Second) // fake time: lets every round go out
		sent := conn.take()
		if len(sent) != 6 {
			t.Fatalf("sent %d frames, want 3 rounds of request + reply", len(sent))
		}
		for i, s := range sent {
			round := i / 2
			if at := s.at.Sub(start); at != time.Duration(round)*100*time.Millisecond {
				t.Errorf("frame %d sent at +%v, want +%v", i, at, time.Duration(round)*100*time.Millisecond)
			}
			wantOp := []arp.Operation{arp.OperationRequest, arp.OperationReply}[i%2]
			if s.pkt.Operation != wantOp || s.pkt.SenderIP != vip4 || s.pkt.TargetIP != vip4 || !bytes.Equal(s.frame.Destination, ethernet.Broadcast) {
				t.Errorf("frame %d: %+v to %v, want gratuitous %v for %v to broadcast", i, s.pkt, s.frame.Destination, wantOp, vip4)
			}
		}
		if v := testutil.ToFloat64(m.gratuitous.WithLabelValues("test0", "arp")); v != 3 {
			t.Errorf("gratuitous counter = %v, want 3", v)
		}

		// Re-setting the same IPs announces nothing; losing an IP between
		// rounds stops its announcements, another node may own it now.
		r.set([]netip.Addr{vip4})
		synctest.Wait()
		if got := conn.take(); len(got) != 0 {
			t.Errorf("unchanged set re-announced: %d frames", len(got))
		}
		r.set([]netip.Addr{vip4, other4})
		time.Sleep(150 * time.Millisecond)
		r.set([]netip.Addr{vip4})
		time.Sleep(time.Second)
		if got := conn.take(); len(got) != 4 {
			t.Errorf("IP lost after 2 rounds: %d frames sent, want 4", len(got))
		}
	})
}

// TestARPLinkUpDelay: a responder reopened after its link came back stays
// silent for the quiet period, then announces, but not an address it lost
// meanwhile (membership healed and the address stayed where it was).
func TestARPLinkUpDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, conn := newFakeARP(t, "test0", Config{GratuitousCount: 2, GratuitousInterval: 100 * time.Millisecond}, nil, 500*time.Millisecond)
		start := time.Now()
		r.set([]netip.Addr{vip4, other4})
		conn.in <- arpFrame(t, arpRequest(t, peerMAC, peerIP, vip4))
		synctest.Wait()
		if got := conn.take(); len(got) != 0 {
			t.Fatalf("sent %d frames during the quiet period, want none", len(got))
		}
		time.Sleep(200 * time.Millisecond)
		r.set([]netip.Addr{vip4}) // other4 stayed with its rightful owner
		time.Sleep(time.Second)
		sent := conn.take()
		conn.in <- arpFrame(t, arpRequest(t, peerMAC, peerIP, vip4))
		synctest.Wait()
		if got := conn.take(); len(got) != 1 || got[0].pkt.Operation != arp.OperationReply {
			t.Fatalf("after the quiet period: %d frames for a request, want one reply", len(got))
		}
		if len(sent) != 4 {
			t.Fatalf("sent %d frames, want 2 rounds of request + reply for %v only", len(sent), vip4)
		}
		for i, s := range sent {
			want := 500*time.Millisecond + time.Duration(i/2)*100*time.Millisecond
			if at := s.at.Sub(start); at != want || s.pkt.SenderIP != vip4 {
				t.Errorf("frame %d: for %v at +%v, want %v at +%v", i, s.pkt.SenderIP, at, vip4, want)
			}
		}
	})
}

// TestARPReadErrorsBackOff checks that a socket failing every read is not
// spun on.
func TestARPReadErrorsBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, conn := newFakeARP(t, "test0", Config{}, nil)
		synctest.Wait() // the first read is pending on conn.in
		conn.mu.Lock()
		conn.readErr = func() error {
			return &net.OpError{Op: "read", Net: "packet", Err: os.NewSyscallError("recvfrom", errors.New("network is down"))}
		}
		conn.reads = 0
		conn.mu.Unlock()
		conn.in <- []byte{0} // wake the pending read; the next ones fail
		time.Sleep(2 * time.Second)
		conn.mu.Lock()
		reads := conn.reads
		conn.mu.Unlock()
		// 10ms, 20ms, … 640ms, then 1s: about ten reads in two seconds.
		if reads > 12 {
			t.Errorf("%d reads in 2s of failures, want backoff (≤12)", reads)
		}
	})
}
