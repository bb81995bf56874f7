// Package deploy_test checks the manifests in deploy/ against a real
// kube-apiserver with the kubectl built beside it: they render with
// kustomize, every object passes server-side validation, the bindings give the
// controller's and the speaker's ServiceAccounts their roles and no more, and
// each Pod passes the Pod Security profile of its namespace.
package deploy_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-lb/portico/internal/kubeapi"
)

// serviceAccount is a component's identity: deploy/ installs each component
// (namespace, RBAC, workload) under one name in a namespace of its own.
type serviceAccount struct{ namespace, name string }

func (sa serviceAccount) user() string {
	return "system:serviceaccount:" + sa.namespace + ":" + sa.name
}

var (
	// The controller passes the "restricted" profile; the speaker, with
	// hostNetwork and NET_RAW, needs "privileged" and so its own namespace.
	controllerSA = serviceAccount{"portico-system", "portico-controller"}
	speakerSA    = serviceAccount{"portico-speaker", "portico-speaker"}
)

var (
	kubectlPath string
	kubeconfig  string
	deployDir   string
	k8s         client.Client
	scheme      = runtime.NewScheme()
	// noServer says why there is no API server (see kubeapi.NeedServer).
	noServer string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	root, err := kubeapi.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	deployDir = filepath.Join(root, "deploy")
	srv, skip, err := kubeapi.StartForTests(kubeapi.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if srv == nil {
		noServer = skip
		return m.Run()
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	dir, err := os.MkdirTemp("", "portico-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := srv.WriteKubeconfig(kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := os.Stat(srv.KubectlPath); err != nil {
		fmt.Fprintf(os.Stderr, "kubectl: %v (run make setup)\n", err)
		return 1
	}
	kubectlPath = srv.KubectlPath
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	k8s, err = client.New(srv.Config, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// kubectl runs kubectl against the test API server and returns its stdout;
// it fails the test when kubectl fails.
func kubectl(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(t.Context(), kubectlPath, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// render returns the objects `kubectl apply -k deploy` would send.
func render(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	out, _ := kubectl(t, "kustomize", deployDir)
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decoding kustomize output: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

// find returns the object of kind and name, in any namespace: names are
// unique per kind across deploy/.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var out T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return &out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func capNames(cs []corev1.Capability) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c))
	}
	return out
}

func portNamed(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func probeOn(p *corev1.Probe, path string, c corev1.Container, port int32) bool {
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
		return false
	}
	got := p.HTTPGet.Port.IntVal
	if p.HTTPGet.Port.StrVal != "" {
		got = portNamed(c, p.HTTPGet.Port.StrVal)
	}
	return got == port
}

func envFromField(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}
