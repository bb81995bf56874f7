// Package kubeapi starts a real kube-apiserver and etcd for Portico's
// integration tests, benchmarks and lab, with Portico's CRDs installed.
//
// It wraps controller-runtime's envtest with the binaries that
// e2etest/setup/k8s-binaries.sh builds (cached in $HOME/.cache/portico) and
// Debian's etcd, and widens the Service and NodePort ranges so benchmarks are
// not capped at 254 Services.
package kubeapi
