package suites

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
	"github.com/portico-lb/portico/internal/realserver"
)

// The ExternalService tests that follow a change outside the cluster: a
// primary switch-over (Redis replication, MariaDB read_only) and a DNS
// name's records.

// kubeProxySync is how long after a slice change a node's kube-proxy may
// still send new connections by the old rules (its nftables sync, with
// two CPUs shared by the whole lab).
const kubeProxySync = 2 * time.Second

// testRedisPrimary: two Redis servers in replication, routing Primary. The
// slice lists only the master ready and follows a switch-over; redis-cli
// SETs through the ClusterIP from a node all along, and every SET sent
// once the slice and kube-proxy have followed succeeds.
func testRedisPrimary(t *testing.T, c *cluster.Cluster, cl clients, a, b *realserver.Redis) {
	x := newExtTest(t, c)
	es := x.externalService("redis-primary", 6379, v1beta1.HealthCheckRedis, a.Addr.Addr().String(), b.Addr.Addr().String())
	es.Spec.Routing = v1beta1.RoutingPrimary
	x.create(es)
	x.waitSlices(es.Name, entries(slice(a.Addr.Addr(), 6379, true), slice(b.Addr.Addr(), 6379, false)), 10*time.Second)
	at := netip.AddrPortFrom(x.clusterIP(es.Name), 6379)
	node := c.Lab.Nodes[0]
	poll(t, 10*time.Second, "SET through "+at.String(), func(context.Context) error {
		_, err := cl.redisDo(node, at, "SET", "k", "first")
		return err
	})

	w := writeLoop(cl, node, at)
	time.Sleep(500 * time.Millisecond)
	switched := time.Now()
	realserver.SetPrimary(t, b, a)
	setDone := time.Since(switched)
	took := x.waitSlices(es.Name, entries(slice(a.Addr.Addr(), 6379, false), slice(b.Addr.Addr(), 6379, true)), 10*time.Second) + setDone
	followed := switched.Add(took)
	time.Sleep(kubeProxySync + 2*time.Second)
	writes := w.stop()
	if st := x.get(es.Name).Status; st.Primary != b.Addr.String() {
		t.Errorf("status.primary %q, want %s", st.Primary, b.Addr)
	}

	var before, window, after, failedAfter int
	var firstFailure string
	var lastFailure time.Time
	for _, wr := range writes {
		if wr.err != nil {
			lastFailure = wr.at
		}
		switch {
		case wr.at.Before(switched):
			before++
			if wr.err != nil {
				t.Errorf("a SET before the switch-over failed: %v", wr.err)
			}
		case wr.at.Before(followed.Add(kubeProxySync)):
			if wr.err != nil {
				window++
			}
		default:
			after++
			if wr.err != nil {
				failedAfter++
				if firstFailure == "" {
					firstFailure = fmt.Sprintf("%s: %v", wr.at.Format("15:04:05.000"), wr.err)
				}
			}
		}
	}
	t.Logf("switch-over: SetPrimary took %v, the slice followed %v after it began; SETs: %d before, %d failed in the window, %d after (%d failed); the last failed SET began %v after the slice followed",
		setDone.Round(time.Millisecond), took.Round(time.Millisecond), before, window, after, failedAfter, lastFailure.Sub(followed).Round(time.Millisecond))
	if after == 0 || failedAfter > 0 {
		t.Errorf("%d of %d SETs sent %v after the slice followed failed (first %s)", failedAfter, after, kubeProxySync, firstFailure)
	}
	if got := b.Do(t, "GET", "k"); got == "" || got == "first" {
		t.Errorf("the new primary has k=%q, want a SET from the loop", got)
	}
}

// write is one SET of a write loop.
type write struct {
	at  time.Time
	err error
}

type writes struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	all    []write
}

// writeLoop runs redis-cli SET through at from node, one after the other,
// 20 ms apart, until stopped.
func writeLoop(cl clients, node *netlab.Host, at netip.AddrPort) *writes {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writes{cancel: cancel}
	w.wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			start := time.Now()
			_, err := cl.redisDo(node, at, "SET", "k", fmt.Sprint(i))
			w.all = append(w.all, write{at: start, err: err})
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	return w
}

