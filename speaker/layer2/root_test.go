package layer2

// Root tier: real sockets in two network namespaces joined by a veth pair.
//
//	namespace A (Responders)           namespace B (the LAN's client)
//	vethA 10.213.x.1/24  ─────────── vethB 10.213.x.2/24
//	      fd00:213::1/64                    fd00:213::2/64
//	VIPs: 10.213.x.100, fd00:213::100 (never configured on any interface)
//
// Only addresses inside these namespaces are used, and both namespaces are
// deleted in t.Cleanup, which also removes the veth pair.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/portico-lb/portico/internal/roottier"
)

type vethLab struct {
	nsA, nsB      string
	macA, macB    net.HardwareAddr
	ipB, vip4     netip.Addr
	vip6          netip.Addr
	responders    *Responders
	inB           *nsThread
	arpB          *arp.Client
	ndpB          *ndp.Conn
	ifiB          *net.Interface
	ranResponders chan error
}

// newVethLab builds the two namespaces, starts a Responders in A and opens
// ARP and NDP client sockets in B.
func newVethLab(t *testing.T) *vethLab {
	roottier.Require(t)
	prefix := fmt.Sprintf("pl2-%04x", rand.N(0x10000))
	x := 1 + rand.N(250)
	lab := &vethLab{
		nsA:  prefix + "-a",
		nsB:  prefix + "-b",
		ipB:  netip.AddrFrom4([4]byte{10, 213, byte(x), 2}),
		vip4: netip.AddrFrom4([4]byte{10, 213, byte(x), 100}),
		vip6: netip.MustParseAddr("fd00:213::100"),
	}
	// Registered first so it runs last, after the sockets are closed, and
	// even if setup fails half-way.
	t.Cleanup(func() {
		for _, ns := range []string{lab.nsA, lab.nsB} {
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	for _, ns := range []string{lab.nsA, lab.nsB} {
		runIP(t, "netns", "add", ns)
		// DAD off before the veth exists, so link-local addresses are usable
		// at once instead of after 1-2 s; TestRootFlap turns it on for A.
		runIP(t, "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	}
	runIP(t, "-n", lab.nsA, "link", "add", "vethA", "type", "veth", "peer", "name", "vethB", "netns", lab.nsB)
	runIP(t, "-n", lab.nsA, "addr", "add", fmt.Sprintf("10.213.%d.1/24", x), "dev", "vethA")
	runIP(t, "-n", lab.nsA, "addr", "add", "fd00:213::1/64", "dev", "vethA", "nodad")
	runIP(t, "-n", lab.nsB, "addr", "add", lab.ipB.String()+"/24", "dev", "vethB")
	runIP(t, "-n", lab.nsB, "addr", "add", "fd00:213::2/64", "dev", "vethB", "nodad")
	runIP(t, "-n", lab.nsA, "link", "set", "vethA", "up")
	runIP(t, "-n", lab.nsB, "link", "set", "vethB", "up")
	lab.macA = linkMAC(t, lab.nsA, "vethA")
	lab.macB = linkMAC(t, lab.nsB, "vethB")

	ctx, cancel := context.WithCancel(context.Background())
	lab.responders = New(Config{
		NetNS:              "/run/netns/" + lab.nsA,
		RescanInterval:     100 * time.Millisecond,
		GratuitousInterval: 20 * time.Millisecond,
	}, testr.NewWithOptions(t, testr.Options{Verbosity: 1}))
	lab.ranResponders = make(chan error, 1)
	go func() { lab.ranResponders <- lab.responders.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-lab.ranResponders; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	inB, err := enterNetns(ctx, "/run/netns/"+lab.nsB)
	if err != nil {
		t.Fatal(err)
	}
	lab.inB = inB
	err = inB.do(ctx, func() (err error) {
		if lab.ifiB, err = net.InterfaceByName("vethB"); err != nil {
			return err
		}
		lab.arpB, err = arp.Dial(lab.ifiB)
		return err
	})
	skipOnEPERM(t, err)
	if err != nil {
		t.Fatalf("ARP client in B: %v", err)
	}
	t.Cleanup(func() { lab.arpB.Close() })
	// The link-local address appears once both veth ends have carrier.
	eventually(t, 3*time.Second, func() error {
		return inB.do(ctx, func() (err error) {
			lab.ndpB, _, err = ndp.Listen(lab.ifiB, ndp.LinkLocal)
			return err
		})
	})
	t.Cleanup(func() { lab.ndpB.Close() })
	return lab
}

// runIP runs the ip tool, skipping the test when the kernel refuses for lack of
// privilege (an unprivileged container, even as root).
func runIP(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("Operation not permitted")) {
			t.Skipf("root tier: ip %s: %s", strings.Join(args, " "), out)
		}
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func skipOnEPERM(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("root tier: %v", err)
	}
}

func linkMAC(t *testing.T, ns, dev string) net.HardwareAddr {
	t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(runIP(t, "-n", ns, "-j", "link", "show", "dev", dev)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show %s: %v", dev, err)
	}
	mac, err := net.ParseMAC(links[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// eventually retries f every 50ms until it succeeds or timeout passes, and
// fails the test with f's last error.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		last = f()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("after %v: %v", timeout, last)
	}
}

var errNoAnswer = errors.New("no answer")

// resolveARP asks for ip from B and returns the MAC of a reply addressed to
// B. Gratuitous replies (target IP = ip) do not count: they answer nobody.
func (lab *vethLab) resolveARP(ip netip.Addr, timeout time.Duration) (net.HardwareAddr, error) {
	if err := lab.arpB.Request(ip); err != nil {
		return nil, err
	}
	lab.arpB.SetReadDeadline(time.Now().Add(timeout))
	for {
		p, _, err := lab.arpB.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, errNoAnswer
		}
		if err != nil {
			return nil, err
		}
		if p.Operation == arp.OperationReply && p.SenderIP == ip && p.TargetIP == lab.ipB {
			return p.SenderHardwareAddr, nil
		}
	}
}

// solicitNDP sends an NS for ip from B and returns the solicited NA.
func (lab *vethLab) solicitNDP(ip netip.Addr, timeout time.Duration) (*ndp.NeighborAdvertisement, error) {
	snm, err := ndp.SolicitedNodeMulticast(ip)
	if err != nil {
		return nil, err
	}
	ns := &ndp.NeighborSolicitation{TargetAddress: ip, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: lab.macB}}}
	if err := lab.ndpB.WriteTo(ns, nil, snm); err != nil {
		return nil, err
	}
	return lab.readNA(ip, true, timeout)
}

// readNA reads B's NDP socket until an NA for ip with the given Solicited
// flag arrives.
func (lab *vethLab) readNA(ip netip.Addr, solicited bool, timeout time.Duration) (*ndp.NeighborAdvertisement, error) {
	lab.ndpB.SetReadDeadline(time.Now().Add(timeout))
	for {
		m, _, _, err := lab.ndpB.ReadFrom()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, errNoAnswer
		}
		if err != nil {
			return nil, err
		}
		if na, ok := m.(*ndp.NeighborAdvertisement); ok && na.TargetAddress == ip && na.Solicited == solicited {
			return na, nil
		}
	}
}

// drain discards what B's sockets hold, so a later check sees only new frames.
func (lab *vethLab) drain() {
	lab.arpB.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	for _, _, err := lab.arpB.Read(); err == nil; _, _, err = lab.arpB.Read() {
	}
	lab.ndpB.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	for _, _, _, err := lab.ndpB.ReadFrom(); err == nil; _, _, _, err = lab.ndpB.ReadFrom() {
	}
}

// linkInA lists vethA as the Responders sees it.
func (lab *vethLab) linkInA(t *testing.T, name string) link {
	t.Helper()
	inA, err := enterNetns(t.Context(), "/run/netns/"+lab.nsA)
	if err != nil {
		t.Fatal(err)
	}
	var links map[string]link
	if err := inA.do(t.Context(), func() (err error) { links, err = listLinks(); return err }); err != nil {
		t.Fatal(err)
	}
	return links[name]
}

func naMAC(na *ndp.NeighborAdvertisement) net.HardwareAddr {
	for _, o := range na.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
			return lla.Addr
		}
	}
	return nil
}

