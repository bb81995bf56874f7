package layer2

import "flag"

// BindFlags registers the command-line flags of the tunable fields on fs,
// with setConfigDefaults' values as their defaults, so the help text shows
// what an unset field gets.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	d := setConfigDefaults(Config{})
	fs.IntVar(&c.GratuitousCount, "gratuitous-count", d.GratuitousCount, "gratuitous ARP / unsolicited NA rounds on take-over")
	fs.DurationVar(&c.GratuitousInterval, "gratuitous-interval", d.GratuitousInterval, "interval between gratuitous rounds")
	fs.DurationVar(&c.LinkUpDelay, "link-up-delay", d.LinkUpDelay, "keep a link that came back silent (no ARP/NDP) this long while membership heals; negative disables")
}
