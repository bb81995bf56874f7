package kubeapi

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestWriteKubeconfig writes kubeconfigs for the kinds of rest.Config the
// harness and its callers produce and loads them back the way kubectl does.
func TestWriteKubeconfig(t *testing.T) {
	certs := rest.TLSClientConfig{CAData: []byte("ca"), CertData: []byte("cert"), KeyData: []byte("key")}
	tests := []struct {
		name string
		in   rest.Config
		want rest.Config // the fields compared after loading
	}{{
		name: "envtest admin: URL and embedded certificates",
		in:   rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: certs},
		want: rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: certs},
	}, {
		name: "bare host:port with TLS gets https",
		in:   rest.Config{Host: "127.0.0.1:6443", TLSClientConfig: certs},
		want: rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: certs},
	}, {
		name: "bare hostname with TLS gets https",
		in:   rest.Config{Host: "localhost:6443", TLSClientConfig: certs},
		want: rest.Config{Host: "https://localhost:6443", TLSClientConfig: certs},
	}, {
		name: "server name, token and path prefix are kept",
		in: rest.Config{Host: "https://10.0.0.1:6443/prefix", BearerToken: "tok",
			TLSClientConfig: rest.TLSClientConfig{CAData: []byte("ca"), ServerName: "localhost"}},
		want: rest.Config{Host: "https://10.0.0.1:6443/prefix", BearerToken: "tok",
			TLSClientConfig: rest.TLSClientConfig{CAData: []byte("ca"), ServerName: "localhost"}},
	}, {
		name: "plain HTTP stays HTTP",
		in:   rest.Config{Host: "127.0.0.1:8080"},
		want: rest.Config{Host: "http://127.0.0.1:8080"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kubeconfig")
			if err := (&Server{Config: &tt.in}).WriteKubeconfig(path); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600: the file holds a private key", fi.Mode().Perm())
			}
			got, err := clientcmd.BuildConfigFromFlags("", path)
			if err != nil {
				t.Fatal(err)
			}
			pick := func(c *rest.Config) rest.Config {
				return rest.Config{Host: c.Host, BearerToken: c.BearerToken, TLSClientConfig: rest.TLSClientConfig{
					CAData: c.CAData, CertData: c.CertData, KeyData: c.KeyData, ServerName: c.ServerName}}
			}
			if diff := cmp.Diff(pick(&tt.want), pick(got)); diff != "" {
				t.Errorf("loaded config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteKubeconfigNoHost(t *testing.T) {
	err := (&Server{Config: &rest.Config{}}).WriteKubeconfig(filepath.Join(t.TempDir(), "kubeconfig"))
	if err == nil {
		t.Fatal("want an error for a config without a host")
	}
}
