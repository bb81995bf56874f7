package prober

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// Replies as redis-server 7 sends them.
const (
	roleMaster      = "*3\r\n$6\r\nmaster\r\n:3129659\r\n*2\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9001\r\n$7\r\n3129242\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9002\r\n$7\r\n3129543\r\n"
	roleMasterAlone = "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"
	roleSlave       = "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9000\r\n$9\r\nconnected\r\n:3167038\r\n"
	roleSentinel    = "*2\r\n$8\r\nsentinel\r\n*1\r\n$8\r\nmymaster\r\n"
)

func TestParseRoleReply(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		role  v1beta1.TargetRole
		err   string // "" for a role, "incomplete" for errIncomplete
	}{
		{"master with replicas", roleMaster, v1beta1.RolePrimary, ""},
		{"master alone", roleMasterAlone, v1beta1.RolePrimary, ""},
		{"slave", roleSlave, v1beta1.RoleReplica, ""},
		{"simple string first element", "*1\r\n+replica\r\n", v1beta1.RoleReplica, ""},
		{"null bulk skipped", "*2\r\n$6\r\nmaster\r\n$-1\r\n", v1beta1.RolePrimary, ""},
		{"null array skipped", "*2\r\n$6\r\nmaster\r\n*-1\r\n", v1beta1.RolePrimary, ""},
		{"sentinel", roleSentinel, "", `"sentinel" is not a master or replica`},
		{"error reply", "-NOAUTH Authentication required.\r\n", "", "NOAUTH Authentication required."},
		{"empty input", "", "", "incomplete"},
		{"half a reply", roleMaster[:40], "", "incomplete"},
		{"CR at the end", "*1\r", "", "incomplete"},
		{"bulk without its CRLF yet", "*1\r\n$6\r\nmaster", "", "incomplete"},
		{"not an array", ":1\r\n", "", `reply of type ':'`},
		{"empty array", "*0\r\n", "", "empty reply"},
		{"null array", "*-1\r\n", "", "empty reply"},
		{"number first", "*1\r\n:1\r\n", "", `first element of type ':'`},
		{"null first", "*1\r\n$-1\r\n", "", "first element is a null"},
		{"negative length", "*1\r\n$-2\r\n", "", "length -2 out of range"},
		{"length past the bound", "*1\r\n$65537\r\n", "", "length 65537 out of range"},
		{"huge count", "*99999999999999999999\r\n", "", "is not an integer"},
		{"not a number", "*x\r\n", "", `"x" is not an integer`},
		{"bare minus", "*-\r\n", "", `"-" is not an integer`},
		{"bulk too long for its length", "*1\r\n$2\r\nmaster\r\n", "", "bulk string not ended by CRLF"},
		{"CR without LF", "*1\r\r", "", "CR without LF"},
		{"LF without CR", "*1\n", "", "LF without CR"},
		{"RESP3 map", "*2\r\n$6\r\nmaster\r\n%1\r\n", "", `type '%' is not RESP2`},
		{"nested too deep", "*2\r\n$6\r\nmaster\r\n*1\r\n*1\r\n*1\r\n:1\r\n", "", "nested more than 3 deep"},
		{"long name", "*1\r\n$40\r\n" + strings.Repeat("x", 40) + "\r\n", "", `"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…" is not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, n, err := parseRoleReply([]byte(tt.reply))
			var role v1beta1.TargetRole
			if err == nil {
				if n != len(tt.reply) {
					t.Errorf("read %d of %d bytes", n, len(tt.reply))
				}
				role, err = roleNamed(first)
			}
			switch {
			case tt.err == "incomplete":
				if !errors.Is(err, errIncomplete) {
					t.Errorf("got %q, %v; want errIncomplete", role, err)
				}
			case tt.err == "":
				if err != nil || role != tt.role {
					t.Errorf("got %q, %v; want %q", role, err, tt.role)
				}
			default:
				if err == nil || errors.Is(err, errIncomplete) || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got %q, %v; want an error containing %q", role, err, tt.err)
				}
			}
		})
	}
}

// TestParseRoleReplyBounded: a reply cannot make the reader accept more
// than maxReply bytes or recurse without bound, whatever it declares.
func TestParseRoleReplyBounded(t *testing.T) {
	// A master listing replicas until the reply passes maxReply: every
	// prefix is incomplete, never an error, so the caller's size check is
	// what refuses it.
	var b bytes.Buffer
	b.WriteString("*3\r\n$6\r\nmaster\r\n:0\r\n*65536\r\n")
	for b.Len() < maxReply+100 {
		b.WriteString("*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9001\r\n$1\r\n0\r\n")
	}
	if _, _, err := parseRoleReply(b.Bytes()); !errors.Is(err, errIncomplete) {
		t.Errorf("an over-long replica list: %v, want errIncomplete for the caller's bound", err)
	}
	deep := "*2\r\n$6\r\nmaster\r\n" + strings.Repeat("*1\r\n", 100000) + ":1\r\n"
	if _, _, err := parseRoleReply([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("100000 nested arrays: %v", err)
	}
}

// FuzzParseRoleReply: no reply makes the reader panic or read past its
// input; a reply it accepts is accepted, with the same first element, by
// every longer input starting with it (trailing bytes are the next reply),
// and every shorter prefix of it is incomplete, never an error, since a
// read may end anywhere.
func FuzzParseRoleReply(f *testing.F) {
	// Seeds: the three real roles, an error reply, a null, nesting at the
	// bound, and a malformed length.
	for _, s := range []string{roleMaster, roleMasterAlone, roleSlave, roleSentinel,
		"-ERR unknown command 'ROLE'\r\n", "*2\r\n$6\r\nmaster\r\n$-1\r\n",
		"*2\r\n$6\r\nmaster\r\n*1\r\n*1\r\n:1\r\n", "*1\r\n$-7\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		first, n, err := parseRoleReply(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("parseRoleReply(%q) read %d bytes", b, n)
		}
		again, m, err := parseRoleReply(append(b[:n:n], "*1\r\n"...))
		if err != nil || m != n || !bytes.Equal(again, first) {
			t.Fatalf("with a trailing reply: %q, %d, %v; want %q, %d", again, m, err, first, n)
		}
		for i := range n {
			if _, _, err := parseRoleReply(b[:i]); !errors.Is(err, errIncomplete) {
				t.Fatalf("prefix %q of %q: %v, want errIncomplete", b[:i], b[:n], err)
			}
		}
	})
}
