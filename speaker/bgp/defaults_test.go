package bgp

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSetConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Config
		want Config
	}{
		{"empty", Config{}, Config{RetryInterval: defaultRetryInterval, CloseTimeout: defaultCloseTimeout}},
		{"negative", Config{RetryInterval: -1, CloseTimeout: -1}, Config{RetryInterval: defaultRetryInterval, CloseTimeout: defaultCloseTimeout}},
		{"set", Config{RetryInterval: time.Second, CloseTimeout: 2 * time.Second}, Config{RetryInterval: time.Second, CloseTimeout: 2 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, setConfigDefaults(tc.in)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
