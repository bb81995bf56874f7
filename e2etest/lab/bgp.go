package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/frr"
	"github.com/portico-lb/portico/e2etest/netlab"
)

// The lab's BGP half: a router host running FRR that peers with every
// node, a pool of BGP VIPs (netlab.BGPVIPv4, which the client routes via
// the router), and a Service from it.
const (
	demoBGPPool = "demo-bgp"
	demoBGPPeer = "demo-router"
	demoBGPSvc  = "web-bgp"
)

// bgpPoolRange is the BGP demo pool: .10 to .20 of netlab.BGPVIPv4.
func bgpPoolRange() string {
	first := netlab.BGPVIPv4().Addr()
	for range 10 {
		first = first.Next()
	}
	last := first
	for range 10 {
		last = last.Next()
	}
	return first.String() + "-" + last.String()
}

// RouteLine is one prefix the router learnt over BGP: the next hops of its
// best and multipath paths, the nodes they are, and whether the router's
// kernel routes it (zebra installed it).
type RouteLine struct {
	Prefix   netip.Prefix `json:"prefix"`
	NextHops []netip.Addr `json:"nextHops"`
	Nodes    []string     `json:"nodes"`
	ASPath   string       `json:"asPath"`
	InFIB    int          `json:"inFIB"` // next hops in the kernel's route, 0: none
}

// String is the line for a person.
func (r RouteLine) String() string {
	var hops []string
	for i, h := range r.NextHops {
		hops = append(hops, fmt.Sprintf("%s (%s)", r.Nodes[i], h))
	}
	via := "no path"
	if len(hops) > 0 {
		via = "via " + strings.Join(hops, ", ")
	}
	fib := "not in the kernel FIB"
	if r.InFIB > 0 {
		fib = fmt.Sprintf("in the kernel FIB with %d next hops", r.InFIB)
	}
	return fmt.Sprintf("%s %s, AS path %s; %s", r.Prefix, via, r.ASPath, fib)
}

// startRouter adds the router host and starts FRR in it, peering with
// every node's IPv4 address. Without FRR installed the lab runs without
// BGP, and says so.
func (s *supervisor) startRouter(ctx context.Context) error {
	if err := frr.Installed(); err != nil {
		s.logf("no BGP in this lab: %v", err)
		return nil
	}
	rh, err := s.c.Lab.AddRouter(ctx)
	if err != nil {
		return fmt.Errorf("lab: router: %w", err)
	}
	var nbrs []frr.Neighbor
	for _, n := range s.c.Lab.Nodes {
		nbrs = append(nbrs, frr.Neighbor{Addr: n.IPv4, ASN: cluster.NodeASN})
	}
	if s.router, err = frr.Start(ctx, frr.Config{Host: rh, Neighbors: nbrs}); err != nil {
		return fmt.Errorf("lab: router: %w", err)
	}
	s.logf("router %s (%s) runs FRR, AS %d, peering with every node (AS %d)", rh.Name, rh.IPv4, frr.DefaultASN, cluster.NodeASN)
	return nil
}

