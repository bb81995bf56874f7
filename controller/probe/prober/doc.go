// Package prober runs one health check against one address: TCP connect,
// MySQL (a real protocol handshake with github.com/go-sql-driver/mysql and,
// with credentials, SELECT @@read_only, @@super_read_only) and Redis (PING and
// ROLE with github.com/redis/go-redis/v9, AUTH or an ACL user from the
// credentials), each bounded by the context's deadline. TCP connects every
// time; MySQL and Redis keep one working connection per address for up to
// their Reuse (DefaultReuse says why and what that cannot see), and a probe
// whose kept connection fails tries a fresh one before it reports failure.
//
// A probe never panics on what a server sends and never puts credentials in
// a Result. Wrong credentials are probe.AuthFailure, distinct from a server
// that is down. The drivers parse the wire protocols, except on a kept Redis
// connection, which is asked ROLE alone and whose reply this package reads
// itself (resp.go: bounded, RESP2 only, anything else refused and the
// connection dropped); that reader and the parsers of the drivers' decoded
// answers (the ROLE array, the read_only values) have fuzz targets.
//
// The package does I/O but holds no state between probes and knows nothing
// of Kubernetes; scheduling lives in probe/scheduler, decisions in probe.
package prober