// kernelResolves sends a datagram to ip from B, which makes B's kernel
// resolve it, and waits for B's neighbour table to hold A's MAC. This is the
// path real clients take, so it checks that the kernel accepts our replies.
func (lab *vethLab) kernelResolves(t *testing.T, ip netip.Addr) {
	t.Helper()
	runIP(t, "-n", lab.nsB, "neigh", "flush", "dev", "vethB")
	eventually(t, 5*time.Second, func() error {
		err := lab.inB.do(context.Background(), func() error {
			c, err := net.Dial("udp", netip.AddrPortFrom(ip, 9).String())
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("portico"))
			return err
		})
		if err != nil {
			return err
		}
		var neigh []struct {
			LLAddr string   `json:"lladdr"`
			State  []string `json:"state"`
		}
		out := runIP(t, "-n", lab.nsB, "-j", "neigh", "show", "to", ip.String(), "dev", "vethB")
		if err := json.Unmarshal([]byte(out), &neigh); err != nil {
			return err
		}
		if len(neigh) != 1 || neigh[0].LLAddr != lab.macA.String() {
			return fmt.Errorf("B's neighbour entry for %v: %s, want lladdr %v", ip, out, lab.macA)
		}
		return nil
	})
}

func TestRootAnswersARPAndNDP(t *testing.T) {
	lab := newVethLab(t)
	a := lab.responders
	a.Set(map[netip.Addr][]string{lab.vip4: {"vethA"}, lab.vip6: {"vethA"}})

	eventually(t, 5*time.Second, func() error {
		skipOnEPERM(t, a.Healthy())
		mac, err := lab.resolveARP(lab.vip4, 200*time.Millisecond)
		if err == nil && !bytes.Equal(mac, lab.macA) {
			err = fmt.Errorf("ARP for %v answered with %v, want A's %v", lab.vip4, mac, lab.macA)
		}
		return err
	})
	eventually(t, 5*time.Second, func() error {
		na, err := lab.solicitNDP(lab.vip6, 200*time.Millisecond)
		if err != nil {
			return err
		}
		if !bytes.Equal(naMAC(na), lab.macA) || !na.Solicited || !na.Override {
			return fmt.Errorf("NA %+v, want Solicited, Override and A's MAC %v", na, lab.macA)
		}
		return nil
	})
	t.Run("kernel resolves IPv4", func(t *testing.T) { lab.kernelResolves(t, lab.vip4) })
	t.Run("kernel resolves IPv6", func(t *testing.T) { lab.kernelResolves(t, lab.vip6) })
	if err := a.Healthy(); err != nil {
		t.Errorf("Healthy() = %v", err)
	}
	if v := testutil.ToFloat64(a.m.announced); v != 2 {
		t.Errorf("announced gauge = %v, want 2", v)
	}
	if v := testutil.ToFloat64(a.m.gratuitous.WithLabelValues("vethA", "arp")); v != 3 {
		t.Errorf("gratuitous ARP rounds = %v, want 3", v)
	}

	a.Set(nil)
	lab.drain()
	if mac, err := lab.resolveARP(lab.vip4, 500*time.Millisecond); !errors.Is(err, errNoAnswer) {
		t.Errorf("after Set(nil): ARP answered %v, %v", mac, err)
	}
	if na, err := lab.solicitNDP(lab.vip6, 500*time.Millisecond); !errors.Is(err, errNoAnswer) {
		t.Errorf("after Set(nil): NDP answered %+v, %v", na, err)
	}
}

