package resolver_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/miekg/dns"

	"github.com/portico-lb/portico/controller/probe/resolver"
)

// A name with two A records, from the server a resolv.conf names (here an
// in-process server on a loopback port; in a pod, the cluster DNS).
func ExampleResolver_Resolve() {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Qtype == dns.TypeA {
			for _, rr := range []string{"mysql.db.example. 30 IN A 10.1.0.32", "mysql.db.example. 20 IN A 10.1.0.31"} {
				r, _ := dns.NewRR(rr)
				m.Answer = append(m.Answer, r)
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	defer srv.Shutdown()

	dir, _ := os.MkdirTemp("", "resolv")
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "resolv.conf")
	_ = os.WriteFile(conf, []byte("nameserver 127.0.0.1\nsearch db.example\n"), 0o644)

	r := resolver.New(resolver.Options{ResolvConf: conf, Port: uint16(pc.LocalAddr().(*net.UDPAddr).Port)})
	a, err := r.Resolve(context.Background(), "mysql")
	fmt.Println(a.Name, a.Addrs, a.TTL, err)
	// Output: mysql.db.example. [10.1.0.31 10.1.0.32] 20s <nil>
}
