package realserver

import (
	"testing"
)

func TestMissingVerdict(t *testing.T) {
	tests := []struct {
		missing []string
		e2e     string
		fail    bool
		msg     string
	}{
		{nil, "1", false, ""},
		{[]string{"mariadbd"}, "", false, "realserver: mariadbd not installed (run e2etest/setup/deps.sh as root); set PORTICO_E2E=1 to fail instead"},
		{[]string{"redis-server", "redis-cli"}, "0", false, "realserver: redis-server, redis-cli not installed (run e2etest/setup/deps.sh as root); set PORTICO_E2E=1 to fail instead"},
		{[]string{"dnsmasq"}, "1", true, "PORTICO_E2E=1, but realserver: dnsmasq not installed (run e2etest/setup/deps.sh as root)"},
	}
	for _, tt := range tests {
		fail, msg := missingVerdict(tt.missing, tt.e2e)
		if fail != tt.fail || msg != tt.msg {
			t.Errorf("missingVerdict(%v, %q) = %v, %q\nwant %v, %q", tt.missing, tt.e2e, fail, msg, tt.fail, tt.msg)
		}
	}
}

// TestServers starts one of each and checks they answer; the packages that
// use them test what they say.
func TestServers(t *testing.T) {
	t.Parallel()
	db := StartMariaDB(t)
	if got := db.Exec(t, "SELECT 1+1"); got != "2\n" {
		t.Errorf("mariadb SELECT 1+1 = %q", got)
	}
	r := StartRedis(t, RedisOptions{Password: "pw"})
	if got := r.Do(t, "PING"); got != "PONG" {
		t.Errorf("redis PING = %q", got)
	}
}
