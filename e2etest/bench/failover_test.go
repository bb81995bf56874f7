package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSetFailoverDefaults(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		in      FailoverOptions
		reps    int
		faults  []fault
		probe   proberOptions
		observe time.Duration
		wantErr string
	}{
		{
			name: "zero value", reps: 20, faults: allFaults(), observe: 10 * time.Second,
			probe: proberOptions{interval: 10 * ms, connect: 100 * ms, read: 100 * ms},
		},
		{
			name: "set values are kept",
			in:   FailoverOptions{Reps: 3, Faults: []string{"sigterm", " kill"}, Interval: 5 * ms, ConnectTimeout: 50 * ms, ReadTimeout: 20 * ms, Observe: 5 * time.Second},
			reps: 3, faults: []fault{faultSIGTERM, faultKill}, observe: 5 * time.Second,
			probe: proberOptions{interval: 5 * ms, connect: 50 * ms, read: 20 * ms},
		},
		{
			name: "duplicate faults once", in: FailoverOptions{Faults: []string{"kill", "kill"}},
			reps: 20, faults: []fault{faultKill}, observe: 10 * time.Second,
			probe: proberOptions{interval: 10 * ms, connect: 100 * ms, read: 100 * ms},
		},
		{
			name: "none runs no fault", in: FailoverOptions{Faults: []string{"none"}, Stress: time.Minute},
			reps: 20, observe: 10 * time.Second,
			probe: proberOptions{interval: 10 * ms, connect: 100 * ms, read: 100 * ms},
		},
		{name: "none with others", in: FailoverOptions{Faults: []string{"none", "kill"}}, wantErr: `unknown fault "none"`},
		{name: "unknown fault", in: FailoverOptions{Faults: []string{"reboot"}}, wantErr: `unknown fault "reboot"`},
		{name: "negative reps", in: FailoverOptions{Reps: -1}, wantErr: "-1 repetitions"},
		{name: "sub-millisecond interval", in: FailoverOptions{Interval: time.Microsecond}, wantErr: "at least 1ms"},
		{name: "short observe", in: FailoverOptions{Observe: 100 * ms}, wantErr: "observe 100ms"},
		{name: "negative stress", in: FailoverOptions{Stress: -time.Second}, wantErr: "stress -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setFailoverDefaults(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Reps != tc.reps || got.Observe != tc.observe {
				t.Errorf("reps %d observe %v; want %d %v", got.Reps, got.Observe, tc.reps, tc.observe)
			}
			if d := cmp.Diff(tc.faults, got.faults); d != "" {
				t.Errorf("faults (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.probe, got.probe, cmp.AllowUnexported(proberOptions{})); d != "" {
				t.Errorf("probe (-want +got):\n%s", d)
			}
		})
	}
}

func TestLineField(t *testing.T) {
	line := "pod=web-node-2 node=node-2 client=10.213.7.12:40123"
	for key, want := range map[string]string{"pod": "web-node-2", "node": "node-2", "client": "10.213.7.12:40123", "nope": ""} {
		if got := lineField(line, key); got != want {
			t.Errorf("lineField(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestFlagDuration(t *testing.T) {
	for _, tc := range []struct {
		args string
		want time.Duration
	}{
		{"--probe-interval 100ms --hold-down 3s --handover-delay 1s", 3 * time.Second},
		{"--hold-down 3s --hold-down=500ms", 500 * time.Millisecond}, // the last wins, as with flag
		{"--hold-down-extra 9s", 0},
		{"--hold-down", 0},
		{"--hold-down soon", 0},
	} {
		if got := flagDuration(tc.args, "--hold-down"); got != tc.want {
			t.Errorf("flagDuration(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
