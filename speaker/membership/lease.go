package membership

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The Lease wire format. This file only converts between Leases and peers;
// leasesource.go does the API calls.
const (
	leasePrefix       = "portico-speaker-"
	annotationAddr    = "portico.dev/memberlist-addr"
	annotationSubnets = "portico.dev/subnets"
	labelName         = "app.kubernetes.io/name"
	labelComponent    = "app.kubernetes.io/component"
	labelNameValue    = "portico"
	componentSpeaker  = "speaker"
)

// leaseLabels select the speakers' Leases; List filters on them.
func leaseLabels() map[string]string {
	return map[string]string{labelName: labelNameValue, labelComponent: componentSpeaker}
}

// peer is one speaker as its discovery record describes it.
type peer struct {
	Name string
	// Addr is the memberlist address; invalid when the speaker runs without
	// memberlist, so its record (Lease) is its only liveness signal.
	Addr    netip.AddrPort
	Subnets []netip.Prefix
	// Renewed is when the record was last renewed, by the writer's clock.
	// Zero means the source has no such notion: the record is always fresh.
	Renewed time.Time
	// NotNode says that no Node of this name exists. Such a record admits
	// nobody (see admission.go); it is listed so the rejection can say why.
	NotNode bool
}

func leaseName(node string) string { return leasePrefix + node }

// encodeLease writes p into l, which is either empty (to create) or the
// current Lease (to update), keeping everything else on it. renewed is the
// renewal time to record; duration is rounded up to whole seconds.
func encodeLease(l *coordinationv1.Lease, p peer, duration time.Duration, renewed time.Time) {
	l.Name = leaseName(p.Name)
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	for k, v := range leaseLabels() {
		l.Labels[k] = v
	}
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	if p.Addr.IsValid() {
		l.Annotations[annotationAddr] = p.Addr.String()
	} else {
		delete(l.Annotations, annotationAddr)
	}
	l.Annotations[annotationSubnets] = string(encodeSubnets(p.Subnets))

	secs := int32(min(math.Ceil(duration.Seconds()), math.MaxInt32))
	now := metav1.NewMicroTime(renewed)
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != p.Name {
		l.Spec.HolderIdentity = &p.Name
		l.Spec.AcquireTime = &now
	}
	l.Spec.LeaseDurationSeconds = &secs
	l.Spec.RenewTime = &now
}

// decodeLease reads the peer a speaker's Lease describes. A Lease whose
// name does not match its holder is refused, so one node cannot speak for
// another by writing a Lease under the wrong name.
func decodeLease(l *coordinationv1.Lease) (peer, error) {
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return peer{}, fmt.Errorf("lease %s: no holderIdentity", l.Name)
	}
	p := peer{Name: *l.Spec.HolderIdentity}
	if l.Name != leaseName(p.Name) {
		return peer{}, fmt.Errorf("lease %s: held by %q, want name %s", l.Name, p.Name, leaseName(p.Name))
	}
	if s := l.Annotations[annotationAddr]; s != "" {
		a, err := netip.ParseAddrPort(s)
		if err != nil || a.Port() == 0 || !a.Addr().IsValid() || a.Addr().IsUnspecified() {
			return peer{}, fmt.Errorf("lease %s: annotation %s=%q is not a memberlist address", l.Name, annotationAddr, s)
		}
		p.Addr = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	}
	subnets, err := decodeSubnets(l.Annotations[annotationSubnets])
	if err != nil {
		return peer{}, fmt.Errorf("lease %s: annotation %s: %w", l.Name, annotationSubnets, err)
	}
	p.Subnets = subnets
	if l.Spec.RenewTime != nil {
		p.Renewed = l.Spec.RenewTime.Time
	} else if l.Spec.AcquireTime != nil {
		p.Renewed = l.Spec.AcquireTime.Time
	} else {
		// Never renewed: treat as long expired rather than forever fresh.
		p.Renewed = time.Unix(0, 0)
	}
	return p, nil
}

// encodeSubnets is the comma-separated form used by the Lease annotation
// and by memberlist node metadata.
func encodeSubnets(ps []netip.Prefix) []byte {
	var b []byte
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = p.AppendTo(b)
	}
	return b
}

// maxSubnets bounds decoding: a Lease is user-writable input.
const maxSubnets = 256

func decodeSubnets(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if len(out) == maxSubnets {
			return nil, fmt.Errorf("more than %d subnets", maxSubnets)
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
