// Package resolver resolves ExternalService endpoint names to A and AAAA
// addresses with the records' TTLs, which the standard library's resolver
// hides: it queries the servers of a resolv.conf (the pod's, by default)
// with github.com/miekg/dns, honouring its search list, ndots, timeout and
// attempts, and falls back to TCP for truncated answers.
//
// miekg/dns parses the wire format; this package only reads the parsed
// answer section (addrsOf, which has a fuzz target). It keeps no cache: the
// caller (probe.NameTracker) decides when to ask again from the TTL.
package resolver
