package suites

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
)

// TestARP: an IPv4 VIP is answered by exactly the node the Service's status
// names, and TCP to it reaches the pod.
func TestARP(t *testing.T) {
	f := setup(t, 0, nil)
	pod := f.pod("node-2", "arp-web")
	svc := f.service("web")
	f.expose(svc, pod)
	vip := f.vip(svc)
	testAnnounced(f, svc, vip, pod)
}

// TestNDP: the same for an IPv6 VIP, answered by Neighbor Advertisements.
func TestNDP(t *testing.T) {
	f := setup(t, 1, nil)
	pod := f.pod("node-2", "ndp-web")
	svc := f.service("web", ipv6())
	f.expose(svc, pod)
	vip := f.vip(svc)
	if !vip.Is6() || !f.c.Lab.LANv6.Contains(vip) {
		t.Fatalf("VIP %s: want an IPv6 address of the lab's LAN %s", vip, f.c.Lab.LANv6)
	}
	testAnnounced(f, svc, vip, pod)
}

// testAnnounced checks the whole layer 2 path for one VIP: status
// condition, Event, the client's resolution, TCP to the pod, and that no
// other node ever answers.
func testAnnounced(f *fixture, svc *corev1.Service, vip netip.Addr, pod *cluster.Pod) {
	t := f.t
	node := f.waitAnnouncer(svc, vip, 10*time.Second, nil)
	t.Logf("%s: condition says node %s announces it", vip, node)
	if got := f.resolve(vip); got != node {
		t.Errorf("%s resolves to %s's MAC; the Service's condition names %s", vip, got, node)
	}
	ev := f.waitEvent(svc, "AnnouncerChanged")
	if !strings.Contains(ev.Note, node) {
		t.Errorf("event AnnouncerChanged says %q; want it to name %s", ev.Note, node)
	}

	line := f.dial(vip, 80)
	if want := "pod=" + pod.Name + " node=" + pod.Node; !strings.HasPrefix(line, want) {
		t.Errorf("TCP to %s:80 answered %q; want %q…", vip, line, want)
	}
	if via := f.ingressNode(line); via != node {
		t.Errorf("TCP to %s entered the cluster at %s (line %q); want the announcing node %s", vip, via, line, node)
	}

	cp := f.capture()
	asked, answered := f.probeFor(vip, 2*time.Second, 200*time.Millisecond)
	cp.Stop()
	answers := cp.For(vip, time.Time{})
	t.Logf("capture: %d requests, %d answered, %d announcements for %s from %v", asked, answered, len(answers), vip, cluster.Senders(answers))
	if answered != asked {
		t.Errorf("%d of %d requests for %s went unanswered", asked-answered, asked, vip)
	}
	f.onlyAnswerer(answers, vip, node)
}

// TestNodeSelectorsAndInterfaces: an L2Advertisement that selects node-3
// only has node-3 announce every one of its VIPs, on the named interface;
// naming an interface node-3 lacks silences it.
func TestNodeSelectorsAndInterfaces(t *testing.T) {
	f := setup(t, 2, func(s *v1beta1.L2AdvertisementSpec) {
		s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"kubernetes.io/hostname": "node-3"}}}
		s.Interfaces = []string{"eth0"}
	})
	pod := f.pod("node-1", "sel-web")
	var vips []netip.Addr
	for _, name := range []string{"a", "b", "c"} {
		svc := f.service(name)
		f.expose(svc, pod)
		vip := f.vip(svc)
		vips = append(vips, vip)
		if node := f.waitAnnouncer(svc, vip, 10*time.Second, nil); node != "node-3" {
			t.Errorf("%s (service %s) announced by %s; only node-3 is selected", vip, name, node)
		}
		f.waitResolves(vip, "node-3", 5*time.Second)
	}
	cp := f.capture()
	for _, vip := range vips {
		f.probeFor(vip, 600*time.Millisecond, 200*time.Millisecond)
	}
	cp.Stop()
	for _, vip := range vips {
		f.onlyAnswerer(cp.For(vip, time.Time{}), vip, "node-3")
	}
	if line := f.dial(vips[0], 80); !strings.HasPrefix(line, "pod=sel-web") {
		t.Errorf("TCP to %s answered %q", vips[0], line)
	}

	// An interface node-3 does not have: nobody answers on eth0 any more.
	f.updateL2(func(s *v1beta1.L2AdvertisementSpec) { s.Interfaces = []string{"e2e-none0"} })
	for _, vip := range vips {
		f.waitNoAnswer(vip, 5*time.Second)
	}
	// And back.
	f.updateL2(func(s *v1beta1.L2AdvertisementSpec) { s.Interfaces = []string{"eth0"} })
	for _, vip := range vips {
		f.waitResolves(vip, "node-3", 5*time.Second)
	}
}

