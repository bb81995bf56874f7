package prober

import (
	"strconv"
	"strings"
	"testing"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
	"github.com/portico-lb/portico/internal/realserver"
)

// redisStat reads one INFO field.
func redisStat(t *testing.T, r *realserver.Redis, field string) int {
	t.Helper()
	for _, l := range strings.Split(r.Do(t, "INFO", "all"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), field+":"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("INFO has no %s", field)
	return 0
}

// redisConnections counts the connections the probes opened: every INFO
// through redis-cli is one more.
func redisConnections(t *testing.T, r *realserver.Redis) func() int {
	base := redisStat(t, r, "total_connections_received")
	calls := 0
	return func() int {
		calls++
		return redisStat(t, r, "total_connections_received") - base - calls
	}
}

func TestRedisReuse(t *testing.T) {
	srv := realserver.StartRedis(t, realserver.RedisOptions{Password: "pw"})
	p := &Redis{Credentials: &Credentials{Password: "pw"}, Reuse: time.Minute}
	opened := redisConnections(t, srv)
	for range 5 {
		expect(t, probeOnce(t, p, srv.Addr), probe.Success, v1beta1.RolePrimary, "")
	}
	if n := opened(); n != 1 {
		t.Errorf("5 probes opened %d connections, want 1 kept", n)
	}

	// The server drops the kept connection: the probe still succeeds, on a
	// fresh one.
	srv.Do(t, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
	opened = redisConnections(t, srv)
	expect(t, probeOnce(t, p, srv.Addr), probe.Success, v1beta1.RolePrimary, "")
	if n := opened(); n != 1 {
		t.Errorf("after CLIENT KILL the probe opened %d connections, want 1", n)
	}

	// Forget closes it: only redis-cli is left connected.
	p.Forget(srv.Addr)
	deadline := time.Now().Add(2 * time.Second)
	for redisStat(t, srv, "connected_clients") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d clients after Forget, want only redis-cli", redisStat(t, srv, "connected_clients"))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A kept connection is replaced when it is older than Reuse.
	short := &Redis{Credentials: &Credentials{Password: "pw"}, Reuse: 100 * time.Millisecond}
	opened = redisConnections(t, srv)
	probeOnce(t, short, srv.Addr)
	probeOnce(t, short, srv.Addr)
	time.Sleep(150 * time.Millisecond)
	probeOnce(t, short, srv.Addr)
	if n := opened(); n != 2 {
		t.Errorf("3 probes across an expiry opened %d connections, want 2", n)
	}

	// A killed server fails the probe on the kept connection too.
	srv.Kill()
	expect(t, probeOnce(t, p, srv.Addr), probe.Failure, v1beta1.RoleUnknown, "connection refused")
}

func TestRedisRolesReused(t *testing.T) {
	a := realserver.StartRedis(t, realserver.RedisOptions{})
	b := realserver.StartRedis(t, realserver.RedisOptions{})
	p, _ := New(v1beta1.HealthCheckRedis, nil)
	b.Do(t, "REPLICAOF", "127.0.0.1", itoa(a.Addr.Port()))
	expect(t, probeOnce(t, p, a.Addr), probe.Success, v1beta1.RolePrimary, "")
	expect(t, probeOnce(t, p, b.Addr), probe.Success, v1beta1.RoleReplica, "")
	b.Do(t, "REPLICAOF", "NO", "ONE")
	a.Do(t, "REPLICAOF", "127.0.0.1", itoa(b.Addr.Port()))
	expect(t, probeOnce(t, p, a.Addr), probe.Success, v1beta1.RoleReplica, "")
	expect(t, probeOnce(t, p, b.Addr), probe.Success, v1beta1.RolePrimary, "")
}

func mysqlConnections(t *testing.T, db *realserver.MariaDB) func() int {
	read := func() int {
		out := db.Exec(t, "SHOW GLOBAL STATUS LIKE 'Connections'")
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "Connections")))
		if err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		return n
	}
	base := read()
	calls := 0
	return func() int {
		calls++
		return read() - base - calls
	}
}

func TestMariaDBReuse(t *testing.T) {
	db := realserver.StartMariaDB(t, realserver.MariaDBOptions{})
	db.Exec(t, "CREATE USER 'monitor'@'%' IDENTIFIED BY 's3cret'")
	p, _ := New(v1beta1.HealthCheckMySQL, &Credentials{Username: "monitor", Password: "s3cret"})
	opened := mysqlConnections(t, db)
	for range 5 {
		expect(t, probeOnce(t, p, db.Addr), probe.Success, v1beta1.RolePrimary, "")
	}
	if n := opened(); n != 1 {
		t.Errorf("5 probes opened %d connections, want 1 kept", n)
	}
	// The kept connection sees read_only flip.
	db.Exec(t, "SET GLOBAL read_only = 1")
	expect(t, probeOnce(t, p, db.Addr), probe.Success, v1beta1.RoleReplica, "")
	db.Exec(t, "SET GLOBAL read_only = 0")
	expect(t, probeOnce(t, p, db.Addr), probe.Success, v1beta1.RolePrimary, "")

	// KILL the probe's connection: the next probe logs in afresh.
	db.Exec(t, "SELECT CONCAT('KILL ', ID) INTO @k FROM information_schema.PROCESSLIST WHERE USER = 'monitor'; EXECUTE IMMEDIATE @k")
	opened = mysqlConnections(t, db)
	expect(t, probeOnce(t, p, db.Addr), probe.Success, v1beta1.RolePrimary, "")
	if n := opened(); n != 1 {
		t.Errorf("after KILL the probe opened %d connections, want 1", n)
	}

	// Without credentials nothing is kept: the refused login is the check.
	bare, _ := New(v1beta1.HealthCheckMySQL, nil)
	opened = mysqlConnections(t, db)
	for range 3 {
		expect(t, probeOnce(t, bare, db.Addr), probe.Success, v1beta1.RoleUnknown, "")
	}
	if n := opened(); n != 3 {
		t.Errorf("3 probes without credentials opened %d connections, want 3", n)
	}

	db.Kill()
	expect(t, probeOnce(t, p, db.Addr), probe.Failure, v1beta1.RoleUnknown, "connection refused")
}
