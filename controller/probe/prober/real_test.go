package prober

import (
	"strings"
	"testing"
	"time"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
	"github.com/portico-lb/portico/controller/probe"
	"github.com/portico-lb/portico/internal/realserver"
)

// TestMariaDB probes a real mariadbd (10.11 in Debian 12, which has no
// super_read_only, so the fallback to @@read_only alone is what runs).
func TestMariaDB(t *testing.T) {
	db := realserver.StartMariaDB(t, realserver.MariaDBOptions{})
	db.Exec(t, "CREATE USER 'monitor'@'%' IDENTIFIED BY 's3cret'; CREATE USER 'monitor'@'localhost' IDENTIFIED BY 's3cret'")
	if out := db.Exec(t, "SELECT COUNT(*) FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = 'SUPER_READ_ONLY'"); strings.TrimSpace(out) != "0" {
		t.Logf("this server has super_read_only; the MariaDB fallback is not exercised")
	}
	good := &MySQL{Credentials: &Credentials{Username: "monitor", Password: "s3cret"}}

	t.Run("handshake without credentials", func(t *testing.T) {
		expect(t, probeOnce(t, &MySQL{}, db.Addr), probe.Success, v1beta1.RoleUnknown, "")
	})
	t.Run("writable", func(t *testing.T) {
		expect(t, probeOnce(t, good, db.Addr), probe.Success, v1beta1.RolePrimary, "")
	})
	t.Run("read_only", func(t *testing.T) {
		db.Exec(t, "SET GLOBAL read_only = 1")
		expect(t, probeOnce(t, good, db.Addr), probe.Success, v1beta1.RoleReplica, "")
		db.Exec(t, "SET GLOBAL read_only = 0")
		expect(t, probeOnce(t, good, db.Addr), probe.Success, v1beta1.RolePrimary, "")
	})
	t.Run("wrong password", func(t *testing.T) {
		r := probeOnce(t, &MySQL{Credentials: &Credentials{Username: "monitor", Password: "wrong"}}, db.Addr)
		expect(t, r, probe.AuthFailure, v1beta1.RoleUnknown, "credentials refused")
		if strings.Contains(r.Err, "wrong") {
			t.Errorf("error leaks the password: %s", r.Err)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		expect(t, probeOnce(t, &MySQL{Credentials: &Credentials{Username: "nobody", Password: "x"}}, db.Addr), probe.AuthFailure, v1beta1.RoleUnknown, "Access denied")
	})
	t.Run("killed", func(t *testing.T) {
		db.Kill()
		expect(t, probeOnce(t, good, db.Addr), probe.Failure, v1beta1.RoleUnknown, "connection refused")
		expect(t, probeOnce(t, &MySQL{}, db.Addr), probe.Failure, v1beta1.RoleUnknown, "connection refused")
	})
}

// TestRedisRoles follows a REPLICAOF switch between two real servers.
func TestRedisRoles(t *testing.T) {
	a := realserver.StartRedis(t, realserver.RedisOptions{})
	b := realserver.StartRedis(t, realserver.RedisOptions{})
	p := &Redis{}
	b.Do(t, "REPLICAOF", "127.0.0.1", itoa(a.Addr.Port()))
	expect(t, probeOnce(t, p, a.Addr), probe.Success, v1beta1.RolePrimary, "")
	expect(t, probeOnce(t, p, b.Addr), probe.Success, v1beta1.RoleReplica, "")

	// The switch: b is promoted, a follows it.
	b.Do(t, "REPLICAOF", "NO", "ONE")
	a.Do(t, "REPLICAOF", "127.0.0.1", itoa(b.Addr.Port()))
	expect(t, probeOnce(t, p, a.Addr), probe.Success, v1beta1.RoleReplica, "")
	expect(t, probeOnce(t, p, b.Addr), probe.Success, v1beta1.RolePrimary, "")

	b.Kill()
	expect(t, probeOnce(t, p, b.Addr), probe.Failure, v1beta1.RoleUnknown, "connection refused")
}

func TestRedisAuth(t *testing.T) {
	r := realserver.StartRedis(t, realserver.RedisOptions{
		Password: "defaultpw",
		Users:    []string{"monitor on >monpw +ping +role", "nosy on >nosypw +ping"},
	})
	tests := []struct {
		name  string
		creds *Credentials
		o     probe.Outcome
		role  v1beta1.TargetRole
		err   string
	}{
		{"password only (AUTH password)", &Credentials{Password: "defaultpw"}, probe.Success, v1beta1.RolePrimary, ""},
		{"ACL user", &Credentials{Username: "monitor", Password: "monpw"}, probe.Success, v1beta1.RolePrimary, ""},
		{"no credentials", nil, probe.AuthFailure, v1beta1.RoleUnknown, "the server requires credentials"},
		{"wrong password", &Credentials{Password: "nope"}, probe.AuthFailure, v1beta1.RoleUnknown, "WRONGPASS"},
		{"ACL user, wrong password", &Credentials{Username: "monitor", Password: "defaultpw"}, probe.AuthFailure, v1beta1.RoleUnknown, "WRONGPASS"},
		{"ACL user without ROLE", &Credentials{Username: "nosy", Password: "nosypw"}, probe.AuthFailure, v1beta1.RoleUnknown, "NOPERM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := probeOnce(t, &Redis{Credentials: tt.creds}, r.Addr)
			expect(t, res, tt.o, tt.role, tt.err)
			if tt.creds != nil && tt.creds.Password != "" && strings.Contains(res.Err, tt.creds.Password) {
				t.Errorf("error leaks the password: %s", res.Err)
			}
		})
	}
}

// TestRedisLatency keeps the real-server tests within a few seconds:
// a probe of a live local server is a millisecond affair.
func TestRedisLatency(t *testing.T) {
	r := realserver.StartRedis(t, realserver.RedisOptions{})
	res := probeOnce(t, &Redis{}, r.Addr)
	if res.Latency > 500*time.Millisecond {
		t.Errorf("a local PING+ROLE took %v", res.Latency)
	}
}
