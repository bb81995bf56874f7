package flagtest

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder keeps what Parsed reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) { r.errs = append(r.errs, fmt.Sprint(args...)) }

func TestParsed(t *testing.T) {
	bind := func(fs *flag.FlagSet) {
		fs.Duration("delay", time.Second, "")
		fs.Bool("sticky", false, "")
	}
	for _, tt := range []struct {
		name string
		want map[string]string
		fail string // a part of the report, "" for none
	}{
		{"agree", map[string]string{"delay": "1s", "sticky": "false"}, ""},
		{"other default", map[string]string{"delay": "2s", "sticky": "false"}, `"2s"`},
		{"missing flag", map[string]string{"delay": "1s"}, "sticky"},
		{"extra flag", map[string]string{"delay": "1s", "sticky": "false", "port": "7946"}, "port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			Parsed(r, bind, tt.want)
			got := strings.Join(r.errs, "\n")
			if tt.fail == "" && got != "" || tt.fail != "" && !strings.Contains(got, tt.fail) {
				t.Errorf("report %q, want one containing %q", got, tt.fail)
			}
		})
	}
}
