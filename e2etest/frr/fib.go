package frr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// FIBRoute is one route of the host's kernel main table.
type FIBRoute struct {
	Protocol string       // "bgp" for what zebra installed, "kernel", "static", …
	NextHops []netip.Addr // gateways, sorted as the kernel lists them; none for on-link routes
}

// Multipath reports whether the route has more than one next hop (ECMP).
func (f FIBRoute) Multipath() bool { return len(f.NextHops) > 1 }

// FIB returns the kernel main table of the router's namespace for one
// family, from "ip -j route show": prefix → route. The default route, if
// any, is 0.0.0.0/0 or ::/0.
func (r *Router) FIB(ctx context.Context, fam Family) (map[netip.Prefix]FIBRoute, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	flag := "-4"
	if fam == IPv6 {
		flag = "-6"
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, r.ip, "-n", r.Host.Namespace, "-j", flag, "route", "show", "table", "main")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("frr: %s: ip route show: %w: %s", r.Host.Name, err, strings.TrimSpace(stderr.String()))
	}
	fib, err := parseFIB(fam, stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("frr: %s: %w", r.Host.Name, err)
	}
	return fib, nil
}

type jsonFIBRoute struct {
	Dst      string `json:"dst"`
	Gateway  string `json:"gateway"`
	Protocol string `json:"protocol"`
	Type     string `json:"type"` // set for non-unicast routes only
	NextHops []struct {
		Gateway string `json:"gateway"`
	} `json:"nexthops"`
}

// parseFIB decodes "ip -j route show". ip writes host routes without a
// length ("198.51.100.7") and the default route as "default".
func parseFIB(fam Family, out []byte) (map[netip.Prefix]FIBRoute, error) {
	var rs []jsonFIBRoute
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, fmt.Errorf("ip route: %w", err)
	}
	fib := make(map[netip.Prefix]FIBRoute, len(rs))
	for _, jr := range rs {
		if jr.Type != "" && jr.Type != "unicast" {
			continue // blackhole, unreachable, …
		}
		pfx, err := fibPrefix(fam, jr.Dst)
		if err != nil {
			return nil, err
		}
		f := FIBRoute{Protocol: jr.Protocol}
		gws := []string{jr.Gateway}
		if len(jr.NextHops) > 0 {
			gws = gws[:0]
			for _, nh := range jr.NextHops {
				gws = append(gws, nh.Gateway)
			}
		}
		for _, g := range gws {
			if g == "" {
				continue
			}
			a, err := netip.ParseAddr(g)
			if err != nil {
				return nil, fmt.Errorf("ip route: %s: gateway %q: %w", pfx, g, err)
			}
			f.NextHops = append(f.NextHops, a)
		}
		fib[pfx] = f
	}
	return fib, nil
}

func fibPrefix(fam Family, dst string) (netip.Prefix, error) {
	if dst == "default" {
		if fam == IPv6 {
			return netip.MustParsePrefix("::/0"), nil
		}
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	if strings.Contains(dst, "/") {
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			return p, fmt.Errorf("ip route: dst %q: %w", dst, err)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(dst)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("ip route: dst %q: %w", dst, err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