func (w *writes) stop() []write {
	w.cancel()
	w.wg.Wait()
	return w.all
}

// testMySQLPrimary: two MariaDB servers, routing Primary with a labelled
// credentials Secret; the primary follows read_only from one to the other
// (MariaDB 10.11 has no super_read_only; the probe reads read_only alone).
func testMySQLPrimary(t *testing.T, c *cluster.Cluster, a, b *realserver.MariaDB) {
	x := newExtTest(t, c)
	b.SetReadOnly(t, true)
	es := x.externalService("mysql-primary", 3306, v1beta1.HealthCheckMySQL, a.Addr.Addr().String(), b.Addr.Addr().String())
	es.Spec.Routing = v1beta1.RoutingPrimary
	es.Spec.HealthCheck.CredentialsSecret = x.credentials("monitor", "app", "s3cret")
	x.create(es)
	x.waitSlices(es.Name, entries(slice(a.Addr.Addr(), 3306, true), slice(b.Addr.Addr(), 3306, false)), 10*time.Second)
	st := x.waitStatus(es.Name, 5*time.Second, "a primary, b replica", func(st v1beta1.ExternalServiceStatus) error {
		ta, _ := target(st, a.Addr.Addr())
		tb, _ := target(st, b.Addr.Addr())
		if st.Primary != a.Addr.String() || ta.Role != v1beta1.RolePrimary || tb.Role != v1beta1.RoleReplica {
			return fmt.Errorf("primary %q, roles %s and %s", st.Primary, ta.Role, tb.Role)
		}
		return nil
	})
	if cond := meta.FindStatusCondition(st.Conditions, v1beta1.ConditionPrimaryElected); cond == nil || cond.Status != metav1.ConditionTrue {
		t.Errorf("PrimaryElected %+v", cond)
	}

	// A switch-over as an operator does it: the old primary goes
	// read-only first, then the new one writable.
	a.SetReadOnly(t, true)
	none := x.waitSlices(es.Name, entries(slice(a.Addr.Addr(), 3306, false), slice(b.Addr.Addr(), 3306, false)), deathBound)
	b.SetReadOnly(t, false)
	took := x.waitSlices(es.Name, entries(slice(a.Addr.Addr(), 3306, false), slice(b.Addr.Addr(), 3306, true)), 10*time.Second)
	t.Logf("read_only on the old primary: unpublished in %v; read_only=0 on the new one: published in %v", none.Round(time.Millisecond), took.Round(time.Millisecond))
	x.waitStatus(es.Name, 2*time.Second, "primary "+b.Addr.String(), func(st v1beta1.ExternalServiceStatus) error {
		if st.Primary != b.Addr.String() {
			return fmt.Errorf("primary %q", st.Primary)
		}
		return nil
	})
}

