package cluster

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSetOptionsDefaults(t *testing.T) {
	home := func() (string, error) { return "/home/u", nil }
	noHome := func() (string, error) { return "", errors.New("no home") }
	env := func(v map[string]string) func(string) string { return func(k string) string { return v[k] } }
	for _, tc := range []struct {
		name    string
		in      Options
		home    func() (string, error)
		env     map[string]string
		want    Options
		wantErr bool
	}{
		{
			name: "zero value",
			home: home,
			want: Options{Nodes: 3, KubeProxy: "/home/u/.cache/portico/k8s-v1.37.2/kube-proxy"},
		},
		{
			name: "binaries from PORTICO_K8S_BIN",
			in:   Options{Nodes: 5},
			home: noHome,
			env:  map[string]string{"PORTICO_K8S_BIN": "/opt/k8s"},
			want: Options{Nodes: 5, KubeProxy: "/opt/k8s/kube-proxy"},
		},
		{
			name: "explicit kube-proxy and dir kept",
			in:   Options{Dir: "/tmp/x", KubeProxy: "/bin/kp", SpeakerArgs: []string{"--v=2"}},
			home: noHome,
			want: Options{Nodes: 3, Dir: "/tmp/x", KubeProxy: "/bin/kp", SpeakerArgs: []string{"--v=2"}},
		},
		{
			name: "no kube-proxy needs no binary",
			in:   Options{NoKubeProxy: true},
			home: noHome,
			want: Options{Nodes: 3, NoKubeProxy: true},
		},
		{name: "no home", home: noHome, wantErr: true},
		{name: "too many nodes", in: Options{Nodes: 90}, home: home, wantErr: true},
		{name: "negative nodes", in: Options{Nodes: -1}, home: home, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setOptionsDefaults(tc.in, tc.home, env(tc.env))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("setOptionsDefaults (-want +got):\n%s", d)
			}
		})
	}
}
