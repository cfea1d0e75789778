package kube

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ConnOptions are the provider's Kubernetes connection settings, modelled on
// terraform-provider-kubernetes: a kubeconfig (ConfigPaths, merged in order) selected by
// ConfigContext*, and explicit settings that override it. The setting names in error
// messages are the provider block's attribute names.
type ConnOptions struct {
	ConfigPaths           []string
	ConfigContext         string
	ConfigContextAuthInfo string
	ConfigContextCluster  string

	Host string
	// Token is a bearer token.
	Token string
	// ClusterCACertificate, ClientCertificate and ClientKey are PEM-encoded contents.
	ClusterCACertificate string
	ClientCertificate    string
	ClientKey            string
	Insecure             bool
	Exec                 *ExecOptions

	// QPS and Burst of the client-side rate limiter; 0 means 50 and 100.
	QPS   float32
	Burst int
	// UserAgent, when set, replaces client-go's default user agent.
	UserAgent string
}

// ExecOptions configure an exec credential plugin.
type ExecOptions struct {
	APIVersion string
	Command    string
	Args       []string
	Env        map[string]string
}

// Defaults for the client-side rate limiter: the provider lists and polls many objects, and
// client-go's 5/10 would throttle it.
const (
	DefaultQPS   = 50
	DefaultBurst = 100
)

var execAPIVersions = []string{
	"client.authentication.k8s.io/v1",
	"client.authentication.k8s.io/v1beta1",
}

// RESTConfig builds the client configuration from opts with clientcmd, the way
// terraform-provider-kubernetes does: the kubeconfig files in ConfigPaths (with "~"
// expanded) with the selected context, overridden by the explicit settings. With neither
// ConfigPaths nor Host it uses the in-cluster configuration.
func RESTConfig(opts ConnOptions) (*rest.Config, error) {
	if err := validateExplicit(opts); err != nil {
		return nil, err
	}
	var cfg *rest.Config
	if len(opts.ConfigPaths) == 0 && opts.Host == "" {
		if opts.ConfigContext != "" || opts.ConfigContextAuthInfo != "" || opts.ConfigContextCluster != "" {
			return nil, fmt.Errorf("config_context, config_context_auth_info and config_context_cluster need config_paths")
		}
		if opts.Token != "" || opts.ClientCertificate != "" || opts.ClusterCACertificate != "" || opts.Exec != nil || opts.Insecure {
			return nil, fmt.Errorf("host is required when token, client_certificate, cluster_ca_certificate, insecure or exec are set without config_paths")
		}
		ic, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no Kubernetes connection configured: set config_paths or host (not running inside a cluster: %v)", err)
		}
		cfg = ic
	} else {
		c, err := clientcmdConfig(opts)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	if cfg.QPS <= 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if opts.UserAgent != "" {
		cfg.UserAgent = opts.UserAgent
	}
	return cfg, nil
}

func clientcmdConfig(opts ConnOptions) (*rest.Config, error) {
	paths, err := kubeconfigPaths(opts.ConfigPaths)
	if err != nil {
		return nil, err
	}
	loader := &clientcmd.ClientConfigLoadingRules{Precedence: paths}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loader, configOverrides(opts))
	if len(paths) > 0 {
		raw, err := cc.RawConfig()
		if err != nil {
			return nil, fmt.Errorf("config_paths: cannot load kubeconfig: %w", err)
		}
		if err := checkKubeconfig(raw, opts); err != nil {
			return nil, err
		}
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		where := "host"
		if len(paths) > 0 {
			where = "config_paths"
		}
		return nil, fmt.Errorf("invalid Kubernetes connection settings (%s): %w", where, err)
	}
	return cfg, nil
}

