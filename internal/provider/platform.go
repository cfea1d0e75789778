package provider

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpproxy"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
)

// newPlatform builds the clients every resource shares: one Kubernetes clientset and one
// HTTP client for all Flink REST calls, whichever access mode is configured.
func newPlatform(restConfig *rest.Config, access *flinkAccessModel) (*lifecycle.Platform, error) {
	clientset, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("building the Kubernetes client: %w", err)
	}
	platform := &lifecycle.Platform{Kube: &kube.Client{Kube: clientset, FieldManager: kube.FieldManager}}

	mode, template, proxyURL := accessProxy, defaultURLTemplate, ""
	if access != nil {
		mode = firstNonEmpty(access.Mode.ValueString(), accessProxy)
		template = firstNonEmpty(access.URLTemplate.ValueString(), defaultURLTemplate)
		proxyURL = access.ProxyURL.ValueString()
	}

	switch mode {
	case accessDirect:
		httpClient := &http.Client{Transport: directTransport(proxyURL)}
		platform.RestURL = func(ns, app string) string { return expandURLTemplate(template, ns, app) }
		platform.Flink = func(ns, app string) *flink.Client {
			hint := fmt.Sprintf("check flink_access (url_template %q, proxy_url) and that Service %s exists in namespace %s",
				template, kube.RestServiceName(app), ns)
			return flink.New(ns+"/"+app, platform.RestURL(ns, app), httpClient, flink.WithAccessHint(hint))
		}
	default:
		// Through the API server's service proxy: the same credentials and network path as kubectl.
		httpClient, err := rest.HTTPClientFor(restConfig)
		if err != nil {
			return nil, fmt.Errorf("building the HTTP client for the Kubernetes service proxy: %w", err)
		}
		platform.RestURL = func(ns, app string) string { return serviceProxyURL(restConfig.Host, ns, app) }
		platform.Flink = func(ns, app string) *flink.Client {
			hint := fmt.Sprintf("check that Service %s exists in namespace %s with a port named rest (flink_access mode %q goes through the Kubernetes API server's service proxy)",
				kube.RestServiceName(app), ns, accessProxy)
			return flink.New(ns+"/"+app, platform.RestURL(ns, app), httpClient, flink.WithAccessHint(hint))
		}
	}
	return platform, nil
}

// directTransport honours an explicit proxy, else HTTPS_PROXY/HTTP_PROXY/NO_PROXY read now
// (http.ProxyFromEnvironment caches the environment for the life of the process).
func directTransport(proxyURL string) *http.Transport {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if proxyURL != "" {
		u, _ := url.Parse(proxyURL) // validated at plan time
		transport.Proxy = http.ProxyURL(u)
		return transport
	}
	proxyFunc := httpproxy.FromEnvironment().ProxyFunc()
	transport.Proxy = func(req *http.Request) (*url.URL, error) { return proxyFunc(req.URL) }
	return transport
}

func expandURLTemplate(template, namespace, name string) string {
	return strings.NewReplacer("{name}", name, "{namespace}", namespace).Replace(template)
}

func serviceProxyURL(apiServer, namespace, name string) string {
	return strings.TrimSuffix(apiServer, "/") + "/api/v1/namespaces/" + namespace + "/services/" +
		kube.RestServiceName(name) + ":rest/proxy"
}
