package suites

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/e2etest/cluster"
	"github.com/portico-lb/portico/e2etest/netlab"
	"github.com/portico-lb/portico/internal/realserver"
)

// TestExternalService: ExternalServices over real MariaDB, Redis and
// dnsmasq servers, each on a lab host of its own in the shared cluster's
// lab, probed by the real controller, and reached from a node namespace by
// the real clients through the Service's ClusterIP, which the node's real
// kube-proxy DNATs to the targets the EndpointSlices list as ready.
//
// The servers are shared: each group below starts its own and runs its
// tests in order on them, and the groups run in parallel, so the file's
// runtime is that of the slowest group.
func TestExternalService(t *testing.T) {
	c := theCluster(t)
	bins := realserver.Need(t, "mysql", "redis-cli")
	cl := clients{mysql: bins[0], redis: bins[1]}
	t.Run("mariadb", func(t *testing.T) {
		t.Parallel()
		_, pl := clusterHost(t, c, "mdb-1", 101)
		db := realserver.StartMariaDB(t, realserver.MariaDBOptions{Place: pl, User: "app", Password: "s3cret", Database: "shop"})
		t.Run("MySQLTest", func(t *testing.T) { testMySQLTest(t, c, cl, db) })
		t.Run("WrongCredentials", func(t *testing.T) { testWrongCredentials(t, c, db) })
		t.Run("Refused", func(t *testing.T) { testRefused(t, c, db) })
		t.Run("Adoption", func(t *testing.T) { testAdoption(t, c, db) })
	})
	t.Run("mariadb-death", func(t *testing.T) {
		t.Parallel()
		_, pl := clusterHost(t, c, "mdb-2", 102)
		db := realserver.StartMariaDB(t, realserver.MariaDBOptions{Place: pl})
		t.Run("DeathAndReturn", func(t *testing.T) { testDeathAndReturn(t, c, db) })
		t.Run("EndpointsObject", func(t *testing.T) { testEndpointsObject(t, c, db) })
	})
	t.Run("mariadb-primary", func(t *testing.T) {
		t.Parallel()
		_, pla := clusterHost(t, c, "mdb-3", 103)
		_, plb := clusterHost(t, c, "mdb-4", 104)
		a := realserver.StartMariaDB(t, realserver.MariaDBOptions{Place: pla, User: "app", Password: "s3cret", Database: "shop"})
		b := realserver.StartMariaDB(t, realserver.MariaDBOptions{Place: plb, User: "app", Password: "s3cret", Database: "shop"})
		testMySQLPrimary(t, c, a, b)
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		_, pla := clusterHost(t, c, "redis-1", 111)
		_, plb := clusterHost(t, c, "redis-2", 112)
		_, pld := clusterHost(t, c, "dns-1", 121)
		a := realserver.StartRedis(t, realserver.RedisOptions{Place: pla})
		b := realserver.StartRedis(t, realserver.RedisOptions{Place: plb})
		realserver.SetPrimary(t, a, b)
		t.Run("RedisCLI", func(t *testing.T) { testRedisCLI(t, c, cl, a) })
		// Both below keep both servers alive; only the switch-over
		// changes their roles, which AllHealthy does not look at.
		t.Run("PrimarySwitch", func(t *testing.T) { t.Parallel(); testRedisPrimary(t, c, cl, a, b) })
		t.Run("DNSName", func(t *testing.T) { t.Parallel(); testDNSName(t, c, pld, a, b) })
	})
}

// clients are the real database clients, run in node namespaces.
type clients struct{ mysql, redis string }

// sql runs query as user on the server at at, from node.
func (cl clients) sql(node *netlab.Host, at netip.AddrPort, user, password, query string) (string, error) {
	return run(node, cl.mysql, "--no-defaults", "--protocol=tcp", "-h", at.Addr().String(), "-P", fmt.Sprint(at.Port()),
		"-u"+user, "-p"+password, "--connect-timeout=2", "--batch", "--skip-column-names", "shop", "-e", query)
}

