package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // reversed: percentile must sort
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 4", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p100 is max", ms(4, 1, 3, 2), 100, 4 * time.Millisecond},
		{"tiny p is min", ms(4, 1, 3, 2), 0.1, 1 * time.Millisecond},
		{"p90 of 1..100", ms(hundred...), 90, 90 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.in...)
			if got := percentile(tc.in, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("percentile modified its input")
				}
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	stat := []byte("1234 (portico) ctl) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 37 0 0 20 0 12 0 100 0 0")
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 287 * clockTick; got != want {
		t.Errorf("parseStatCPU = %v, want %v", got, want)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1 2")); err == nil {
		t.Error("short stat: want an error")
	}
}

func TestParseStatusKB(t *testing.T) {
	status := []byte("Name:\tportico\nVmPeak:\t  900 kB\nVmHWM:\t   54321 kB\nVmRSS:\t 50000 kB\n")
	if got := parseStatusKB(status, "VmHWM"); got != 54321 {
		t.Errorf("VmHWM = %d, want 54321", got)
	}
	if got := parseStatusKB(status, "VmSwap"); got != 0 {
		t.Errorf("absent key = %d, want 0", got)
	}
}
