package kube

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const testKubeconfig = `apiVersion: v1
kind: Config
current-context: alpha
clusters:
- name: alpha-cluster
  cluster:
    server: https://alpha.example:6443
    insecure-skip-tls-verify: true
- name: beta-cluster
  cluster:
    server: https://beta.example:6443
    insecure-skip-tls-verify: true
users:
- name: alpha-user
  user:
    token: alpha-token
- name: beta-user
  user:
    token: beta-token
contexts:
- name: alpha
  context:
    cluster: alpha-cluster
    user: alpha-user
- name: beta
  context:
    cluster: beta-cluster
    user: beta-user
`

func writeKubeconfig(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// selfSigned returns a PEM certificate and key for the client certificate / CA cases.
func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

func TestRESTConfigFromKubeconfig(t *testing.T) {
	p := writeKubeconfig(t, t.TempDir(), testKubeconfig)

	cfg, err := RESTConfig(ConnOptions{ConfigPaths: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://alpha.example:6443" || cfg.BearerToken != "alpha-token" {
		t.Errorf("current context: host %s token %s", cfg.Host, cfg.BearerToken)
	}
	if cfg.QPS != 50 || cfg.Burst != 100 {
		t.Errorf("default QPS/Burst %v/%v", cfg.QPS, cfg.Burst)
	}

	cfg, err = RESTConfig(ConnOptions{ConfigPaths: []string{p}, ConfigContext: "beta", QPS: 7, Burst: 9, UserAgent: "tpf/1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://beta.example:6443" || cfg.BearerToken != "beta-token" || cfg.QPS != 7 || cfg.Burst != 9 || cfg.UserAgent != "tpf/1.0" {
		t.Errorf("context beta: %s %s %v %v %q", cfg.Host, cfg.BearerToken, cfg.QPS, cfg.Burst, cfg.UserAgent)
	}

	// context pieces override
	cfg, err = RESTConfig(ConnOptions{ConfigPaths: []string{p}, ConfigContextCluster: "beta-cluster", ConfigContextAuthInfo: "beta-user"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://beta.example:6443" || cfg.BearerToken != "beta-token" {
		t.Errorf("cluster/auth-info override: %s %s", cfg.Host, cfg.BearerToken)
	}

	// explicit settings override the kubeconfig
	cfg, err = RESTConfig(ConnOptions{ConfigPaths: []string{p}, Host: "https://override.example:443", Token: "explicit"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://override.example:443" || cfg.BearerToken != "explicit" {
		t.Errorf("override: %s %s", cfg.Host, cfg.BearerToken)
	}
}

func TestRESTConfigTildeAndMergedPaths(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	writeKubeconfig(t, home, testKubeconfig)
	second := filepath.Join(t.TempDir(), "second")
	if err := os.WriteFile(second, []byte(`apiVersion: v1
kind: Config
clusters:
- name: gamma-cluster
  cluster: {server: "https://gamma.example"}
users:
- name: gamma-user
  user: {token: gamma-token}
contexts:
- name: gamma
  context: {cluster: gamma-cluster, user: gamma-user}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := RESTConfig(ConnOptions{ConfigPaths: []string{"~/kubeconfig", second}, ConfigContext: "gamma"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://gamma.example" || cfg.BearerToken != "gamma-token" {
		t.Errorf("merged: %s %s", cfg.Host, cfg.BearerToken)
	}
}

func TestRESTConfigExec(t *testing.T) {
	p := writeKubeconfig(t, t.TempDir(), testKubeconfig)
	cfg, err := RESTConfig(ConnOptions{
		ConfigPaths: []string{p},
		Token:       "",
		Exec: &ExecOptions{
			APIVersion: "client.authentication.k8s.io/v1beta1",
			Command:    "aws",
			Args:       []string{"eks", "get-token", "--cluster-name", "prod"},
			Env:        map[string]string{"Z": "1", "AWS_PROFILE": "prod"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.ExecProvider
	if e == nil {
		t.Fatal("no exec provider")
	}
	if e.Command != "aws" || e.APIVersion != "client.authentication.k8s.io/v1beta1" ||
		!reflect.DeepEqual(e.Args, []string{"eks", "get-token", "--cluster-name", "prod"}) {
		t.Errorf("exec %+v", e)
	}
	if !reflect.DeepEqual(e.Env, []clientcmdapi.ExecEnvVar{{Name: "AWS_PROFILE", Value: "prod"}, {Name: "Z", Value: "1"}}) {
		t.Errorf("exec env %+v", e.Env)
	}
	if e.InteractiveMode != clientcmdapi.NeverExecInteractiveMode {
		t.Errorf("interactive mode %q", e.InteractiveMode)
	}

	// exec with host only, no kubeconfig
	cfg, err = RESTConfig(ConnOptions{Host: "https://k8s.example", Insecure: true, Exec: &ExecOptions{APIVersion: "client.authentication.k8s.io/v1", Command: "get-token"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://k8s.example" || cfg.ExecProvider == nil || cfg.ExecProvider.Command != "get-token" || !cfg.Insecure {
		t.Errorf("host + exec: %+v", cfg)
	}
}

func TestRESTConfigHostOnly(t *testing.T) {
	ca, _ := selfSigned(t)
	cert, key := selfSigned(t)
	cfg, err := RESTConfig(ConnOptions{Host: "https://10.0.0.1:6443", ClusterCACertificate: ca, ClientCertificate: cert, ClientKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://10.0.0.1:6443" || string(cfg.CAData) != ca || string(cfg.CertData) != cert || string(cfg.KeyData) != key {
		t.Errorf("host-only config: host %s", cfg.Host)
	}
	cfg, err = RESTConfig(ConnOptions{Host: "10.0.0.1:6443", Token: "t", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://10.0.0.1:6443" || cfg.BearerToken != "t" || !cfg.Insecure {
		t.Errorf("host without scheme: %s", cfg.Host)
	}
}

func TestRESTConfigErrors(t *testing.T) {
	dir := t.TempDir()
	p := writeKubeconfig(t, dir, testKubeconfig)
	noCurrent := filepath.Join(dir, "nocurrent")
	if err := os.WriteFile(noCurrent, []byte(strings.Replace(testKubeconfig, "current-context: alpha\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, _ := selfSigned(t)
	cert, _ := selfSigned(t)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	cases := []struct {
		name string
		opts ConnOptions
		msg  string
	}{
		{"nothing, not in cluster", ConnOptions{}, "set config_paths or host"},
		{"missing file", ConnOptions{ConfigPaths: []string{filepath.Join(dir, "nope")}}, "config_paths[0]"},
		{"directory", ConnOptions{ConfigPaths: []string{dir}}, "directory"},
		{"missing context", ConnOptions{ConfigPaths: []string{p}, ConfigContext: "prod"}, `config_context "prod" not found`},
		{"missing user", ConnOptions{ConfigPaths: []string{p}, ConfigContextAuthInfo: "root"}, "config_context_auth_info"},
		{"missing cluster", ConnOptions{ConfigPaths: []string{p}, ConfigContextCluster: "zeta"}, "config_context_cluster"},
		{"no current context", ConnOptions{ConfigPaths: []string{noCurrent}}, "no current-context"},
		{"bad yaml", ConnOptions{ConfigPaths: []string{writeKubeconfig(t, t.TempDir(), "::: not yaml")}}, "config_paths"},
		{"context without paths", ConnOptions{ConfigContext: "alpha"}, "need config_paths"},
		{"token without host", ConnOptions{Token: "t"}, "host is required"},
		{"bad host", ConnOptions{Host: "ftp://x"}, "host"},
		{"bad CA", ConnOptions{Host: "https://x", ClusterCACertificate: "not pem"}, "cluster_ca_certificate"},
		{"CA and insecure", ConnOptions{Host: "https://x", ClusterCACertificate: ca, Insecure: true}, "insecure and cluster_ca_certificate"},
		{"cert without key", ConnOptions{Host: "https://x", ClientCertificate: cert}, "client_key"},
		{"key without cert", ConnOptions{Host: "https://x", ClientKey: "k"}, "client_certificate"},
		{"bad key", ConnOptions{Host: "https://x", ClientCertificate: cert, ClientKey: "junk"}, "client_certificate / client_key"},
		{"exec without command", ConnOptions{Host: "https://x", Exec: &ExecOptions{APIVersion: "client.authentication.k8s.io/v1"}}, "exec.command"},
		{"exec bad api version", ConnOptions{Host: "https://x", Exec: &ExecOptions{APIVersion: "client.authentication.k8s.io/v1alpha1", Command: "x"}}, "exec.api_version"},
		{"negative qps", ConnOptions{Host: "https://x", QPS: -1}, "qps"},
	}
	for _, c := range cases {
		_, err := RESTConfig(c.opts)
		if err == nil {
			t.Errorf("%s: expected an error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.msg)
		}
	}
}
