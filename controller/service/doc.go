// Package service reconciles LoadBalancer Services: it reads what each one
// asks for, lets ipam decide its addresses, and writes status.loadBalancer
// and the portico.dev/ip-assigned condition in one status write.
//
// It is the only writer of Service address assignments. Allocation policy
// lives in ipam; this package only does Kubernetes I/O.
package service