// TestRootFlap takes vethA down and straight up again, faster than a rescan:
// the carrier counter still shows the flap, so A re-announces and answers.
// DAD is back on for A, as on a real node, so the NDP socket has to wait for
// the new link-local address and Healthy says so meanwhile.
func TestRootFlap(t *testing.T) {
	lab := newVethLab(t)
	a := lab.responders
	runIP(t, "netns", "exec", lab.nsA, "sysctl", "-qw", "net.ipv6.conf.vethA.accept_dad=1")
	a.Set(map[netip.Addr][]string{lab.vip4: {"vethA"}, lab.vip6: {"vethA"}})
	eventually(t, 5*time.Second, func() error {
		skipOnEPERM(t, a.Healthy())
		if _, err := lab.resolveARP(lab.vip4, 200*time.Millisecond); err != nil {
			return err
		}
		_, err := lab.solicitNDP(lab.vip6, 200*time.Millisecond)
		return err
	})
	time.Sleep(100 * time.Millisecond) // let the first gratuitous rounds finish
	lab.drain()
	before := testutil.ToFloat64(a.m.gratuitous.WithLabelValues("vethA", "arp"))
	upsBefore := lab.linkInA(t, "vethA").carrierUps

	runIP(t, "-n", lab.nsA, "link", "set", "vethA", "down")
	runIP(t, "-n", lab.nsA, "link", "set", "vethA", "up")
	if ups := lab.linkInA(t, "vethA").carrierUps; ups <= upsBefore {
		t.Errorf("IFLA_CARRIER_UP_COUNT went from %d to %d over a flap", upsBefore, ups)
	}

	// Gratuitous ARP, both forms, from A's MAC, reach B.
	forms := map[arp.Operation]bool{}
	lab.arpB.SetReadDeadline(time.Now().Add(3 * time.Second))
	for len(forms) < 2 {
		p, _, err := lab.arpB.Read()
		if err != nil {
			t.Fatalf("waiting for gratuitous ARP after the flap (forms seen %v): %v", forms, err)
		}
		if p.SenderIP == lab.vip4 && p.TargetIP == lab.vip4 && bytes.Equal(p.SenderHardwareAddr, lab.macA) {
			forms[p.Operation] = true
		}
	}
	if mac, err := lab.resolveARP(lab.vip4, time.Second); err != nil || !bytes.Equal(mac, lab.macA) {
		t.Errorf("ARP after the flap: %v, %v", mac, err)
	}

	// IPv6 waits for DAD on the regenerated link-local address.
	eventually(t, 2*time.Second, func() error {
		if err := a.Healthy(); err == nil || !strings.Contains(err.Error(), "NDP") {
			return fmt.Errorf("Healthy() = %v, want the NDP socket waiting for a link-local address", err)
		}
		return nil
	})
	t.Logf("while DAD runs: %v", a.Healthy())
	na, err := lab.readNA(lab.vip6, false, 5*time.Second)
	if err != nil {
		t.Fatalf("waiting for an unsolicited NA after the flap: %v", err)
	}
	if !na.Override || !bytes.Equal(naMAC(na), lab.macA) {
		t.Errorf("unsolicited NA %+v, want Override and A's MAC", na)
	}
	if err := a.Healthy(); err != nil {
		t.Errorf("Healthy() after DAD = %v", err)
	}
	if after := testutil.ToFloat64(a.m.gratuitous.WithLabelValues("vethA", "arp")); after != before+3 {
		t.Errorf("gratuitous ARP rounds went from %v to %v, want +3", before, after)
	}
	// The link down flushed fd00:213::1 from A (keep_addr_on_down=0), so A
	// has no route back to B's fd00:213::2: the unicast NA fails and the
	// multicast fallback must still complete B's kernel resolution.
	t.Run("kernel resolves IPv6 without a route back", func(t *testing.T) { lab.kernelResolves(t, lab.vip6) })
	t.Run("kernel resolves IPv4", func(t *testing.T) { lab.kernelResolves(t, lab.vip4) })
}