// redisDo runs one redis-cli command against at, from node; an error reply
// is an error (redis-cli exits 0 after one).
func (cl clients) redisDo(node *netlab.Host, at netip.AddrPort, args ...string) (string, error) {
	argv := append([]string{"-h", at.Addr().String(), "-p", fmt.Sprint(at.Port())}, args...)
	out, err := run(node, cl.redis, argv...)
	out = strings.TrimSpace(out)
	first, _, _ := strings.Cut(out, " ")
	if err == nil && slices.Contains([]string{"ERR", "READONLY", "NOAUTH", "Could", "MASTERDOWN"}, first) {
		err = errors.New(out)
	}
	return out, err
}

// testMySQLTest: the seed's mysql-test pattern end to end. The mysql client
// in a node connects to the ClusterIP and reads the seeded rows.
func testMySQLTest(t *testing.T, c *cluster.Cluster, cl clients, db *realserver.MariaDB) {
	x := newExtTest(t, c)
	es := x.externalService("mysql-test", 3306, v1beta1.HealthCheckMySQL, db.Addr.Addr().String())
	x.create(es)
	took := x.waitSlices(es.Name, slice(db.Addr.Addr(), 3306, true), 10*time.Second)
	ip := x.clusterIP(es.Name)
	t.Logf("mysql-test ready in the slice %v after creation; ClusterIP %s", took.Round(time.Millisecond), ip)
	var got string
	poll(t, 10*time.Second, "SELECT through "+ip.String(), func(context.Context) (err error) {
		got, err = cl.sql(c.Lab.Nodes[0], netip.AddrPortFrom(ip, 3306), "app", "s3cret", "SELECT id, name FROM items ORDER BY id")
		return err
	})
	if want := "1\talpha\n2\tbeta\n3\tgamma\n"; got != want {
		t.Errorf("SELECT through the ClusterIP = %q, want %q", got, want)
	}
	x.waitStatus(es.Name, 2*time.Second, "the target Healthy, ready, with a probe time", func(st v1beta1.ExternalServiceStatus) error {
		if ts, _ := target(st, db.Addr.Addr()); ts.Health != v1beta1.TargetHealthy || !ts.Ready || ts.LastProbeTime == nil {
			return fmt.Errorf("target %+v", ts)
		}
		return nil
	})
}

// testRedisCLI: redis-cli in a node SETs and GETs through the ClusterIP of
// a Redis ExternalService.
func testRedisCLI(t *testing.T, c *cluster.Cluster, cl clients, r *realserver.Redis) {
	x := newExtTest(t, c)
	es := x.externalService("redis-test", 6379, v1beta1.HealthCheckRedis, r.Addr.Addr().String())
	x.create(es)
	x.waitSlices(es.Name, slice(r.Addr.Addr(), 6379, true), 10*time.Second)
	at := netip.AddrPortFrom(x.clusterIP(es.Name), 6379)
	poll(t, 10*time.Second, "SET through "+at.String(), func(context.Context) error {
		out, err := cl.redisDo(c.Lab.Nodes[1], at, "SET", "greeting", "hello")
		if err == nil && out != "OK" {
			err = fmt.Errorf("SET answered %q", out)
		}
		return err
	})
	// Each node's kube-proxy syncs on its own.
	poll(t, 10*time.Second, "GET through "+at.String()+" from another node", func(context.Context) error {
		out, err := cl.redisDo(c.Lab.Nodes[2], at, "GET", "greeting")
		if err == nil && out != "hello" {
			err = netlab.Permanent(fmt.Errorf("GET answered %q, want hello", out))
		}
		return err
	})
	if got := r.Do(t, "GET", "greeting"); got != "hello" {
		t.Errorf("the server itself has %q", got)
	}
	x.waitStatus(es.Name, 2*time.Second, "the target's role Primary (ROLE says master)", func(st v1beta1.ExternalServiceStatus) error {
		if ts, _ := target(st, r.Addr.Addr()); ts.Role != v1beta1.RolePrimary {
			return fmt.Errorf("target %+v", ts)
		}
		return nil
	})
}

