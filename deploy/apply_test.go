package deploy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-lb/portico/internal/kubeapi"
)

// TestApply applies deploy/ to the API server: first as a server-side dry
// run, which must validate every object without a single warning, then for
// real. Afterwards each component's ServiceAccount must hold every
// permission its roles grant and no Secret outside its namespace, and each
// Pod must be admitted under its namespace's Pod Security profile.
func TestApply(t *testing.T) {
	kubeapi.NeedServer(t, k8s != nil, noServer)
	objs := render(t)

	// Namespaced objects can be validated only in an existing namespace, so
	// the namespaces are created for real first; the dry run below still
	// sends them (unchanged) along with everything else.
	kubectl(t, "apply", "--validate=strict",
		"-f", filepath.Join(deployDir, "controller", "namespace.yaml"),
		"-f", filepath.Join(deployDir, "speaker", "namespace.yaml"))

	out, stderr := kubectl(t, "apply", "--validate=strict", "--dry-run=server", "-k", deployDir)
	var dryRun int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasSuffix(l, "(server dry run)") {
			dryRun++
		}
	}
	if dryRun != len(objs) {
		t.Errorf("server dry run reported %d objects, kustomize rendered %d:\n%s", dryRun, len(objs), out)
	}
	for _, want := range []string{
		"deployment.apps/portico-controller",
		"daemonset.apps/portico-speaker",
		"customresourcedefinition.apiextensions.k8s.io/ipaddresspools.portico.dev",
		"customresourcedefinition.apiextensions.k8s.io/bgpadvertisements.portico.dev",
		"customresourcedefinition.apiextensions.k8s.io/externalservices.portico.dev",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output does not mention %s:\n%s", want, out)
		}
	}
	// Each namespace warns at its own Pod Security level about workload
	// templates that violate it (a controller that no longer fits
	// "restricted", a speaker namespace labelled stricter than the speaker
	// can run under), and the API server about deprecated fields: any
	// warning fails the test.
	if w := warnings(stderr); w != "" {
		t.Errorf("dry run warned:\n%s", w)
	}

	_, stderr = kubectl(t, "apply", "--validate=strict", "-k", deployDir)
	if w := warnings(stderr); w != "" {
		t.Errorf("apply warned:\n%s", w)
	}
	var ds appsv1.DaemonSet
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: speakerSA.namespace, Name: "portico-speaker"}, &ds); err != nil {
		t.Errorf("the speaker's DaemonSet was not stored: %v", err)
	}

	t.Run("RBAC", func(t *testing.T) { checkRBAC(t, objs) })

	t.Run("PodSecurity", func(t *testing.T) {
		dep := convert[appsv1.Deployment](t, find(objs, "Deployment", "portico-controller"))
		ds := convert[appsv1.DaemonSet](t, find(objs, "DaemonSet", "portico-speaker"))
		for _, p := range []struct {
			ns   string
			tmpl corev1.PodTemplateSpec
			ok   bool
		}{
			{controllerSA.namespace, dep.Spec.Template, true},
			{speakerSA.namespace, ds.Spec.Template, true},
			// Why the speaker has a namespace of its own: "restricted"
			// refuses it.
			{controllerSA.namespace, ds.Spec.Template, false},
		} {
			what := fmt.Sprintf("the %s Pod in %s", p.tmpl.Labels["app.kubernetes.io/component"], p.ns)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "portico-", Namespace: p.ns, Labels: p.tmpl.Labels},
				Spec:       p.tmpl.Spec,
			}
			err := k8s.Create(t.Context(), pod, client.DryRunAll)
			switch {
			case p.ok && err != nil:
				t.Errorf("%s is refused: %v", what, err)
			case !p.ok && err == nil:
				t.Errorf("%s is admitted, want it refused by Pod Security", what)
			case !p.ok && !strings.Contains(err.Error(), "violates PodSecurity"):
				t.Errorf("%s is refused, but not by Pod Security: %v", what, err)
			}
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
// whether each ServiceAccount bound to the role holds it, so a binding with
// a wrong subject, subject namespace or roleRef fails here rather than in a
// cluster. Then it checks what the roles must not grant.
func checkRBAC(t *testing.T, objs []*unstructured.Unstructured) {
	holders := map[string][]serviceAccount{} // by roleKey
	for _, o := range objs {
		if o.GetKind() != "RoleBinding" && o.GetKind() != "ClusterRoleBinding" {
			continue
		}
		rb := convert[rbacv1.RoleBinding](t, o)
		if find(objs, rb.RoleRef.Kind, rb.RoleRef.Name) == nil {
			t.Errorf("%s %s refers to %s %s, which deploy/ does not create", o.GetKind(), o.GetName(), rb.RoleRef.Kind, rb.RoleRef.Name)
		}
		// A RoleBinding can only bind a Role of its own namespace.
		key := roleKey(rb.RoleRef.Kind, rb.Namespace, rb.RoleRef.Name)
		for _, s := range rb.Subjects {
			if created := find(objs, "ServiceAccount", s.Name); s.Kind != rbacv1.ServiceAccountKind || created == nil || created.GetNamespace() != s.Namespace {
				t.Errorf("%s %s binds %s %s/%s, which deploy/ does not create", o.GetKind(), o.GetName(), s.Kind, s.Namespace, s.Name)
			}
			holders[key] = append(holders[key], serviceAccount{s.Namespace, s.Name})
		}
	}
	for _, o := range objs {
		if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
			continue
		}
		sas := holders[roleKey(o.GetKind(), o.GetNamespace(), o.GetName())]
		if o.GetAnnotations()["portico.dev/bind-per-namespace"] == "true" {
			// Left for an administrator to bind namespace by namespace.
			if len(sas) != 0 {
				t.Errorf("%s %s is meant to be bound per namespace, but deploy/ binds it", o.GetKind(), o.GetName())
			}
			continue
		}
		if len(sas) == 0 {
			t.Errorf("%s %s is bound to no ServiceAccount", o.GetKind(), o.GetName())
		}
		role := convert[rbacv1.ClusterRole](t, o)
		for _, sa := range sas {
			for _, rule := range role.Rules {
				// A rule limited to names grants each of them, not the
				// resource at large; "" stands for no name.
				names := rule.ResourceNames
				if len(names) == 0 {
					names = []string{""}
				}
				for _, group := range rule.APIGroups {
					for _, res := range rule.Resources {
						for _, verb := range rule.Verbs {
							for _, name := range names {
								attrs := authorizationv1.ResourceAttributes{Namespace: o.GetNamespace(), Group: group, Verb: verb, Name: name}
								attrs.Resource, attrs.Subresource, _ = strings.Cut(res, "/")
								if !allowed(t, sa, attrs) {
									t.Errorf("%s %s grants %s %s %q (group %q) in %q, but %s may not", o.GetKind(), o.GetName(), verb, res, name, group, o.GetNamespace(), sa.user())
								}
							}
						}
					}
				}
			}
		}
	}

	secret := func(ns, verb string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: "secrets"}
	}
	namedSecret := func(ns, verb, name string) authorizationv1.ResourceAttributes {
		a := secret(ns, verb)
		a.Name = name
		return a
	}
	lease := func(ns string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Namespace: ns, Group: "coordination.k8s.io", Verb: "update", Resource: "leases"}
	}
	for _, c := range []struct {
		sa    serviceAccount
		attrs authorizationv1.ResourceAttributes
		want  bool
		why   string
	}{
		// The controller's Secrets hold BGP passwords, the speaker's the
		// gossip key: each readable by its own component only.
		{controllerSA, secret("default", "get"), false, "read Secrets outside its namespace"},
		{controllerSA, secret(speakerSA.namespace, "get"), false, "read the speaker's gossip key"},
		{speakerSA, secret("default", "get"), false, "read Secrets outside its namespace"},
		// BGPPeer password Secrets live in Portico's namespace, and every
		// speaker opens the sessions, so it reads (and watches) them there,
		// and writes none.
		{speakerSA, secret(controllerSA.namespace, "get"), true, "read BGP password Secrets in Portico's namespace"},
		{speakerSA, secret(controllerSA.namespace, "watch"), true, "watch BGP password Secrets in Portico's namespace"},
		{speakerSA, secret(controllerSA.namespace, "update"), false, "change Secrets in Portico's namespace"},
		{speakerSA, secret(controllerSA.namespace, "create"), false, "create Secrets in Portico's namespace"},
		// It reads one named Secret; list or watch would hand it all of them.
		{speakerSA, secret(speakerSA.namespace, "list"), false, "list the Secrets of its namespace"},
		{speakerSA, secret(speakerSA.namespace, "watch"), false, "watch the Secrets of its namespace"},
		{speakerSA, namedSecret(speakerSA.namespace, "get", "portico-memberlist"), true, "read the gossip key"},
		{speakerSA, secret(speakerSA.namespace, "get"), false, "read any Secret of its namespace"},
		{speakerSA, namedSecret(speakerSA.namespace, "get", "other"), false, "read another Secret of its namespace"},
		{speakerSA, namedSecret(speakerSA.namespace, "update", "portico-memberlist"), false, "change the gossip key"},
		// The first speaker creates the key Secret; create cannot be limited
		// to a name, and it needs no more.
		{speakerSA, secret(speakerSA.namespace, "create"), true, "create the gossip key Secret"},
		{speakerSA, secret("default", "create"), false, "create Secrets outside its namespace"},
		{controllerSA, lease(controllerSA.namespace), true, "update its leader election Lease"},
		{speakerSA, lease(speakerSA.namespace), true, "update its Lease"},
		{speakerSA, lease(controllerSA.namespace), false, "update the controller's leader election Lease"},
	} {
		if got := allowed(t, c.sa, c.attrs); got != c.want {
			t.Errorf("%s may %s: %v, want %v", c.sa.user(), c.why, got, c.want)
		}
	}

	// The ExternalService credentials role, bound in one namespace as the
	// file says, grants get there and nothing elsewhere.
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "creds-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = k8s.Delete(ctx, ns) }()
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "portico-external-credentials"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "portico-external-credentials"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: controllerSA.namespace, Name: controllerSA.name}},
	}
	if err := k8s.Create(ctx, rb); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		attrs authorizationv1.ResourceAttributes
		want  bool
		why   string
	}{
		{secret(ns.Name, "get"), true, "read a credentials Secret where portico-external-credentials is bound"},
		{secret(ns.Name, "list"), false, "list Secrets where portico-external-credentials is bound"},
		{secret("default", "get"), false, "read Secrets where it is not bound"},
		{secret(speakerSA.namespace, "get"), false, "read the speaker's gossip key"},
	} {
		if got := allowed(t, controllerSA, c.attrs); got != c.want {
			t.Errorf("%s may %s: %v, want %v", controllerSA.user(), c.why, got, c.want)
		}
	}
}

func roleKey(kind, namespace, name string) string {
	if kind == "ClusterRole" {
		namespace = ""
	}
	return kind + "/" + namespace + "/" + name
}

func allowed(t *testing.T, sa serviceAccount, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               sa.user(),
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.namespace, "system:authenticated"},
		ResourceAttributes: &attrs,
	}}
	if err := k8s.Create(context.Background(), sar); err != nil {
		t.Fatal(err)
	}
	return sar.Status.Allowed
}