// kubeconfigPaths expands config_paths and checks that each is a file.
func kubeconfigPaths(configPaths []string) ([]string, error) {
	paths := make([]string, 0, len(configPaths))
	for i, p := range configPaths {
		ep, err := expandHome(p)
		if err != nil {
			return nil, fmt.Errorf("config_paths[%d] %q: %v", i, p, err)
		}
		st, err := os.Stat(ep)
		if err != nil {
			return nil, fmt.Errorf("config_paths[%d] %q: %v", i, p, err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("config_paths[%d] %q is a directory, not a kubeconfig file", i, p)
		}
		paths = append(paths, ep)
	}
	return paths, nil
}

// configOverrides are the explicit settings, which win over the kubeconfig's.
func configOverrides(opts ConnOptions) *clientcmd.ConfigOverrides {
	overrides := &clientcmd.ConfigOverrides{CurrentContext: opts.ConfigContext}
	overrides.Context.AuthInfo = opts.ConfigContextAuthInfo
	overrides.Context.Cluster = opts.ConfigContextCluster
	if opts.Host != "" {
		overrides.ClusterInfo.Server = normalizeHost(opts.Host)
	}
	if opts.ClusterCACertificate != "" {
		overrides.ClusterInfo.CertificateAuthorityData = []byte(opts.ClusterCACertificate)
	}
	if opts.Insecure {
		overrides.ClusterInfo.InsecureSkipTLSVerify = true
	}
	if opts.ClientCertificate != "" {
		overrides.AuthInfo.ClientCertificateData = []byte(opts.ClientCertificate)
		overrides.AuthInfo.ClientKeyData = []byte(opts.ClientKey)
	}
	if opts.Token != "" {
		overrides.AuthInfo.Token = opts.Token
	}
	if e := opts.Exec; e != nil {
		ec := &clientcmdapi.ExecConfig{
			APIVersion:      e.APIVersion,
			Command:         e.Command,
			Args:            append([]string(nil), e.Args...),
			InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		}
		for _, k := range slices.Sorted(maps.Keys(e.Env)) {
			ec.Env = append(ec.Env, clientcmdapi.ExecEnvVar{Name: k, Value: e.Env[k]})
		}
		overrides.AuthInfo.Exec = ec
	}
	return overrides
}

// checkKubeconfig refuses a context, user or cluster the kubeconfig does not have, naming
// the ones it has.
func checkKubeconfig(raw clientcmdapi.Config, opts ConnOptions) error {
	if opts.ConfigContext != "" {
		if _, ok := raw.Contexts[opts.ConfigContext]; !ok {
			return fmt.Errorf("config_context %q not found in config_paths (contexts: %s)", opts.ConfigContext, keyList(raw.Contexts))
		}
	}
	if opts.ConfigContextAuthInfo != "" {
		if _, ok := raw.AuthInfos[opts.ConfigContextAuthInfo]; !ok {
			return fmt.Errorf("config_context_auth_info %q not found in config_paths (users: %s)", opts.ConfigContextAuthInfo, keyList(raw.AuthInfos))
		}
	}
	if opts.ConfigContextCluster != "" {
		if _, ok := raw.Clusters[opts.ConfigContextCluster]; !ok {
			return fmt.Errorf("config_context_cluster %q not found in config_paths (clusters: %s)", opts.ConfigContextCluster, keyList(raw.Clusters))
		}
	}
	if opts.ConfigContext == "" && opts.Host == "" && opts.ConfigContextCluster == "" {
		if raw.CurrentContext == "" {
			return fmt.Errorf("config_paths: the kubeconfig has no current-context; set config_context (contexts: %s)", keyList(raw.Contexts))
		}
		if _, ok := raw.Contexts[raw.CurrentContext]; !ok {
			return fmt.Errorf("config_paths: the kubeconfig's current-context %q does not exist; set config_context (contexts: %s)", raw.CurrentContext, keyList(raw.Contexts))
		}
	}
	return nil
}

func validateExplicit(opts ConnOptions) error {
	if opts.Host != "" {
		u, err := url.Parse(normalizeHost(opts.Host))
		if err != nil {
			return fmt.Errorf("host %q is not a valid URL: %v", opts.Host, err)
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return fmt.Errorf("host %q: scheme must be https or http", opts.Host)
		}
		if u.Host == "" {
			return fmt.Errorf("host %q has no host name", opts.Host)
		}
	}
	if opts.ClusterCACertificate != "" {
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(opts.ClusterCACertificate)) {
			return fmt.Errorf("cluster_ca_certificate contains no PEM-encoded certificate")
		}
		if opts.Insecure {
			return fmt.Errorf("insecure and cluster_ca_certificate cannot both be set")
		}
	}
	switch {
	case opts.ClientCertificate != "" && opts.ClientKey == "":
		return fmt.Errorf("client_certificate is set but client_key is not")
	case opts.ClientCertificate == "" && opts.ClientKey != "":
		return fmt.Errorf("client_key is set but client_certificate is not")
	case opts.ClientCertificate != "":
		if _, err := tls.X509KeyPair([]byte(opts.ClientCertificate), []byte(opts.ClientKey)); err != nil {
			return fmt.Errorf("client_certificate / client_key: %v", err)
		}
	}
	if e := opts.Exec; e != nil {
		if e.Command == "" {
			return fmt.Errorf("exec.command must be set")
		}
		ok := false
		for _, v := range execAPIVersions {
			ok = ok || e.APIVersion == v
		}
		if !ok {
			return fmt.Errorf("exec.api_version %q is not supported: use one of %s", e.APIVersion, strings.Join(execAPIVersions, ", "))
		}
	}
	if opts.QPS < 0 {
		return fmt.Errorf("qps must not be negative")
	}
	if opts.Burst < 0 {
		return fmt.Errorf("burst must not be negative")
	}
	return nil
}

// normalizeHost adds https:// to a host without a scheme. clientcmd applies credentials only
// to TLS connections, so "10.0.0.1:6443" would otherwise silently connect without them.
func normalizeHost(h string) string {
	if strings.Contains(h, "://") {
		return h
	}
	return "https://" + h
}

func expandHome(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("empty path")
	}
	if p != "~" && !strings.HasPrefix(p, "~/") && !strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot expand ~: %v", err)
	}
	return filepath.Join(home, p[1:]), nil
}

func keyList[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
