package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// ErrNotFound: every name the search list produced is NXDOMAIN or has no A
// or AAAA record. Other errors mean no server gave an answer.
var ErrNotFound = errors.New("no A or AAAA record")

// Options configure a Resolver.
type Options struct {
	// ResolvConf is the resolv.conf to read, at every lookup so that a
	// changed file is followed; /etc/resolv.conf when empty.
	ResolvConf string
	// Port replaces the servers' port, which resolv.conf cannot state (for
	// tests, or a node-local cache on another port); 53 when 0.
	Port uint16
}

// Resolver looks names up. It is safe for concurrent use.
type Resolver struct {
	path string
	port string
}

// New returns a Resolver.
func New(o Options) *Resolver {
	r := &Resolver{path: o.ResolvConf, port: "53"}
	if r.path == "" {
		r.path = "/etc/resolv.conf"
	}
	if o.Port != 0 {
		r.port = strconv.Itoa(int(o.Port))
	}
	return r
}

// Answer is the outcome of a lookup.
type Answer struct {
	// Name is the fully qualified name that answered (after the search list).
	Name string
	// Addrs are its IPv4 and IPv6 addresses, sorted, without duplicates.
	Addrs []netip.Addr
	// TTL is the smallest TTL of the records the addresses came from,
	// CNAMEs included.
	TTL time.Duration
}

// Resolve looks up name's A and AAAA records.
func (r *Resolver) Resolve(ctx context.Context, name string) (Answer, error) {
	cfg, err := dns.ClientConfigFromFile(r.path)
	if err != nil {
		return Answer{}, fmt.Errorf("resolver: %w", err)
	}
	if len(cfg.Servers) == 0 {
		return Answer{}, fmt.Errorf("resolver: %s names no nameserver", r.path)
	}
	for _, fqdn := range cfg.NameList(name) {
		var a Answer
		found := false
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
			m, err := r.query(ctx, cfg, fqdn, qtype)
			if err != nil {
				return Answer{}, fmt.Errorf("resolver: %q: %w", name, err)
			}
			if m.Rcode == dns.RcodeNameError {
				continue
			}
			addrs, ttl := addrsOf(m, qtype)
			if len(addrs) == 0 {
				continue
			}
			if !found || ttl < a.TTL {
				a.TTL = ttl
			}
			found = true
			a.Addrs = append(a.Addrs, addrs...)
		}
		if found {
			a.Name = fqdn
			slices.SortFunc(a.Addrs, netip.Addr.Compare)
			a.Addrs = slices.Compact(a.Addrs)
			return a, nil
		}
	}
	return Answer{}, fmt.Errorf("resolver: %q: %w", name, ErrNotFound)
}

// query asks each server in turn, cfg.Attempts rounds, until one answers
// with NOERROR or NXDOMAIN; SERVFAIL, REFUSED and timeouts move on.
func (r *Resolver) query(ctx context.Context, cfg *dns.ClientConfig, fqdn string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.RecursionDesired = true
	timeout := time.Duration(max(cfg.Timeout, 1)) * time.Second
	var last error
	for range max(cfg.Attempts, 1) {
		for _, s := range cfg.Servers {
			server := net.JoinHostPort(s, r.port)
			m, err := exchange(ctx, q, server, timeout)
			if err == nil && m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
				err = fmt.Errorf("%s answered %s", server, dns.RcodeToString[m.Rcode])
			}
			if err == nil {
				return m, nil
			}
			last = err
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	return nil, last
}

// exchange sends q over UDP and again over TCP when the answer is truncated.
func exchange(ctx context.Context, q *dns.Msg, server string, timeout time.Duration) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: timeout}
	m, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && m.Truncated {
		c.Net = "tcp"
		m, _, err = c.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", server, err)
	}
	return m, nil
}

// addrsOf returns the addresses of type qtype in m's answer section and
// the smallest TTL of the answer's records (the CNAMEs leading to them
// count: when one expires, the chain may point elsewhere).
func addrsOf(m *dns.Msg, qtype uint16) ([]netip.Addr, time.Duration) {
	var addrs []netip.Addr
	minTTL := uint32(0)
	first := true
	for _, rr := range m.Answer {
		h := rr.Header()
		var a netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			if qtype != dns.TypeA {
				continue
			}
			a, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			if qtype != dns.TypeAAAA {
				continue
			}
			a, _ = netip.AddrFromSlice(v.AAAA.To16())
		case *dns.CNAME:
		default:
			continue
		}
		if first || h.Ttl < minTTL {
			minTTL, first = h.Ttl, false
		}
		if a.IsValid() {
			addrs = append(addrs, a)
		}
	}
	return addrs, time.Duration(minTTL) * time.Second
}
