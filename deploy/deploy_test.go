// Package deploy_test checks the manifests in deploy/ against a real
// kube-apiserver with the kubectl built beside it: they render with
// kustomize, every object passes server-side validation, the bindings give
// the controller's ServiceAccount its roles, and its Pod passes the namespace's
// Pod Security profile.
package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-lb/portico/internal/kubeapi"
)

const (
	namespace      = "portico-system"
	serviceAccount = "system:serviceaccount:portico-system:portico-controller"
)

var (
	kubectlPath string
	kubeconfig  string
	deployDir   string
	k8s         client.Client
	scheme      = runtime.NewScheme()
	// noServer says why there is no API server (see needServer).
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
	if testing.Short() {
		noServer = "deploy tests start kube-apiserver and etcd; skipped with -short"
		return m.Run()
	}
	if err := kubeapi.Available(kubeapi.Options{}); err != nil {
		noServer = err.Error()
		return m.Run()
	}
	srv, err := kubeapi.Start(kubeapi.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
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

// needServer skips the test when there is no API server, or fails it when
// PORTICO_REQUIRE_APISERVER asks for the integration tier (make test sets it).
func needServer(t *testing.T) {
	t.Helper()
	if k8s != nil {
		return
	}
	if os.Getenv("PORTICO_REQUIRE_APISERVER") != "" && !testing.Short() {
		t.Fatalf("PORTICO_REQUIRE_APISERVER is set but there is no API server: %s", noServer)
	}
	t.Skip(noServer)
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

// TestRender checks that the kustomization holds what an install needs, in
// the right namespace.
func TestRender(t *testing.T) {
	needServer(t)
	objs := render(t)
	for _, want := range []struct{ kind, name string }{
		{"Namespace", namespace},
		{"CustomResourceDefinition", "ipaddresspools.portico.dev"},
		{"CustomResourceDefinition", "l2advertisements.portico.dev"},
		{"CustomResourceDefinition", "bgppeers.portico.dev"},
		{"CustomResourceDefinition", "bgpadvertisements.portico.dev"},
		{"ServiceAccount", "portico-controller"},
		{"ClusterRole", "portico-controller"},
		{"ClusterRoleBinding", "portico-controller"},
		{"Role", "portico-controller-leader-election"},
		{"RoleBinding", "portico-controller-leader-election"},
		{"Deployment", "portico-controller"},
	} {
		if find(objs, want.kind, want.name) == nil {
			t.Errorf("kustomize output has no %s %s", want.kind, want.name)
		}
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
		default:
			if o.GetNamespace() != namespace {
				t.Errorf("%s %s is in namespace %q, want %s", o.GetKind(), o.GetName(), o.GetNamespace(), namespace)
			}
		}
	}

	d := find(objs, "Deployment", "portico-controller")
	if d == nil {
		t.FailNow()
	}
	dep := convert[appsv1.Deployment](t, d)
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	checks := []struct {
		what string
		ok   bool
	}{
		{"image ghcr.io/portico-lb/portico-controller", strings.HasPrefix(c.Image, "ghcr.io/portico-lb/portico-controller:")},
		{"args include --leader-elect", contains(c.Args, "--leader-elect")},
		{"service account portico-controller", pod.ServiceAccountName == "portico-controller"},
		{"pod runs as non-root", pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot},
		{"seccomp RuntimeDefault", pod.SecurityContext != nil && pod.SecurityContext.SeccompProfile != nil && pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"read-only root filesystem", c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem},
		{"no privilege escalation", c.SecurityContext != nil && c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation},
		{"drops ALL capabilities", c.SecurityContext != nil && c.SecurityContext.Capabilities != nil && contains(capNames(c.SecurityContext.Capabilities.Drop), "ALL")},
		{"CPU and memory requests", !c.Resources.Requests.Cpu().IsZero() && !c.Resources.Requests.Memory().IsZero()},
		{"memory limit", !c.Resources.Limits.Memory().IsZero()},
		{"liveness probe GET /healthz on :8081", probeOn(c.LivenessProbe, "/healthz", c, 8081)},
		{"readiness probe GET /readyz on :8081", probeOn(c.ReadinessProbe, "/readyz", c, 8081)},
		{"metrics port 8080", portNamed(c, "metrics") == 8080},
		{"POD_NAMESPACE from metadata.namespace", envFromField(c, "POD_NAMESPACE") == "metadata.namespace"},
	}
	for _, chk := range checks {
		if !chk.ok {
			t.Errorf("Deployment: want %s", chk.what)
		}
	}
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

// TestApply applies deploy/ to the API server: first as a server-side dry
// run, which must validate every object, then for real, after which the
// controller's ServiceAccount must hold each permission its roles grant and
// its Pod must be admitted under the namespace's Pod Security profile.
func TestApply(t *testing.T) {
	needServer(t)
	objs := render(t)

	// Namespaced objects can be validated only in an existing namespace, so
	// the namespace is created for real first; the dry run below still sends
	// it (unchanged) along with everything else.
	kubectl(t, "apply", "--validate=strict", "-f", filepath.Join(deployDir, "namespace.yaml"))

	out, stderr := kubectl(t, "apply", "--validate=strict", "--dry-run=server", "-k", deployDir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var dryRun int
	for _, l := range lines {
		if strings.HasSuffix(l, "(server dry run)") {
			dryRun++
		}
	}
	if dryRun != len(objs) {
		t.Errorf("server dry run reported %d objects, kustomize rendered %d:\n%s", dryRun, len(objs), out)
	}
	for _, want := range []string{
		"deployment.apps/portico-controller",
		"customresourcedefinition.apiextensions.k8s.io/ipaddresspools.portico.dev",
		"customresourcedefinition.apiextensions.k8s.io/bgpadvertisements.portico.dev",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output does not mention %s:\n%s", want, out)
		}
	}
	// The namespace warns on Pod Security violations in workload templates,
	// and the API server on deprecated fields: any warning fails the test.
	if w := warnings(stderr); w != "" {
		t.Errorf("dry run warned:\n%s", w)
	}

	_, stderr = kubectl(t, "apply", "--validate=strict", "-k", deployDir)
	if w := warnings(stderr); w != "" {
		t.Errorf("apply warned:\n%s", w)
	}

	t.Run("RBAC", func(t *testing.T) { checkRBAC(t, objs) })

	t.Run("PodSecurity", func(t *testing.T) {
		dep := convert[appsv1.Deployment](t, find(objs, "Deployment", "portico-controller"))
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "portico-controller-", Namespace: namespace, Labels: dep.Spec.Template.Labels},
			Spec:       dep.Spec.Template.Spec,
		}
		if err := k8s.Create(t.Context(), pod, client.DryRunAll); err != nil {
			t.Errorf("the controller's Pod is refused in %s: %v", namespace, err)
		}
	})
}

// warnings returns kubectl's warnings but the one about the CRDs lacking
// kubectl's last-applied annotation: the harness installs them without kubectl.
func warnings(stderr string) string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "Warning") && !strings.Contains(l, "missing the kubectl.kubernetes.io/last-applied-configuration annotation") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// checkRBAC asks the API server, for every rule of every rendered role,
// whether the controller's ServiceAccount holds it, so a binding with a wrong
// subject or roleRef fails here rather than in a cluster.
func checkRBAC(t *testing.T, objs []*unstructured.Unstructured) {
	bound := map[string]bool{} // kind/name of roles bound to the ServiceAccount
	for _, o := range objs {
		if o.GetKind() != "RoleBinding" && o.GetKind() != "ClusterRoleBinding" {
			continue
		}
		rb := convert[rbacv1.RoleBinding](t, o)
		if find(objs, rb.RoleRef.Kind, rb.RoleRef.Name) == nil {
			t.Errorf("%s %s refers to %s %s, which deploy/ does not create", o.GetKind(), o.GetName(), rb.RoleRef.Kind, rb.RoleRef.Name)
		}
		bound[rb.RoleRef.Kind+"/"+rb.RoleRef.Name] = true
	}
	for _, o := range objs {
		if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
			continue
		}
		if !bound[o.GetKind()+"/"+o.GetName()] {
			t.Errorf("%s %s is not bound to the controller", o.GetKind(), o.GetName())
		}
		role := convert[rbacv1.ClusterRole](t, o)
		for _, rule := range role.Rules {
			for _, group := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, verb := range rule.Verbs {
						attrs := authorizationv1.ResourceAttributes{Namespace: o.GetNamespace(), Group: group, Verb: verb}
						attrs.Resource, attrs.Subresource, _ = strings.Cut(res, "/")
						if !allowed(t, attrs) {
							t.Errorf("%s %s grants %s %s (group %q) in %q, but the ServiceAccount may not", o.GetKind(), o.GetName(), verb, res, group, o.GetNamespace())
						}
					}
				}
			}
		}
	}
	// Secrets hold BGP passwords: readable in Portico's namespace only.
	if allowed(t, authorizationv1.ResourceAttributes{Namespace: "default", Verb: "get", Resource: "secrets"}) {
		t.Error("the controller may read Secrets outside its namespace")
	}
	if !allowed(t, authorizationv1.ResourceAttributes{Namespace: namespace, Group: "coordination.k8s.io", Verb: "update", Resource: "leases"}) {
		t.Error("the controller may not update its leader election Lease")
	}
}

func allowed(t *testing.T, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               serviceAccount,
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
		ResourceAttributes: &attrs,
	}}
	if err := k8s.Create(context.Background(), sar); err != nil {
		t.Fatal(err)
	}
	return sar.Status.Allowed
}
