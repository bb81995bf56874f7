package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-lb/portico/e2etest/netlab"
)

// PodPort is the TCP port every pod's podserver listens on (IPv4 and IPv6).
const PodPort = 8080

// managedBy is the endpointslice.kubernetes.io/managed-by value of the
// EndpointSlices ExposePods writes.
const managedBy = "e2e.portico.dev"

// Pod is a network namespace behind a node, running podserver, which answers
// every TCP connection on PodPort with "pod=<Name> node=<Node>
// client=<address it saw>". Its fields never change.
type Pod struct {
	Name      string
	Node      string
	Namespace string // the network namespace, <prefix>-pod-<Name>
	Link      string // the node's end of the veth
	IPv4      netip.Addr
	IPv6      netip.Addr
	// Labels are the pod's labels; Selected matches Services' selectors
	// against them. No Pod object is created: there is no kubelet.
	Labels map[string]string

	notReady bool
	proc     *netlab.Process
}

// NotReady returns a copy of p that ExposePods writes as not ready (and not
// serving), as kubelet would for a failing readiness probe.
func (p *Pod) NotReady() *Pod {
	q := *p
	q.notReady = true
	return &q
}

var podNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,29}$`)

// AddPod creates pod name behind node and starts its podserver; it returns
// once the podserver answers from the node. Names are unique per cluster.
func (c *Cluster) AddPod(ctx context.Context, node, name string, labels map[string]string) (_ *Pod, err error) {
	if !podNameRE.MatchString(name) {
		return nil, fmt.Errorf("cluster: pod name %q: want lowercase letters, digits and '-', starting with a letter, at most 30 characters", name)
	}
	h, idx, err := c.node(node)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if _, dup := c.pods[name]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("cluster: pod %s exists", name)
	}
	c.podSeq++
	if c.podIDs[node] == 0 {
		c.podIDs[node] = 9
	}
	c.podIDs[node]++
	id := c.podIDs[node]
	p := &Pod{
		Name: name, Node: node, Namespace: c.Lab.Prefix + "-pod-" + name,
		Link: c.Lab.Prefix + "p" + strconv.Itoa(c.podSeq), Labels: labels,
	}
	c.pods[name] = p // reserves the name; removed again on error
	c.mu.Unlock()
	if id > 254 {
		err = fmt.Errorf("cluster: node %s: no pod address left", node)
	}
	v4, v6 := podCIDRs(idx)
	a4 := v4.Addr().As4()
	a4[3] = byte(id)
	p.IPv4 = netip.AddrFrom4(a4)
	p.IPv6 = netip.MustParseAddr(fmt.Sprintf("%s%d", v6.Addr(), id))
	defer func() {
		if err != nil {
			bg, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if p.proc != nil {
				p.proc.Stop(time.Second)
			}
			c.run(bg, c.ip, "netns", "del", p.Namespace)
			c.mu.Lock()
			delete(c.pods, name)
			c.mu.Unlock()
		}
	}()
	if err != nil {
		return nil, err
	}
	if err := c.wirePod(ctx, h.Namespace, h.IPv4, p); err != nil {
		return nil, err
	}
	if p.proc, err = c.Lab.Start(c.ctx, c.logPath("pod-"+name), c.ip, "netns", "exec", p.Namespace,
		filepath.Join(c.bin, binPodserver), "--listen", ":"+strconv.Itoa(PodPort), "--pod", name, "--node", node); err != nil {
		return nil, err
	}
	// The node reaches the pod over both families, as kube-proxy will.
	for _, a := range []netip.Addr{p.IPv4, p.IPv6} {
		target := netip.AddrPortFrom(a, PodPort).String()
		err := netlab.Poll(ctx, 100*time.Millisecond, 10*time.Second, "pod "+name+" answering at "+target+" from "+node, func(context.Context) error {
			if p.proc.Exited() {
				return netlab.Permanent(fmt.Errorf("podserver of %s exited (%v)\n%s", name, p.proc.Wait(), tail(c.logPath("pod-"+name), 10)))
			}
			return h.Do(func() error {
				conn, err := net.DialTimeout("tcp", target, 500*time.Millisecond)
				if err == nil {
					conn.Close()
				}
				return err
			})
		})
		if err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	return p, nil
}

// wirePod creates the pod's namespace and veth and routes it (see the
// package doc, "Pods and routes").
func (c *Cluster) wirePod(ctx context.Context, nodeNS string, nodeV4 netip.Addr, p *Pod) error {
	if _, err := c.run(ctx, c.ip, "netns", "add", p.Namespace); err != nil {
		return err
	}
	// Links inherit "default": the pod's eth0 must not hold its addresses
	// tentative for DAD.
	if _, err := c.run(ctx, c.ip, "netns", "exec", p.Namespace, "sysctl", "-q", "-w",
		"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv6.conf.default.accept_ra=0"); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", nodeNS, "link", "add", p.Link, "type", "veth", "peer", "name", "eth0", "netns", p.Namespace},
		{"-n", nodeNS, "addr", "add", "fe80::1/64", "dev", p.Link, "nodad"},
		{"-n", nodeNS, "link", "set", p.Link, "up"},
		{"-n", nodeNS, "route", "add", p.IPv4.String() + "/32", "dev", p.Link},
		{"-n", nodeNS, "-6", "route", "add", p.IPv6.String() + "/128", "dev", p.Link},
		{"-n", p.Namespace, "link", "set", "lo", "up"},
		{"-n", p.Namespace, "addr", "add", p.IPv4.String() + "/32", "dev", "eth0"},
		{"-n", p.Namespace, "addr", "add", p.IPv6.String() + "/128", "dev", "eth0", "nodad"},
		{"-n", p.Namespace, "link", "set", "eth0", "up"},
		{"-n", p.Namespace, "route", "add", "default", "via", nodeV4.String(), "dev", "eth0", "onlink"},
		{"-n", p.Namespace, "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0"},
	}
	for _, args := range steps {
		if _, err := c.run(ctx, c.ip, args...); err != nil {
			return err
		}
	}
	return nil
}

// DeletePod stops the pod's podserver and removes its namespace (and with
// it the veth and the node's routes to it). EndpointSlices that still name
// it are the caller's to update.
func (c *Cluster) DeletePod(ctx context.Context, p *Pod) error {
	c.mu.Lock()
	q := c.pods[p.Name]
	delete(c.pods, p.Name)
	c.mu.Unlock()
	if q == nil {
		return nil
	}
	var errs []error
	if q.proc != nil {
		errs = append(errs, q.proc.Stop(time.Second))
	}
	if _, err := c.run(ctx, c.ip, "netns", "del", q.Namespace); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Selected returns the pods whose labels match svc's selector.
func (c *Cluster) Selected(svc *corev1.Service) []*Pod {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Pod
	for _, p := range c.pods {
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// ExposePods writes svc's EndpointSlices as kubelet and the endpoint
// controller would: one per IP family of the Service, named
// "<service>-ipv4"/"-ipv6", with one endpoint per pod (ready and serving
// unless NotReady, nodeName set) and the Service's ports mapped to their
// numeric target ports. Call it again with another set to update; no pods
// means no endpoints.
func (c *Cluster) ExposePods(ctx context.Context, svc *corev1.Service, pods ...*Pod) error {
	var cur corev1.Service
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}, &cur); err != nil {
		return fmt.Errorf("cluster: service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	var ports []discoveryv1.EndpointPort
	for _, sp := range cur.Spec.Ports {
		target := sp.Port
		switch {
		case sp.TargetPort.Type == 0 && sp.TargetPort.IntVal != 0:
			target = sp.TargetPort.IntVal
		case sp.TargetPort.Type != 0:
			return fmt.Errorf("cluster: service %s/%s: port %q: named target ports are not supported (no Pod objects to resolve them)", svc.Namespace, svc.Name, sp.Name)
		}
		ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(sp.Name), Port: ptr.To(target), Protocol: ptr.To(sp.Protocol)})
	}
	for _, fam := range cur.Spec.IPFamilies {
		at, addr := discoveryv1.AddressTypeIPv4, func(p *Pod) netip.Addr { return p.IPv4 }
		if fam == corev1.IPv6Protocol {
			at, addr = discoveryv1.AddressTypeIPv6, func(p *Pod) netip.Addr { return p.IPv6 }
		}
		es := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Name: cur.Name + "-" + strings.ToLower(string(fam)), Namespace: cur.Namespace,
				Labels: map[string]string{discoveryv1.LabelServiceName: cur.Name, discoveryv1.LabelManagedBy: managedBy},
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Service", Name: cur.Name, UID: cur.UID, Controller: ptr.To(true),
				}},
			},
			AddressType: at,
			Ports:       ports,
			Endpoints:   []discoveryv1.Endpoint{},
		}
		for _, p := range pods {
			ready := !p.notReady
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
				Addresses: []string{addr(p).String()},
				Conditions: discoveryv1.EndpointConditions{
					Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false),
				},
				NodeName: ptr.To(p.Node),
			})
		}
		if err := c.writeSlice(ctx, es); err != nil {
			return err
		}
	}
	return nil
}

// writeSlice creates es or replaces the existing slice's content.
func (c *Cluster) writeSlice(ctx context.Context, es *discoveryv1.EndpointSlice) error {
	var old discoveryv1.EndpointSlice
	err := c.Client.Get(ctx, client.ObjectKeyFromObject(es), &old)
	switch {
	case apierrors.IsNotFound(err):
		err = c.Client.Create(ctx, es)
	case err == nil:
		old.Labels, old.OwnerReferences = es.Labels, es.OwnerReferences
		old.Endpoints, old.Ports = es.Endpoints, es.Ports
		err = c.Client.Update(ctx, &old)
	}
	if err != nil {
		return fmt.Errorf("cluster: endpointslice %s/%s: %w", es.Namespace, es.Name, err)
	}
	return nil
}