// testDeathAndReturn: a killed and a stopped MariaDB are not ready within
// two intervals and a timeout (plus slack), and ready again once started.
func testDeathAndReturn(t *testing.T, c *cluster.Cluster, db *realserver.MariaDB) {
	x := newExtTest(t, c)
	es := x.externalService("mysql-test", 3306, v1beta1.HealthCheckMySQL, db.Addr.Addr().String())
	x.create(es)
	ready, dead := slice(db.Addr.Addr(), 3306, true), slice(db.Addr.Addr(), 3306, false)
	x.waitSlices(es.Name, ready, 10*time.Second)
	for _, how := range []struct {
		name string
		stop func()
	}{{"Kill", db.Kill}, {"Stop", db.Stop}} {
		start := time.Now()
		how.stop()
		stopped := time.Since(start)
		took := x.waitSlices(es.Name, dead, deathBound+stopped) + stopped
		st := x.waitStatus(es.Name, 2*time.Second, "target Unhealthy", func(st v1beta1.ExternalServiceStatus) error {
			if ts, _ := target(st, db.Addr.Addr()); ts.Health != v1beta1.TargetUnhealthy || ts.Ready || ts.LastError == "" {
				return fmt.Errorf("target %+v", ts)
			}
			return nil
		})
		ts, _ := target(st, db.Addr.Addr())
		t.Logf("%s: not ready in the slice %v after the signal (bound %v); lastError %q", how.name, took.Round(time.Millisecond), deathBound, ts.LastError)
		if c := meta.FindStatusCondition(st.Conditions, v1beta1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1beta1.ReasonNoneHealthy {
			t.Errorf("%s: Ready condition %+v, want False NoneHealthy", how.name, c)
		}
		db.Start(t)
		back := x.waitSlices(es.Name, ready, 10*time.Second)
		t.Logf("%s: ready again %v after the restarted server answered", how.name, back.Round(time.Millisecond))
	}
}

// testEndpointsObject: with endpointsObject the core/v1 Endpoints moves the
// target between addresses and notReadyAddresses as MariaDB stops and
// starts, and says it is not to be mirrored.
func testEndpointsObject(t *testing.T, c *cluster.Cluster, db *realserver.MariaDB) {
	x := newExtTest(t, c)
	es := x.externalService("legacy", 3306, v1beta1.HealthCheckTCP, db.Addr.Addr().String())
	es.Spec.EndpointsObject = true
	x.create(es)
	ip := db.Addr.Addr().String()
	endpoints := func(want string) {
		t.Helper()
		poll(t, deathBound+5*time.Second, "the Endpoints legacy to say "+want, func(ctx context.Context) error {
			var ep corev1.Endpoints
			if err := c.Client.Get(ctx, client.ObjectKey{Namespace: x.ns, Name: es.Name}, &ep); err != nil {
				return err
			}
			if ep.Labels["endpointslice.kubernetes.io/skip-mirror"] != "true" {
				return netlab.Permanent(fmt.Errorf("labels %v, want skip-mirror", ep.Labels))
			}
			var got []string
			for _, s := range ep.Subsets {
				for _, a := range s.Addresses {
					got = append(got, fmt.Sprintf("ready %s:%d", a.IP, s.Ports[0].Port))
				}
				for _, a := range s.NotReadyAddresses {
					got = append(got, fmt.Sprintf("notReady %s:%d", a.IP, s.Ports[0].Port))
				}
			}
			if strings.Join(got, ",") != want {
				return fmt.Errorf("subsets say %v", got)
			}
			return nil
		})
	}
	endpoints("ready " + ip + ":3306")
	db.Stop()
	endpoints("notReady " + ip + ":3306")
	db.Start(t)
	endpoints("ready " + ip + ":3306")
}

// testWrongCredentials: a labelled Secret with a wrong password makes the
// target AuthFailed, saying the server refused the login, not Unhealthy.
func testWrongCredentials(t *testing.T, c *cluster.Cluster, db *realserver.MariaDB) {
	x := newExtTest(t, c)
	es := x.externalService("mysql-test", 3306, v1beta1.HealthCheckMySQL, db.Addr.Addr().String())
	es.Spec.HealthCheck.CredentialsSecret = x.credentials("monitor", "app", "wrong")
	x.create(es)
	st := x.waitStatus(es.Name, 10*time.Second, "target AuthFailed", func(st v1beta1.ExternalServiceStatus) error {
		if ts, _ := target(st, db.Addr.Addr()); ts.Health != v1beta1.TargetAuthFailed {
			return fmt.Errorf("target %+v", ts)
		}
		return nil
	})
	ts, _ := target(st, db.Addr.Addr())
	t.Logf("AuthFailed: %q", ts.LastError)
	if !strings.Contains(ts.LastError, "1045") && !strings.Contains(strings.ToLower(ts.LastError), "access denied") {
		t.Errorf("lastError %q does not say the server refused the login (1045, Access denied)", ts.LastError)
	}
	// It stays so: an auth failure is not a dead server.
	time.Sleep(2 * time.Second)
	if ts, _ := target(x.get(es.Name).Status, db.Addr.Addr()); ts.Health != v1beta1.TargetAuthFailed {
		t.Errorf("two probes later the target is %s, want AuthFailed still", ts.Health)
	}
}

// testRefused: a target in the cluster's Service range (read from its
// ServiceCIDR) and one on a node are refused, named with their rule in the
// EndpointsRefused condition, and never published; the real one is.
func testRefused(t *testing.T, c *cluster.Cluster, db *realserver.MariaDB) {
	x := newExtTest(t, c)
	svcRange := serviceRange(t, c)
	inRange := svcRange.Addr()
	for range 10 { // 10.96.0.10, where a cluster DNS would be
		inRange = inRange.Next()
	}
	node := c.Lab.Nodes[0].IPv4
	es := x.externalService("sneaky", 3306, v1beta1.HealthCheckMySQL, inRange.String(), node.String(), db.Addr.Addr().String())
	x.create(es)
	x.waitSlices(es.Name, slice(db.Addr.Addr(), 3306, true), 10*time.Second)
	st := x.waitStatus(es.Name, 5*time.Second, "EndpointsRefused naming both", func(st v1beta1.ExternalServiceStatus) error {
		cond := meta.FindStatusCondition(st.Conditions, v1beta1.ConditionEndpointsRefused)
		if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != v1beta1.ReasonTargetRefused {
			return fmt.Errorf("condition %+v", cond)
		}
		for _, want := range []string{inRange.String() + " refused: in the cluster's Service range " + svcRange.String(), node.String() + " refused: in the cluster's node range"} {
			if !strings.Contains(cond.Message, want) {
				return fmt.Errorf("message %q lacks %q", cond.Message, want)
			}
		}
		return nil
	})
	for _, a := range []netip.Addr{inRange, node} {
		if ts, _ := target(st, a); ts.Health != v1beta1.TargetRefused || ts.Ready {
			t.Errorf("target %s: %+v, want Refused, not ready", a, ts)
		}
	}
}

// serviceRange is the cluster's IPv4 Service range, from its ServiceCIDR.
func serviceRange(t *testing.T, c *cluster.Cluster) netip.Prefix {
	t.Helper()
	var list networkingv1.ServiceCIDRList
	if err := c.Client.List(t.Context(), &list); err != nil {
		t.Fatal(err)
	}
	for _, sc := range list.Items {
		for _, s := range sc.Spec.CIDRs {
			if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
				return p
			}
		}
	}
	t.Fatalf("no IPv4 ServiceCIDR among %d", len(list.Items))
	return netip.Prefix{}
}

