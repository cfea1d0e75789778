package provider

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/client-go/rest"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

const platformTestJobID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"

// A 404 that is not Flink's (the API server without the REST Service, an ingress) does not
// mean the job is gone, and the error says which Service and settings to check.
func TestFlinkClientsNameTheServiceToCheckOnANonFlink404(t *testing.T) {
	// Stands in for the Kubernetes API server and, in direct mode, for an ingress.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/payments/services/fraud-rest:rest/proxy/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(flinktest.KubernetesServiceNotFound("fraud-rest")))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(flinktest.IngressNotFound))
	}))
	defer srv.Close()

	tests := []struct {
		name   string
		access *flinkAccessModel
		want   string
	}{
		{
			name: "proxy", access: nil,
			want: `404 Not Found from the Kubernetes API server: services "fraud-rest" not found; check that Service fraud-rest exists in namespace payments with a port named rest (flink_access mode "proxy" goes through the Kubernetes API server's service proxy)`,
		},
		{
			name:   "direct",
			access: &flinkAccessModel{Mode: types.StringValue(accessDirect), URLTemplate: types.StringValue(srv.URL + "/{namespace}/{name}")},
			want: `404 Not Found from something that is not Flink's REST API (body: "404 page not found"); check flink_access (url_template "` +
				srv.URL + `/{namespace}/{name}", proxy_url) and that Service fraud-rest exists in namespace payments`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			platform, err := newPlatform(&rest.Config{Host: srv.URL}, tt.access)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = platform.Flink("payments", "fraud").Job(ctx, platformTestJobID)
			if err == nil || flink.IsNotFound(err) || !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("Job through %s access: %v (IsNotFound %v)\nwant it to end with\n  %s", tt.name, err, flink.IsNotFound(err), tt.want)
			}
		})
	}
}
