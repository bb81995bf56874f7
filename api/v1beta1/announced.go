package v1beta1

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnnouncedMessage is what an announced condition's message says, as fields.
// The speakers render the message from it (String) and everyone who needs
// the node back — a sticky election, the e2e tests, the lab — parses it
// (ParseAnnouncedMessage), so the wording lives in this one place. The message,
// and not an annotation, carries the fields because the speakers write the
// status subresource only: an annotation would take a second write and
// permission to update Services.
//
// +kubebuilder:object:generate=false
type AnnouncedMessage struct {
	IP netip.Addr
	// Announced is the condition's status: True when Node announces IP.
	Announced bool
	// Node announces IP, or, when not Announced, is the node elected for it
	// that cannot announce it (NoInterface); "" when no node may.
	Node string
	// Method is how Node announces IP, for example "ARP/NDP"; only when
	// Announced. It must not contain " on ".
	Method string
	// Interfaces are where Node announces IP; nil means any interface whose
	// subnet holds IP. Only when Announced.
	Interfaces []string
	// Why says why IP is not announced; only when not Announced.
	Why string
}

// MethodBGP is the Method of an address announced over BGP, from every
// eligible node at once: its message names one of them, the node that
// speaks for all (see String).
const MethodBGP = "BGP"

const (
	announcedInfix    = " is announced by node "
	notAnnouncedInfix = " is not announced: "
	anyInterface      = "any interface on its subnet"
	bgpInfix          = " is announced over BGP by every eligible node, node "
	bgpSuffix         = " among them"
)

// String renders a as an announced condition's message:
//
//	<ip> is announced by node <node> (<method> on <interfaces>)
//	<ip> is announced over BGP by every eligible node, node <node> among them
//	<ip> is not announced: node <node> is elected to announce it, but <why> on node <node>
//	<ip> is not announced: <why>
//
// The BGP form is for Method MethodBGP without Interfaces.
func (a AnnouncedMessage) String() string {
	switch {
	case a.Announced && a.Method == MethodBGP && len(a.Interfaces) == 0:
		return fmt.Sprintf("%s%s%s%s", a.IP, bgpInfix, a.Node, bgpSuffix)
	case a.Announced:
		where := anyInterface
		if len(a.Interfaces) > 0 {
			where = strings.Join(a.Interfaces, ", ")
		}
		return fmt.Sprintf("%s%s%s (%s on %s)", a.IP, announcedInfix, a.Node, a.Method, where)
	case a.Node != "":
		return fmt.Sprintf("%s%snode %s is elected to announce it, but %s on node %s", a.IP, notAnnouncedInfix, a.Node, a.Why, a.Node)
	}
	return fmt.Sprintf("%s%s%s", a.IP, notAnnouncedInfix, a.Why)
}

// ParseAnnouncedMessage reads a message that String rendered back into its
// fields. Interfaces come back nil for "any interface on its subnet".
func ParseAnnouncedMessage(msg string) (AnnouncedMessage, error) {
	if ipStr, rest, ok := strings.Cut(msg, bgpInfix); ok {
		ip, err := netip.ParseAddr(ipStr)
		if err != nil {
			return AnnouncedMessage{}, fmt.Errorf("announced message %q: %w", msg, err)
		}
		node, ok := strings.CutSuffix(rest, bgpSuffix)
		if !ok || node == "" || strings.Contains(node, " ") {
			return AnnouncedMessage{}, fmt.Errorf("announced message %q: want \"<ip>%s<node>%s\"", msg, bgpInfix, bgpSuffix)
		}
		return AnnouncedMessage{IP: ip, Announced: true, Node: node, Method: MethodBGP}, nil
	}
	if ipStr, rest, ok := strings.Cut(msg, announcedInfix); ok {
		ip, err := netip.ParseAddr(ipStr)
		if err != nil {
			return AnnouncedMessage{}, fmt.Errorf("announced message %q: %w", msg, err)
		}
		node, how, ok := strings.Cut(rest, " (")
		if !ok || node == "" || strings.Contains(node, " ") || !strings.HasSuffix(how, ")") {
			return AnnouncedMessage{}, fmt.Errorf("announced message %q: want \"<ip>%s<node> (<method> on <interfaces>)\"", msg, announcedInfix)
		}
		method, where, ok := strings.Cut(strings.TrimSuffix(how, ")"), " on ")
		if !ok || method == "" || where == "" {
			return AnnouncedMessage{}, fmt.Errorf("announced message %q: want \"(<method> on <interfaces>)\" after the node", msg)
		}
		a := AnnouncedMessage{IP: ip, Announced: true, Node: node, Method: method}
		if where != anyInterface {
			a.Interfaces = strings.Split(where, ", ")
		}
		return a, nil
	}
	ipStr, why, ok := strings.Cut(msg, notAnnouncedInfix)
	if !ok {
		return AnnouncedMessage{}, fmt.Errorf("announced message %q: neither %q nor %q", msg, strings.TrimSpace(announcedInfix), strings.TrimSpace(notAnnouncedInfix))
	}
	ip, err := netip.ParseAddr(ipStr)
	if err != nil {
		return AnnouncedMessage{}, fmt.Errorf("announced message %q: %w", msg, err)
	}
	a := AnnouncedMessage{IP: ip, Why: why}
	// The elected node is named twice, before and after why; both must
	// agree, or the message is one whose why merely starts like this.
	if rest, ok := strings.CutPrefix(why, "node "); ok {
		if node, why, ok := strings.Cut(rest, " is elected to announce it, but "); ok && node != "" && !strings.Contains(node, " ") {
			if why, ok := strings.CutSuffix(why, " on node "+node); ok {
				a.Node, a.Why = node, why
			}
		}
	}
	return a, nil
}

// AnnouncedCondition returns the type of the announced condition for ip's
// family.
func AnnouncedConditionType(ip netip.Addr) string {
	if ip.Unmap().Is6() {
		return ServiceConditionAnnouncedIPv6
	}
	return ServiceConditionAnnouncedIPv4
}

// AnnouncingNode returns the node that svc's announced condition names as
// announcing ip, or "" when the condition is missing, not True, unreadable
// or about another address.
func AnnouncingNode(svc *corev1.Service, ip netip.Addr) string {
	c := meta.FindStatusCondition(svc.Status.Conditions, AnnouncedConditionType(ip))
	if c == nil || c.Status != metav1.ConditionTrue {
		return ""
	}
	a, err := ParseAnnouncedMessage(c.Message)
	if err != nil || !a.Announced || a.IP != ip {
		return ""
	}
	return a.Node
}
