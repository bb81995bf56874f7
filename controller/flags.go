package controller

import (
	"flag"

	"github.com/portico-lb/portico/controller/service"
)

// BindFlags registers the flags of the tunable options on fs, with the
// defaults Setup applies. Namespace is main's: it comes from the Pod.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.IgnoreNoClass, "ignore-no-class", false, "serve only Services with loadBalancerClass portico.dev/lb")
	fs.IntVar(&o.MaxConcurrentReconciles, "workers", service.DefaultMaxConcurrentReconciles, "concurrent Service reconciles")
	o.ExternalServices.BindFlags(fs)
}