// TestRootDefends: when another station claims an announced address (B
// sends a gratuitous ARP and an unsolicited NA with its own MAC), A
// re-announces it once, after defendDelay; a second claim within
// defendInterval is not answered again, and after Yield none is.
func TestRootDefends(t *testing.T) {
	lab := newVethLab(t)
	a := lab.responders
	a.Set(map[netip.Addr][]string{lab.vip4: {"vethA"}, lab.vip6: {"vethA"}})
	eventually(t, 5*time.Second, func() error {
		skipOnEPERM(t, a.Healthy())
		_, err := lab.resolveARP(lab.vip4, 200*time.Millisecond)
		return err
	})
	eventually(t, 5*time.Second, func() error {
		_, err := lab.solicitNDP(lab.vip6, 200*time.Millisecond)
		return err
	})
	time.Sleep(100 * time.Millisecond) // A's take-over rounds are over
	lab.drain()

	claim := func() time.Time {
		t.Helper()
		req, _, err := gratuitousARP(lab.macB, lab.vip4)
		if err != nil {
			t.Fatal(err)
		}
		if err := lab.arpB.WriteTo(req, ethernet.Broadcast); err != nil {
			t.Fatal(err)
		}
		if err := lab.ndpB.WriteTo(unsolicitedNA(lab.vip6, lab.macB), nil, netip.IPv6LinkLocalAllNodes()); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	// defended reports whether A announced vip4 and vip6 within timeout.
	defended := func(timeout time.Duration) (arpAt, ndpAt time.Duration, ok4, ok6 bool) {
		start := time.Now()
		lab.arpB.SetReadDeadline(start.Add(timeout))
		for {
			p, _, err := lab.arpB.Read()
			if err != nil {
				break
			}
			if p.SenderIP == lab.vip4 && p.TargetIP == lab.vip4 && bytes.Equal(p.SenderHardwareAddr, lab.macA) {
				arpAt, ok4 = time.Since(start), true
				break
			}
		}
		if na, err := lab.readNA(lab.vip6, false, timeout-time.Since(start)); err == nil && bytes.Equal(naMAC(na), lab.macA) {
			ndpAt, ok6 = time.Since(start), true
		}
		return
	}

	claim()
	arpAt, ndpAt, ok4, ok6 := defended(2 * time.Second)
	if !ok4 || !ok6 {
		t.Fatalf("claims from B not defended: gratuitous ARP from A %v, unsolicited NA from A %v", ok4, ok6)
	}
	if arpAt < defendDelay-50*time.Millisecond {
		t.Errorf("defended after %v, before defendDelay %v", arpAt, defendDelay)
	}
	t.Logf("defended: gratuitous ARP after %v, unsolicited NA after %v", arpAt.Round(time.Millisecond), ndpAt.Round(time.Millisecond))
	for _, proto := range []string{"arp", "ndp"} {
		if v := testutil.ToFloat64(a.m.conflicts.WithLabelValues("vethA", proto)); v != 1 {
			t.Errorf("%s conflicts = %v, want 1", proto, v)
		}
	}

	// A second claim right away: rate-limited.
	lab.drain()
	claim()
	if _, _, ok4, ok6 := defended(600 * time.Millisecond); ok4 || ok6 {
		t.Errorf("second claim within %v defended again (ARP %v, NDP %v)", defendInterval, ok4, ok6)
	}

	// After Yield (a handover), claims are the point: no defence, but
	// questions are still answered.
	time.Sleep(defendInterval)
	a.Yield()
	lab.drain()
	claim()
	if _, _, ok4, ok6 := defended(600 * time.Millisecond); ok4 || ok6 {
		t.Errorf("claim after Yield defended (ARP %v, NDP %v)", ok4, ok6)
	}
	if mac, err := lab.resolveARP(lab.vip4, time.Second); err != nil || !bytes.Equal(mac, lab.macA) {
		t.Errorf("after Yield: ARP answered %v, %v; want A's %v", mac, err, lab.macA)
	}
}
