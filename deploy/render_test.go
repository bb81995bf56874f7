package deploy_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/portico-lb/portico/internal/kubeapi"
)

// check is one expectation on a rendered object.
type check struct {
	what string
	ok   bool
}

func report(t *testing.T, obj string, checks []check) {
	t.Helper()
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: want %s", obj, c.what)
		}
	}
}

// TestRender checks that the kustomization holds what an install needs, each
// component in its own namespace.
func TestRender(t *testing.T) {
	kubeapi.NeedServer(t, k8s != nil, noServer)
	objs := render(t)
	for _, want := range []struct{ kind, name string }{
		{"Namespace", controllerSA.namespace},
		{"Namespace", speakerSA.namespace},
		{"CustomResourceDefinition", "ipaddresspools.portico.dev"},
		{"CustomResourceDefinition", "l2advertisements.portico.dev"},
		{"CustomResourceDefinition", "bgppeers.portico.dev"},
		{"CustomResourceDefinition", "bgpadvertisements.portico.dev"},
		{"CustomResourceDefinition", "externalservices.portico.dev"},
		{"ServiceAccount", "portico-controller"},
		{"ClusterRole", "portico-controller"},
		{"ClusterRoleBinding", "portico-controller"},
		{"Role", "portico-controller"},
		{"RoleBinding", "portico-controller"},
		{"Role", "portico-controller-leader-election"},
		{"RoleBinding", "portico-controller-leader-election"},
		{"Deployment", "portico-controller"},
		{"ServiceAccount", "portico-speaker"},
		{"ClusterRole", "portico-speaker"},
		{"ClusterRoleBinding", "portico-speaker"},
		{"Role", "portico-speaker"},
		{"RoleBinding", "portico-speaker"},
		{"DaemonSet", "portico-speaker"},
	} {
		if find(objs, want.kind, want.name) == nil {
			t.Errorf("kustomize output has no %s %s", want.kind, want.name)
		}
	}
	// Every namespaced object belongs to one component, named after it; one
	// `namespace:` too many in a kustomization would move it.
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
			continue
		}
		var want string
		for _, sa := range []serviceAccount{controllerSA, speakerSA} {
			if strings.HasPrefix(o.GetName(), sa.name) {
				want = sa.namespace
			}
		}
		// The one exception: the speaker reads BGP password Secrets in
		// Portico's (the controller's) namespace, with a Role there.
		if (o.GetKind() == "Role" || o.GetKind() == "RoleBinding") && o.GetName() == speakerSA.name && o.GetNamespace() == controllerSA.namespace {
			continue
		}
		if o.GetNamespace() != want || want == "" {
			t.Errorf("%s %s is in namespace %q, want the namespace of the component it is named after", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	for ns, level := range map[string]string{controllerSA.namespace: "restricted", speakerSA.namespace: "privileged"} {
		if o := find(objs, "Namespace", ns); o != nil && o.GetLabels()["pod-security.kubernetes.io/enforce"] != level {
			t.Errorf("namespace %s enforces Pod Security %q, want %q", ns, o.GetLabels()["pod-security.kubernetes.io/enforce"], level)
		}
	}
	t.Run("controller", func(t *testing.T) { checkController(t, objs) })
	t.Run("speaker", func(t *testing.T) { checkSpeaker(t, objs) })
}

func checkController(t *testing.T, objs []*unstructured.Unstructured) {
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
	report(t, "Deployment", []check{
		{"image ghcr.io/portico-lb/portico-controller", strings.HasPrefix(c.Image, "ghcr.io/portico-lb/portico-controller:")},
		{"args include --leader-elect", contains(c.Args, "--leader-elect")},
		{"service account portico-controller", pod.ServiceAccountName == controllerSA.name},
		{"pod runs as non-root", pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot},
		{"seccomp RuntimeDefault", seccompRuntimeDefault(pod)},
		{"read-only root filesystem", c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem},
		{"no privilege escalation", noEscalation(c)},
		{"drops ALL capabilities", c.SecurityContext != nil && c.SecurityContext.Capabilities != nil && contains(capNames(c.SecurityContext.Capabilities.Drop), "ALL")},
		{"CPU and memory requests", !c.Resources.Requests.Cpu().IsZero() && !c.Resources.Requests.Memory().IsZero()},
		{"memory limit", !c.Resources.Limits.Memory().IsZero()},
		{"liveness probe GET /healthz on :8081", probeOn(c.LivenessProbe, "/healthz", c, 8081)},
		{"readiness probe GET /readyz on :8081", probeOn(c.ReadinessProbe, "/readyz", c, 8081)},
		{"metrics port 8080", portNamed(c, "metrics") == 8080},
		{"POD_NAMESPACE from metadata.namespace", envFromField(c, "POD_NAMESPACE") == "metadata.namespace"},
	})
}

// checkSpeaker holds the DaemonSet to what the speaker binary expects (its
// flag defaults in speaker/cmd/portico-speaker: metrics :7472, probes :7473,
// memberlist 7946, --handover-delay 1s) and to the least privilege raw ARP/NDP
// sockets allow.
func checkSpeaker(t *testing.T, objs []*unstructured.Unstructured) {
	d := find(objs, "DaemonSet", "portico-speaker")
	if d == nil {
		t.FailNow()
	}
	ds := convert[appsv1.DaemonSet](t, d)
	pod := ds.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	var added []string
	if c.SecurityContext != nil && c.SecurityContext.Capabilities != nil {
		added = capNames(c.SecurityContext.Capabilities.Add)
	}
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	report(t, "DaemonSet", []check{
		{"image ghcr.io/portico-lb/portico-speaker", strings.HasPrefix(c.Image, "ghcr.io/portico-lb/portico-speaker:")},
		{"service account portico-speaker", pod.ServiceAccountName == speakerSA.name},
		{"hostNetwork", pod.HostNetwork},
		{"dnsPolicy ClusterFirstWithHostNet", pod.DNSPolicy == corev1.DNSClusterFirstWithHostNet},
		{"drops ALL capabilities", c.SecurityContext != nil && c.SecurityContext.Capabilities != nil && contains(capNames(c.SecurityContext.Capabilities.Drop), "ALL")},
		{"adds NET_RAW and nothing else", len(added) == 1 && added[0] == "NET_RAW"},
		{"not privileged", c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged},
		{"no privilege escalation", noEscalation(c)},
		{"read-only root filesystem", c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem},
		{"seccomp RuntimeDefault", seccompRuntimeDefault(pod)},
		{"NODE_NAME from spec.nodeName", envFromField(c, "NODE_NAME") == "spec.nodeName"},
		{"NODE_IP from status.hostIP", envFromField(c, "NODE_IP") == "status.hostIP"},
		{"POD_NAMESPACE from metadata.namespace", envFromField(c, "POD_NAMESPACE") == "metadata.namespace"},
		{"tolerates control-plane nodes", tolerates(pod.Tolerations, "node-role.kubernetes.io/control-plane", corev1.TaintEffectNoSchedule)},
		{"priority class system-node-critical", pod.PriorityClassName == "system-node-critical"},
		{"CPU and memory requests", !c.Resources.Requests.Cpu().IsZero() && !c.Resources.Requests.Memory().IsZero()},
		{"memory limit", !c.Resources.Limits.Memory().IsZero()},
		{"termination grace period well above the 1s handover", pod.TerminationGracePeriodSeconds != nil && *pod.TerminationGracePeriodSeconds >= 5},
		{"RollingUpdate, one node at a time", ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType &&
			ru != nil && ru.MaxUnavailable != nil && *ru.MaxUnavailable == intstr.FromInt32(1)},
		{"liveness probe GET /healthz on :7473", probeOn(c.LivenessProbe, "/healthz", c, 7473)},
		{"readiness probe GET /readyz on :7473", probeOn(c.ReadinessProbe, "/readyz", c, 7473)},
		// The speaker listens for probes on NODE_IP only; with hostNetwork
		// the kubelet probes the Pod IP, which is the node's (hostIP).
		{"probes without a host (the Pod IP, NODE_IP)", c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Host == "" &&
			c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Host == ""},
		{"encrypted gossip (no --insecure-plain-gossip)", !contains(c.Args, "--insecure-plain-gossip") && !contains(c.Args, "--insecure-plain-gossip=true")},
		{"metrics port 7472/TCP", hasPort(c, "metrics", 7472, corev1.ProtocolTCP)},
		{"memberlist port 7946/TCP", hasPort(c, "", 7946, corev1.ProtocolTCP)},
		{"memberlist port 7946/UDP", hasPort(c, "", 7946, corev1.ProtocolUDP)},
	})
}

func seccompRuntimeDefault(pod corev1.PodSpec) bool {
	return pod.SecurityContext != nil && pod.SecurityContext.SeccompProfile != nil &&
		pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
}

func noEscalation(c corev1.Container) bool {
	return c.SecurityContext != nil && c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation
}

// tolerates reports whether ts tolerate the valueless taint key:effect.
func tolerates(ts []corev1.Toleration, key string, effect corev1.TaintEffect) bool {
	for _, tol := range ts {
		keyMatches := tol.Key == key || tol.Key == "" && tol.Operator == corev1.TolerationOpExists
		valueMatches := tol.Operator == corev1.TolerationOpExists || tol.Value == "" // the taint has no value
		if keyMatches && valueMatches && (tol.Effect == "" || tol.Effect == effect) {
			return true
		}
	}
	return false
}

// hasPort reports whether c declares port/proto, named name unless name is "".
func hasPort(c corev1.Container, name string, port int32, proto corev1.Protocol) bool {
	for _, p := range c.Ports {
		if p.ContainerPort == port && p.Protocol == proto && (name == "" || p.Name == name) {
			return true
		}
	}
	return false
}
