package kubeapi

import (
	"fmt"
	"net/url"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfigName names the cluster, user and context of written kubeconfigs.
const kubeconfigName = "portico-test"

// WriteKubeconfig writes a kubeconfig for the API server's admin user to path
// (mode 0600), for kubectl and for binaries started by the lab and benchmarks.
// Certificates and keys are embedded, so the file stays valid on its own for as
// long as the server runs.
func (s *Server) WriteKubeconfig(path string) error {
	kc, err := kubeconfigFor(s.Config)
	if err != nil {
		return err
	}
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("kubeapi: writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// kubeconfigFor turns a rest.Config using certificates, a token or basic auth
// into a kubeconfig; auth plugins and custom transports are not carried over.
func kubeconfigFor(cfg *rest.Config) (*clientcmdapi.Config, error) {
	if cfg == nil || cfg.Host == "" {
		return nil, fmt.Errorf("kubeapi: kubeconfig: no API server address")
	}
	server, err := serverURL(cfg)
	if err != nil {
		return nil, err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[kubeconfigName] = &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthority:     cfg.CAFile,
		CertificateAuthorityData: cfg.CAData,
		InsecureSkipTLSVerify:    cfg.Insecure,
		TLSServerName:            cfg.ServerName,
	}
	kc.AuthInfos[kubeconfigName] = &clientcmdapi.AuthInfo{
		ClientCertificate:     cfg.CertFile,
		ClientCertificateData: cfg.CertData,
		ClientKey:             cfg.KeyFile,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
		TokenFile:             cfg.BearerTokenFile,
		Username:              cfg.Username,
		Password:              cfg.Password,
	}
	kc.Contexts[kubeconfigName] = &clientcmdapi.Context{Cluster: kubeconfigName, AuthInfo: kubeconfigName}
	kc.CurrentContext = kubeconfigName
	return kc, nil
}

// serverURL returns cfg.Host as a URL with a scheme: rest.Config accepts a
// bare host:port, a kubeconfig does not.
func serverURL(cfg *rest.Config) (string, error) {
	scheme := "https"
	if !rest.IsConfigTransportTLS(*cfg) {
		scheme = "http"
	}
	u, err := url.Parse(cfg.Host)
	if err != nil || u.Host == "" {
		u, err = url.Parse(scheme + "://" + cfg.Host)
		if err != nil {
			return "", fmt.Errorf("kubeapi: kubeconfig: API server address %q: %w", cfg.Host, err)
		}
	}
	return u.String(), nil
}
