package speaker

import "flag"

// BindFlags registers the command-line flags of the tunable options on fs,
// with setOptionsDefaults' values as their defaults. NodeName, Membership
// and Announcers are main's to fill.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	d := setOptionsDefaults(Options{})
	fs.DurationVar(&o.HandoverDelay, "handover-delay", d.HandoverDelay, "keep answering this long after leaving on SIGTERM")
	fs.BoolVar(&o.Sticky, "sticky", d.Sticky, "keep each address on its announcer while that node is alive and eligible; a returning node takes nothing back (set alike on every speaker)")
	fs.StringVar(&o.InstallNamespace, "portico-namespace", d.InstallNamespace, "Portico's namespace (the controller's --namespace), where BGPPeer password Secrets are read")
	fs.BoolVar(&o.IgnoreNoClass, "ignore-no-class", d.IgnoreNoClass, "announce only Services with loadBalancerClass portico.dev/lb")
}
