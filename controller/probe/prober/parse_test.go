package prober

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

func TestParseRole(t *testing.T) {
	tests := []struct {
		name  string
		reply []any
		want  v1beta1.TargetRole
		err   string
	}{
		{"master", []any{"master", int64(3129659), []any{[]any{"127.0.0.1", "9001", "3129242"}}}, v1beta1.RolePrimary, ""},
		{"master without replicas", []any{"master", int64(0), []any{}}, v1beta1.RolePrimary, ""},
		{"slave", []any{"slave", "127.0.0.1", int64(9000), "connected", int64(3167038)}, v1beta1.RoleReplica, ""},
		{"replica (future spelling)", []any{"replica", "127.0.0.1", int64(9000), "connect", int64(-1)}, v1beta1.RoleReplica, ""},
		{"sentinel", []any{"sentinel", []any{"mymaster"}}, "", `"sentinel" is not a master or replica`},
		{"empty", nil, "", "empty reply"},
		{"not a string", []any{int64(1)}, "", "first element is a int64"},
		{"upper case", []any{"MASTER"}, "", `"MASTER" is not`},
		{"long", []any{strings.Repeat("x", 100)}, "", `"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…" is not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRole(tt.reply)
			if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("parseRole = %q, %v; want %q, error containing %q", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestRoleFromReadOnly(t *testing.T) {
	v := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	null := sql.NullString{}
	tests := []struct {
		name    string
		ro, sro sql.NullString
		want    v1beta1.TargetRole
		err     string
	}{
		{"MySQL writable", v("0"), v("0"), v1beta1.RolePrimary, ""},
		{"MySQL read_only", v("1"), v("0"), v1beta1.RoleReplica, ""},
		{"MySQL super_read_only only", v("0"), v("1"), v1beta1.RoleReplica, ""},
		{"MySQL both", v("1"), v("1"), v1beta1.RoleReplica, ""},
		{"MariaDB writable (no super_read_only)", v("0"), null, v1beta1.RolePrimary, ""},
		{"MariaDB read_only", v("1"), null, v1beta1.RoleReplica, ""},
		{"ON and OFF", v("OFF"), v("ON"), v1beta1.RoleReplica, ""},
		{"off", v("off"), v("Off"), v1beta1.RolePrimary, ""},
		{"read_only NULL", null, null, "", "@@read_only: NULL"},
		{"read_only garbage", v("maybe"), null, "", `@@read_only: unexpected value "maybe"`},
		{"super_read_only garbage", v("0"), v("2"), "", `@@super_read_only: unexpected value "2"`},
		{"long garbage", v(strings.Repeat("9", 99)), null, "", `"99999999999999999999999999999999"…`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := roleFromReadOnly(tt.ro, tt.sro)
			if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("roleFromReadOnly = %q, %v; want %q, error containing %q", got, err, tt.want, tt.err)
			}
		})
	}
}

// redisErr is the error type go-redis returns for a server error reply.
type redisErr string

func (e redisErr) Error() string { return string(e) }
func (redisErr) RedisError()     {}

var _ redis.Error = redisErr("")

func TestAuthError(t *testing.T) {
	for msg, want := range map[string]bool{
		"WRONGPASS invalid username-password pair or user is disabled.":                    true,
		"NOAUTH Authentication required.":                                                  true,
		"NOPERM User monitor has no permissions to run the 'role' command":                 true,
		"ERR invalid password":                                                             true,
		"ERR AUTH <password> called without any password configured for the default user.": true,
		"LOADING Redis is loading the dataset in memory":                                   false,
		"ERR unknown command 'ROLE'":                                                       false,
	} {
		if got := authError(redisErr(msg)); got != want {
			t.Errorf("authError(%q) = %v, want %v", msg, got, want)
		}
	}
	if authError(errors.New("WRONGPASS but not from the server")) {
		t.Error("a client-side error counts as refused credentials")
	}
}

// FuzzParseRole: no ROLE reply, however odd, makes parseRole panic, and a
// role is returned exactly when there is no error.
func FuzzParseRole(f *testing.F) {
	// Seeds: the first element as a master, a replica, a sentinel, empty,
	// and a number where the string belongs.
	f.Add("master", int64(0), true)
	f.Add("slave", int64(6379), true)
	f.Add("sentinel", int64(0), true)
	f.Add("", int64(0), false)
	f.Add("\xff", int64(-1), false)
	f.Fuzz(func(t *testing.T, first string, n int64, asString bool) {
		var reply []any
		if asString {
			reply = []any{first, n}
		} else if first != "" {
			reply = []any{n, first}
		}
		role, err := parseRole(reply)
		if (role == "") == (err == nil) {
			t.Fatalf("parseRole(%v) = %q, %v", reply, role, err)
		}
	})
}

// FuzzRoleFromReadOnly: any pair of values yields a role or an error, never
// both or neither, and only "0"/"OFF" in both positions is a primary.
func FuzzRoleFromReadOnly(f *testing.F) {
	// Seeds: MySQL primary, MariaDB replica, garbage.
	f.Add("0", "0", true)
	f.Add("1", "", false)
	f.Add("ON\x00", "off", true)
	f.Fuzz(func(t *testing.T, ro, sro string, sroValid bool) {
		role, err := roleFromReadOnly(sql.NullString{String: ro, Valid: true}, sql.NullString{String: sro, Valid: sroValid})
		if (role == "") == (err == nil) {
			t.Fatalf("roleFromReadOnly(%q, %q) = %q, %v", ro, sro, role, err)
		}
		if role == v1beta1.RolePrimary && (!strings.EqualFold(ro, "off") && ro != "0") {
			t.Fatalf("read_only %q counted as writable", ro)
		}
	})
}
