// Package iprange provides Range, an inclusive span of IP addresses of one
// family, parsed from the forms IPAddressPool accepts: a CIDR ("10.0.0.0/24",
// "fd00::/64") or a dash range ("10.0.0.10-10.0.0.20").
//
// It is shared by config (validation), the allocator and the speaker. It
// imports only the standard library.
package iprange
