package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/portico-lb/portico/internal/realserver"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func resolve(t *testing.T, r *Resolver, name string) (Answer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := r.Resolve(ctx, name)
	t.Logf("Resolve(%q) = %+v, %v", name, a, err)
	return a, err
}

// TestDNSMasq resolves names served by a real dnsmasq: two A records with a
// TTL, A and AAAA together, the search list, NXDOMAIN, a changed answer, a
// changed TTL, and a dead server.
func TestDNSMasq(t *testing.T) {
	records := map[string][]netip.Addr{
		"db.test":    addrs("10.1.0.41", "10.1.0.42"),
		"dual.test":  addrs("10.1.0.51", "2001:db8::51"),
		"redis.test": addrs("10.1.0.61"),
	}
	srv := realserver.StartDNS(t, realserver.DNSOptions{TTL: 7 * time.Second, Records: records})
	r := New(Options{ResolvConf: srv.ResolvConf(t, "search test", "options ndots:1 timeout:1 attempts:1"), Port: srv.Addr.Port()})

	t.Run("two A records with their TTL", func(t *testing.T) {
		a, err := resolve(t, r, "db.test.")
		if err != nil {
			t.Fatal(err)
		}
		want := Answer{Name: "db.test.", Addrs: addrs("10.1.0.41", "10.1.0.42"), TTL: 7 * time.Second}
		if diff := cmp.Diff(want, a, cmpAddr); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("A and AAAA", func(t *testing.T) {
		a, err := resolve(t, r, "dual.test")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(addrs("10.1.0.51", "2001:db8::51"), a.Addrs, cmpAddr); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("search list", func(t *testing.T) {
		a, err := resolve(t, r, "redis")
		if err != nil {
			t.Fatal(err)
		}
		if a.Name != "redis.test." || len(a.Addrs) != 1 {
			t.Errorf("got %+v, want redis.test. with one address", a)
		}
	})
	t.Run("NXDOMAIN", func(t *testing.T) {
		_, err := resolve(t, r, "gone.test.")
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"gone.test."`) {
			t.Errorf("error %v, want ErrNotFound naming the name", err)
		}
	})
	t.Run("answer changes", func(t *testing.T) {
		srv.SetRecords(t, map[string][]netip.Addr{"db.test": addrs("10.1.0.43")})
		deadline := time.Now().Add(5 * time.Second)
		for {
			a, err := resolve(t, r, "db.test.")
			if err == nil && len(a.Addrs) == 1 && a.Addrs[0] == netip.MustParseAddr("10.1.0.43") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still %v, %v after SIGHUP", a.Addrs, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("TTL changes", func(t *testing.T) {
		srv.SetTTL(t, 2*time.Second)
		a, err := resolve(t, r, "db.test.")
		if err != nil || a.TTL != 2*time.Second {
			t.Errorf("got %+v, %v; want TTL 2s after the change", a, err)
		}
	})
	t.Run("server down", func(t *testing.T) {
		srv.Kill()
		_, err := resolve(t, r, "db.test.")
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("error %v, want a failure that is not ErrNotFound", err)
		}
	})
}

func TestResolvConfErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "resolv.conf")
	if _, err := New(Options{ResolvConf: missing}).Resolve(context.Background(), "db"); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing resolv.conf: %v, want an error naming it", err)
	}
	empty := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(empty, []byte("search test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{ResolvConf: empty}).Resolve(context.Background(), "db"); err == nil || !strings.Contains(err.Error(), "names no nameserver") {
		t.Errorf("resolv.conf without servers: %v", err)
	}
}

// TestTruncatedFallsBackToTCP: a server whose UDP answers are truncated is
// asked again over TCP. The fake sits at the socket boundary: a UDP
// responder that only sets TC, and a TCP one that answers.
func TestTruncatedFallsBackToTCP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Skipf("TCP port %d taken: %v", port, err)
	}
	answer := func(w dns.ResponseWriter, q *dns.Msg, truncate bool) {
		m := new(dns.Msg)
		m.SetReply(q)
		if truncate {
			m.Truncated = true
		} else if q.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR(q.Question[0].Name + " 30 IN A 10.1.0.71")
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	}
	udp := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) { answer(w, q, true) })}
	tcp := &dns.Server{Listener: l, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) { answer(w, q, false) })}
	for _, s := range []*dns.Server{udp, tcp} {
		go func() { _ = s.ActivateAndServe() }()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := resolve(t, New(Options{ResolvConf: conf, Port: uint16(port)}), "big.example.")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Answer{Name: "big.example.", Addrs: addrs("10.1.0.71"), TTL: 30 * time.Second}, a, cmpAddr); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func mustRR(t testing.TB, s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

func TestAddrsOf(t *testing.T) {
	tests := []struct {
		name  string
		qtype uint16
		rrs   []string
		want  []netip.Addr
		ttl   time.Duration
	}{
		{"two A", dns.TypeA, []string{"db.test. 7 IN A 10.1.0.41", "db.test. 9 IN A 10.1.0.42"}, addrs("10.1.0.41", "10.1.0.42"), 7 * time.Second},
		{"CNAME with shorter TTL", dns.TypeA, []string{"db.test. 3 IN CNAME real.test.", "real.test. 60 IN A 10.1.0.41"}, addrs("10.1.0.41"), 3 * time.Second},
		{"AAAA", dns.TypeAAAA, []string{"db.test. 30 IN AAAA 2001:db8::1"}, addrs("2001:db8::1"), 30 * time.Second},
		{"A in an AAAA answer ignored", dns.TypeAAAA, []string{"db.test. 30 IN A 10.1.0.41"}, nil, 0},
		{"other types ignored", dns.TypeA, []string{"db.test. 5 IN TXT \"x\"", "db.test. 50 IN A 10.1.0.41"}, addrs("10.1.0.41"), 50 * time.Second},
		{"empty", dns.TypeA, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := new(dns.Msg)
			for _, s := range tt.rrs {
				m.Answer = append(m.Answer, mustRR(t, s))
			}
			got, ttl := addrsOf(m, tt.qtype)
			if diff := cmp.Diff(tt.want, got, cmpAddr); diff != "" || ttl != tt.ttl {
				t.Errorf("addrsOf = %v, %v; want %v, %v", got, ttl, tt.want, tt.ttl)
			}
		})
	}
}

// FuzzAddrsOf: whatever bytes a server sends, once miekg/dns has unpacked
// them addrsOf neither panics nor returns an invalid address or one of the
// wrong family.
func FuzzAddrsOf(f *testing.F) {
	// Seeds: a real answer with two A records, one with a CNAME chain, and
	// an AAAA answer, packed.
	for _, rrs := range [][]string{
		{"db.test. 7 IN A 10.1.0.41", "db.test. 7 IN A 10.1.0.42"},
		{"db.test. 3 IN CNAME real.test.", "real.test. 60 IN A 10.1.0.41"},
		{"db.test. 30 IN AAAA 2001:db8::1"},
	} {
		m := new(dns.Msg)
		m.SetQuestion("db.test.", dns.TypeA)
		for _, s := range rrs {
			m.Answer = append(m.Answer, mustRR(f, s))
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if m.Unpack(b) != nil {
			return
		}
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			got, _ := addrsOf(m, qt)
			for _, a := range got {
				if !a.IsValid() || (qt == dns.TypeA) != a.Is4() {
					t.Fatalf("addrsOf(%v) returned %v", qt, a)
				}
			}
		}
	})
}
