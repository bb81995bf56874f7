package externalservice

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"
)

// BindFlags registers the ExternalService controller's flags on fs.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.Var((*prefixList)(&o.PodCIDRs), "external-refuse-pod-cidrs", "comma-separated pod CIDRs an ExternalService may not target")
	fs.Var((*prefixList)(&o.NodeCIDRs), "external-refuse-node-cidrs", "comma-separated node CIDRs an ExternalService may not target")
	fs.StringVar(&o.ResolvConf, "external-resolv-conf", "/etc/resolv.conf", "resolv.conf for resolving ExternalService endpoint names")
	fs.IntVar(&o.ProbeConcurrency, "external-probe-concurrency", 64, "ExternalService probes in flight at most")
}

// prefixList is a flag.Value of comma-separated CIDRs.
type prefixList []netip.Prefix

func (l *prefixList) String() string {
	if l == nil {
		return ""
	}
	s := make([]string, len(*l))
	for i, p := range *l {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (l *prefixList) Set(v string) error {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR: %w", f, err)
		}
		out = append(out, p.Masked())
	}
	*l = out
	return nil
}