// TestLocalTrafficPolicy: with externalTrafficPolicy Local only a node with
// a ready endpoint announces, the client's address reaches the pod, and
// the VIP is withdrawn when the endpoint goes (unready or removed).
func TestLocalTrafficPolicy(t *testing.T) {
	f := setup(t, 3, nil)
	pod := f.pod("node-3", "local-web")
	svc := f.service("web", local())
	f.expose(svc, pod)
	vip := f.vip(svc)
	if node := f.waitAnnouncer(svc, vip, 10*time.Second, nil); node != "node-3" {
		t.Errorf("%s announced by %s; the only ready endpoint is on node-3", vip, node)
	}
	f.waitResolves(vip, "node-3", 5*time.Second)
	line := f.dial(vip, 80)
	got, err := cluster.ClientAddr(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.c.Lab.Client.IPv4; got != want || !strings.HasPrefix(line, "pod=local-web node=node-3") {
		t.Errorf("TCP to %s answered %q; want pod=local-web node=node-3 client=%s:… (source preserved)", vip, line, want)
	}

	for _, step := range []struct {
		what string
		pods []*cluster.Pod
	}{
		{"endpoint not ready", []*cluster.Pod{pod.NotReady()}},
		{"endpoint ready again", []*cluster.Pod{pod}},
		{"endpoint removed", nil},
	} {
		start := time.Now()
		f.expose(svc, step.pods...)
		if len(step.pods) == 1 && step.pods[0] == pod {
			f.waitResolves(vip, "node-3", 5*time.Second)
			f.dial(vip, 80)
		} else {
			f.waitNoAnswer(vip, 5*time.Second)
			// And it stays withdrawn: no node answers for a while.
			cp := f.capture()
			f.probeFor(vip, time.Second, 200*time.Millisecond)
			cp.Stop()
			if fr := cp.For(vip, time.Time{}); len(fr) > 0 {
				t.Errorf("%s: %s still announced: %v", step.what, vip, fr)
			}
		}
		t.Logf("%s: done in %v", step.what, time.Since(start).Round(time.Millisecond))
	}
}

// TestSharedIP: two Services sharing one address (same key, different
// ports) have one announcer, and each port reaches its own pod.
func TestSharedIP(t *testing.T) {
	f := setup(t, 4, nil)
	podA, podB := f.pod("node-1", "shared-a"), f.pod("node-2", "shared-b")
	ip := f.v4[1]
	a := f.service("a", shareIP("e2e", ip), port(80))
	b := f.service("b", shareIP("e2e", ip), port(81))
	f.expose(a, podA)
	f.expose(b, podB)
	if f.vip(a) != ip || f.vip(b) != ip {
		t.Fatalf("addresses %s and %s; want both %s", f.vip(a), f.vip(b), ip)
	}
	na := f.waitAnnouncer(a, ip, 10*time.Second, nil)
	// Service b must say so too, though its address was announced already
	// when b got it.
	if nb, err := f.awaitAnnouncer(b, ip, 5*time.Second, nil); err != nil {
		t.Error(err)
	} else if na != nb {
		t.Errorf("shared %s: service a says %s announces it, service b says %s", ip, na, nb)
	}
	f.waitResolves(ip, na, 5*time.Second)
	if line := f.dial(ip, 80); !strings.HasPrefix(line, "pod=shared-a") {
		t.Errorf("%s:80 answered %q; want pod shared-a", ip, line)
	}
	if line := f.dial(ip, 81); !strings.HasPrefix(line, "pod=shared-b") {
		t.Errorf("%s:81 answered %q; want pod shared-b", ip, line)
	}
	cp := f.capture()
	f.probeFor(ip, time.Second, 200*time.Millisecond)
	cp.Stop()
	f.onlyAnswerer(cp.For(ip, time.Time{}), ip, na)
}

// updateL2 changes the test's L2Advertisement.
func (f *fixture) updateL2(change func(*v1beta1.L2AdvertisementSpec)) {
	f.t.Helper()
	var l2 v1beta1.L2Advertisement
	if err := f.c.Client.Get(f.ctx, client.ObjectKey{Name: f.name}, &l2); err != nil {
		f.t.Fatal(err)
	}
	change(&l2.Spec)
	if err := f.c.Client.Update(f.ctx, &l2); err != nil {
		f.t.Fatal(err)
	}
}
