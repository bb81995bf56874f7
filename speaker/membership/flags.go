package membership

import "flag"

// BindFlags registers the command-line flags of the tunable fields on fs,
// with setConfigDefaults' values as their defaults, so the help text shows
// what an unset field gets. NodeName, BindAddr and Namespace are the
// caller's: they come from the Pod, not from defaults.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	d := setConfigDefaults(Config{})
	fs.IntVar(&c.BindPort, "memberlist-port", d.BindPort, "memberlist TCP/UDP port")
	fs.DurationVar(&c.ProbeInterval, "probe-interval", d.ProbeInterval, "memberlist probe interval")
	fs.DurationVar(&c.ProbeTimeout, "probe-timeout", d.ProbeTimeout, "memberlist probe timeout")
	fs.IntVar(&c.SuspicionMult, "suspicion-mult", d.SuspicionMult, "memberlist suspicion multiplier")
	fs.DurationVar(&c.HoldDown, "hold-down", d.HoldDown, "how long a (re)joined node must stay up before it announces again")
}