// testAdoption: a hand-written selectorless Service and Endpoints carry
// traffic to MariaDB; an ExternalService annotated to adopt them takes
// over, keeping the ClusterIP and removing the Endpoints, and a node
// connecting all along never fails once.
func testAdoption(t *testing.T, c *cluster.Cluster, db *realserver.MariaDB) {
	x := newExtTest(t, c)
	const name = "shop-db"
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: x.ns, Name: name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "db", Port: 3306, TargetPort: intstr.FromInt32(3306)}}},
	}
	x.create(svc)
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: x.ns, Name: name},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: db.Addr.Addr().String()}},
			Ports:     []corev1.EndpointPort{{Name: "db", Port: 3306, Protocol: corev1.ProtocolTCP}},
		}},
	}
	x.create(ep)
	mirrorGone := x.mirrorEndpoints(ep)
	ip := x.clusterIP(name)
	at := netip.AddrPortFrom(ip, 3306)
	node := c.Lab.Nodes[1]
	poll(t, 10*time.Second, "MariaDB's greeting through the hand-written "+at.String(), func(context.Context) error { return greeting(node, at) })

	loop := connectLoop(node, at)
	time.Sleep(500 * time.Millisecond) // connects before the take-over
	es := x.externalService(name, 3306, v1beta1.HealthCheckMySQL, db.Addr.Addr().String())
	es.Annotations = map[string]string{v1beta1.AnnotationAdopt: "true"}
	created := time.Now()
	x.create(es)
	gone := mirrorGone(15 * time.Second)
	x.waitSlices(name, slice(db.Addr.Addr(), 3306, true), 5*time.Second)
	time.Sleep(2 * time.Second) // kube-proxy has synced the slice change
	ok, failed := loop.stop()
	t.Logf("hand-written Endpoints gone %v after the ExternalService was created; %d connects, %d failed", gone.Sub(created).Round(time.Millisecond), ok+len(failed), len(failed))
	if len(failed) > 0 {
		t.Errorf("%d of %d connects failed during the adoption, first: %v", len(failed), ok+len(failed), failed[0])
	}
	if ok == 0 {
		t.Errorf("no connect succeeded")
	}
	var now corev1.Service
	if err := c.Client.Get(x.ctx, client.ObjectKeyFromObject(svc), &now); err != nil {
		t.Fatal(err)
	}
	if now.Spec.ClusterIP != ip.String() || !metav1.IsControlledBy(&now, x.get(name)) {
		t.Errorf("adopted Service: ClusterIP %s (was %s), owners %v", now.Spec.ClusterIP, ip, now.OwnerReferences)
	}
	var cur corev1.Endpoints
	if err := c.Client.Get(x.ctx, client.ObjectKeyFromObject(ep), &cur); !apierrors.IsNotFound(err) {
		t.Errorf("hand-written Endpoints still there (%v)", err)
	}
	if err := greeting(node, at); err != nil {
		t.Errorf("after the adoption: %v", err)
	}
}

// greeting connects to at from node and reads the server's first bytes
// (MariaDB's handshake packet), within a second.
func greeting(node *netlab.Host, at netip.AddrPort) error {
	var conn net.Conn
	if err := node.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", at.String(), time.Second)
		return err
	}); err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 5)
	if _, err := conn.Read(buf); err != nil {
		return fmt.Errorf("reading the greeting from %s: %w", at, err)
	}
	return nil
}

// loop connects again and again from a node until stopped.
type loop struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ok     int
	failed []error
}

// connectLoop reads a greeting through at from node every 20 ms.
func connectLoop(node *netlab.Host, at netip.AddrPort) *loop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{cancel: cancel}
	l.wg.Go(func() {
		for ctx.Err() == nil {
			if err := greeting(node, at); err != nil {
				l.failed = append(l.failed, fmt.Errorf("%s: %w", time.Now().Format("15:04:05.000"), err))
			} else {
				l.ok++
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	return l
}

func (l *loop) stop() (ok int, failed []error) {
	l.cancel()
	l.wg.Wait()
	return l.ok, l.failed
}