// testDNSName: a name served by dnsmasq on its own lab host resolves to
// both Redis servers; the status lists both resolved targets, the slice
// both as ready, and a change of the records is followed, as is the
// server's death (the last addresses kept) and its return with another
// TTL.
func testDNSName(t *testing.T, c *cluster.Cluster, pl realserver.Place, a, b *realserver.Redis) {
	x := newExtTest(t, c)
	srv := realserver.StartDNS(t, realserver.DNSOptions{Place: pl, TTL: time.Second,
		Records: map[string][]netip.Addr{"redis.test": {a.Addr.Addr(), b.Addr.Addr()}}})
	if err := c.SetNameservers(srv.Addr.Addr()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.SetNameservers(); err != nil {
			t.Error(err)
		}
	})
	es := x.externalService("redis-dns", 6379, v1beta1.HealthCheckRedis, "redis.test")
	x.create(es)
	x.waitSlices(es.Name, entries(slice(a.Addr.Addr(), 6379, true), slice(b.Addr.Addr(), 6379, true)), 15*time.Second)
	x.waitStatus(es.Name, 5*time.Second, "both resolved targets", func(st v1beta1.ExternalServiceStatus) error {
		if len(st.Endpoints) != 1 || len(st.Endpoints[0].Targets) != 2 || st.Endpoints[0].ResolvedAt == nil {
			return fmt.Errorf("endpoints %+v", st.Endpoints)
		}
		return nil
	})

	changed := time.Now()
	srv.SetRecords(t, map[string][]netip.Addr{"redis.test": {b.Addr.Addr()}})
	x.waitSlices(es.Name, slice(b.Addr.Addr(), 6379, true), 15*time.Second)
	// The status is written after the slices, and again after a conflict
	// with the controller's own previous write.
	x.waitStatus(es.Name, 2*time.Second, "only "+b.Addr.Addr().String()+" resolved", func(st v1beta1.ExternalServiceStatus) error {
		if len(st.Endpoints) != 1 || len(st.Endpoints[0].Targets) != 1 || st.Endpoints[0].Targets[0].IP != b.Addr.Addr().String() {
			return fmt.Errorf("endpoints %+v", st.Endpoints)
		}
		return nil
	})
	t.Logf("records changed: the slice followed in %v (the controller re-resolves every max(TTL, 5 s))", time.Since(changed).Round(time.Millisecond))

	// A DNS outage keeps the last addresses, for the grace period, and
	// says so; the server back with another TTL and both records again is
	// followed.
	srv.Kill()
	killed := time.Now()
	x.waitStatus(es.Name, 5*time.Second+3*time.Second, "the name's last address kept", func(st v1beta1.ExternalServiceStatus) error {
		if len(st.Endpoints) != 1 || !strings.Contains(st.Endpoints[0].Message, "keeping the last addresses") {
			return fmt.Errorf("endpoints %+v", st.Endpoints)
		}
		return nil
	})
	if got, err := x.sliceState(es.Name); err != nil || got != slice(b.Addr.Addr(), 6379, true) {
		t.Errorf("with the DNS server dead the slices say %q (%v), want the last address kept", got, err)
	}
	t.Logf("DNS server killed: stale after %v, address kept", time.Since(killed).Round(time.Millisecond))
	srv.SetTTL(t, 2*time.Second)
	srv.SetRecords(t, map[string][]netip.Addr{"redis.test": {a.Addr.Addr(), b.Addr.Addr()}})
	x.waitSlices(es.Name, entries(slice(a.Addr.Addr(), 6379, true), slice(b.Addr.Addr(), 6379, true)), 15*time.Second)
	x.waitStatus(es.Name, 2*time.Second, "fresh again", func(st v1beta1.ExternalServiceStatus) error {
		if len(st.Endpoints) != 1 || st.Endpoints[0].Message != "" {
			return fmt.Errorf("endpoints %+v", st.Endpoints)
		}
		return nil
	})

	// A TTL above the controller's 5 s floor sets when the name is looked
	// up again. The lookup that drops a record shows in the slices at
	// once; records changed right after it are followed at the next
	// lookup, one TTL later (plus the new address's healthy threshold),
	// where the floor alone would follow them after about 5 s.
	const ttl = 12 * time.Second
	srv.SetTTL(t, ttl)
	srv.SetRecords(t, map[string][]netip.Addr{"redis.test": {a.Addr.Addr()}})
	x.waitSlices(es.Name, slice(a.Addr.Addr(), 6379, true), 2*ttl)
	dropped := time.Now()
	srv.SetRecords(t, map[string][]netip.Addr{"redis.test": {b.Addr.Addr()}})
	x.waitSlices(es.Name, slice(b.Addr.Addr(), 6379, true), ttl+10*time.Second)
	gap := time.Since(dropped)
	t.Logf("TTL %v: records changed right after a lookup were followed %v later", ttl, gap.Round(time.Millisecond))
	if gap < ttl-2*time.Second {
		t.Errorf("with TTL %v the records were followed %v after the previous lookup; want about one TTL (the 5 s floor alone would give ~5 s)", ttl, gap)
	}
}