// routes serves GET /routes: the router's BGP table, IPv4.
func (s *supervisor) routes(r *http.Request) (any, error) {
	if s.router == nil {
		return nil, errors.New("lab: this lab has no router (FRR is not installed)")
	}
	table, err := s.router.Routes(r.Context(), frr.IPv4)
	if err != nil {
		return nil, err
	}
	fib, err := s.router.FIB(r.Context(), frr.IPv4)
	if err != nil {
		return nil, err
	}
	out := []RouteLine{}
	for p, paths := range table {
		line := RouteLine{Prefix: p}
		for _, path := range paths {
			if !path.Valid || !(path.Best || path.Multipath) || len(path.NextHops) == 0 {
				continue
			}
			line.ASPath = path.ASPath
			line.NextHops = append(line.NextHops, path.NextHops[0])
		}
		slices.SortFunc(line.NextHops, netip.Addr.Compare)
		for _, h := range line.NextHops {
			line.Nodes = append(line.Nodes, orUnknown(s.c.NodeByIP(h)))
		}
		if f, ok := fib[p]; ok && f.Protocol == "bgp" {
			line.InFIB = max(1, len(f.NextHops))
		}
		out = append(out, line)
	}
	slices.SortFunc(out, func(a, b RouteLine) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out, nil
}

// Routes returns the routes the lab's router learnt over BGP.
func (l *Lab) Routes(ctx context.Context) ([]RouteLine, error) {
	var out []RouteLine
	err := l.call(ctx, http.MethodGet, "/routes", nil, nil, &out)
	return out, err
}

// printRoutes prints the router's routes, one line each.
func printRoutes(out io.Writer, rs []RouteLine) {
	if len(rs) == 0 {
		fmt.Fprintln(out, "  (no routes)")
	}
	for _, r := range rs {
		fmt.Fprintf(out, "  %s\n", r)
	}
}

// watchRoutes prints the routes every half second when they change.
func (l *Lab) watchRoutes(ctx context.Context, out io.Writer) error {
	fmt.Fprintln(out, "The router's BGP routes, printed when they change (checked every 0.5s); Ctrl-C stops.")
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		rs, err := l.Routes(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var b strings.Builder
		if err != nil {
			fmt.Fprintf(&b, "  %v\n", err)
		} else {
			printRoutes(&b, rs)
		}
		if b.String() != last {
			fmt.Fprintf(out, "%s\n%s", time.Now().Format("15:04:05.000"), b.String())
			last = b.String()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// demoBGP creates the BGP pool, advertisement, peer and Service, waits
// until the router routes the Service via every node and prints the routes.
// It returns the Service's address ("" when the lab has no router).
func (l *Lab) demoBGP(ctx context.Context, c client.Client, info readyInfo) (string, error) {
	out := l.opts.Out
	if info.Router == nil {
		fmt.Fprintln(out, "\nNo BGP demo: FRR is not installed (e2etest/setup/deps.sh installs it).")
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.DemoTimeout)
	defer cancel()
	r := info.Router
	fmt.Fprintf(out, "\nDemo, BGP: the router (namespace %s, %s) runs FRR in AS %d and peers with every node (AS %d);\n",
		r.Namespace, r.IPv4, frr.DefaultASN, cluster.NodeASN)
	fmt.Fprintf(out, "the client reaches %s through the router only.\n", netlab.BGPVIPv4())
	svc := service(demoBGPSvc, cluster.FromPool(demoBGPPool), cluster.Port(corev1.ProtocolTCP, 80))
	if err := create(ctx, c,
		cluster.Pool(demoBGPPool, false, info.BGPPool),
		cluster.BGPAdvertisement(demoBGPPool, demoBGPPool),
		cluster.BGPPeer(demoBGPPeer, r.IPv4, frr.DefaultASN, 9*time.Second),
		svc,
	); err != nil {
		return "", err
	}
	req := exposeRequest{Namespace: demoNamespace, Service: demoBGPSvc, Pods: []string{"web-1", "web-2", "web-3"}}
	if err := l.call(ctx, http.MethodPost, "/expose", nil, req, &struct{}{}); err != nil {
		return "", fmt.Errorf("lab: demo: endpoints of %s: %w", demoBGPSvc, err)
	}
	fmt.Fprintf(out, "  created IPAddressPool %s (%s, no L2Advertisement), BGPAdvertisement %s, BGPPeer %s (%s)\n",
		demoBGPPool, info.BGPPool, demoBGPPool, demoBGPPeer, r.IPv4)
	fmt.Fprintf(out, "  and Service %s (pods web-1..3)\n", demoBGPSvc)
	var ip string
	var routes []RouteLine
	err := netlab.Poll(ctx, 200*time.Millisecond, 0, "the router to route "+demoBGPSvc+" via every node", func(ctx context.Context) error {
		s, err := getService(ctx, c, demoBGPSvc)
		if err != nil {
			return netlab.Permanent(err)
		}
		ips := ingressIPs(s)
		if len(ips) == 0 {
			return errors.New("no address yet")
		}
		ip = ips[0]
		if routes, err = l.Routes(ctx); err != nil {
			return err
		}
		for _, rt := range routes {
			if rt.Prefix.Addr().String() == ip && len(rt.NextHops) == len(info.Nodes) && rt.InFIB == len(info.Nodes) {
				return nil
			}
		}
		return fmt.Errorf("%s has %s; the router's routes: %v", demoBGPSvc, ip, routes)
	})
	if err != nil {
		return "", fmt.Errorf("lab: demo: %w", err)
	}
	fmt.Fprintf(out, "\n%s got %s. The router's BGP routes (vtysh \"show bgp ipv4 unicast json detail\", and ip route):\n", demoBGPSvc, ip)
	printRoutes(out, routes)
	fmt.Fprintf(out, "\nTCP connections from the client through the router (ECMP: the router picks a node per flow):\n")
	l.dialSome(ctx, out, ip, 3)
	return ip, nil
}

// printBGPPoke prints how to watch a node's route go.
func printBGPPoke(out io.Writer, info readyInfo, bgpIP string) {
	if bgpIP == "" {
		return
	}
	n := info.Nodes[0].Name
	fmt.Fprintf(out, `
Watch the router withdraw a node's next hop for %[1]s's %[2]s:
  1. in one terminal:  lab routes -w         # the router's BGP routes when they change
  2. in another:       lab dial -w %[2]s    # through the router
  3. then:             lab kill-speaker %[3]s
  The router drops %[3]s's next hop when its session goes (at once: the kernel closes the TCP
  connection of a killed process; a SIGTERM sends a Cease); the others keep carrying the flows.
  Bring it back with `+"`lab start-speaker %[3]s`"+`; the route gains the next hop again.
`, demoBGPSvc, bgpIP, n)
}
