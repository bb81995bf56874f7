package lab

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSetOptionsDefaults(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	defaults := Options{
		Dir:          DefaultDir,
		Out:          os.Stdout,
		Supervisor:   []string{self, "serve"},
		ReadyTimeout: 5 * time.Minute,
		DemoTimeout:  60 * time.Second,
		StopTimeout:  60 * time.Second,
	}
	with := func(f func(*Options)) Options { o := defaults; f(&o); return o }
	tests := []struct {
		name string
		env  string // $PORTICO_LAB_DIR
		in   Options
		want Options
	}{
		{name: "zero", want: defaults},
		{name: "env dir", env: "/var/tmp/lab", want: with(func(o *Options) { o.Dir = "/var/tmp/lab" })},
		{name: "option beats env", env: "/var/tmp/lab", in: Options{Dir: "/srv/lab"},
			want: with(func(o *Options) { o.Dir = "/srv/lab" })},
		{name: "dir cleaned", in: Options{Dir: "/srv//lab/"}, want: with(func(o *Options) { o.Dir = "/srv/lab" })},
		{name: "all set",
			in: Options{Dir: "/d", Out: io.Discard, Supervisor: []string{"/bin/sup", "-x"},
				ReadyTimeout: time.Second, DemoTimeout: 2 * time.Second, StopTimeout: 3 * time.Second},
			want: Options{Dir: "/d", Out: io.Discard, Supervisor: []string{"/bin/sup", "-x"},
				ReadyTimeout: time.Second, DemoTimeout: 2 * time.Second, StopTimeout: 3 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PORTICO_LAB_DIR", tt.env)
			got, err := setOptionsDefaults(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			// Writers are compared by identity.
			if got.Out != tt.want.Out {
				t.Errorf("Out = %v, want %v", got.Out, tt.want.Out)
			}
			got.Out, tt.want.Out = nil, nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("setOptionsDefaults(%+v) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
