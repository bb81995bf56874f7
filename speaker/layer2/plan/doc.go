// Package plan is layer 2's pure part: it maps the desired set (IP →
// interface names) onto the interfaces of one scan, says which interface
// answers for which IPs, and why an IP can be answered on none. It is what
// the Responders apply, computed apart from the sockets.
//
// It does no I/O and imports only the standard library's pure packages
// (TestImports holds it to that): interfaces reach it as Link values, not
// as net.Interface or anything read from the kernel.
package plan
