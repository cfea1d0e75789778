package provider

import (
	"context"
	"net/http"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	fwprovider "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/resource"
)

// TestSchemasAreValid runs the framework's own implementation checks on every schema, so a
// schema mistake fails here rather than in a user's plan.
func TestSchemasAreValid(t *testing.T) {
	ctx := context.Background()
	p := New("test")()

	var providerSchema fwprovider.SchemaResponse
	p.Schema(ctx, fwprovider.SchemaRequest{}, &providerSchema)
	if diags := providerSchema.Schema.ValidateImplementation(ctx); diags.HasError() {
		t.Errorf("provider schema: %v", diags)
	}

	resources := p.Resources(ctx)
	if len(resources) != 3 {
		t.Errorf("want 3 resources, got %d", len(resources))
	}
	for _, newResource := range resources {
		r := newResource()
		var meta resource.MetadataResponse
		r.Metadata(ctx, resource.MetadataRequest{ProviderTypeName: "flink"}, &meta)
		var resp resource.SchemaResponse
		r.Schema(ctx, resource.SchemaRequest{}, &resp)
		if resp.Diagnostics.HasError() {
			t.Errorf("%s: %v", meta.TypeName, resp.Diagnostics)
		}
		if diags := resp.Schema.ValidateImplementation(ctx); diags.HasError() {
			t.Errorf("%s schema: %v", meta.TypeName, diags)
		}
	}

	for _, newDataSource := range p.DataSources(ctx) {
		d := newDataSource()
		var meta datasource.MetadataResponse
		d.Metadata(ctx, datasource.MetadataRequest{ProviderTypeName: "flink"}, &meta)
		var resp datasource.SchemaResponse
		d.Schema(ctx, datasource.SchemaRequest{}, &resp)
		if diags := resp.Schema.ValidateImplementation(ctx); diags.HasError() {
			t.Errorf("data source %s schema: %v", meta.TypeName, diags)
		}
	}
}

func TestFlinkURLs(t *testing.T) {
	if got, want := expandURLTemplate(defaultURLTemplate, "streaming", "orders"), "http://orders-rest.streaming.svc:8081"; got != want {
		t.Errorf("direct URL = %q, want %q", got, want)
	}
	if got, want := serviceProxyURL("https://10.0.0.1:6443/", "streaming", "orders"),
		"https://10.0.0.1:6443/api/v1/namespaces/streaming/services/orders-rest:rest/proxy"; got != want {
		t.Errorf("service proxy URL = %q, want %q", got, want)
	}
}

func TestDirectTransportProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://env-proxy.example:3128")
	t.Setenv("NO_PROXY", "")
	req, _ := http.NewRequest(http.MethodGet, "http://orders-rest.streaming.svc:8081/overview", nil)

	fromEnv, err := directTransport("").Proxy(req)
	if err != nil || fromEnv == nil || fromEnv.Host != "env-proxy.example:3128" {
		t.Errorf("HTTP_PROXY not honoured: %v, %v", fromEnv, err)
	}
	explicit, err := directTransport("http://explicit.example:8080").Proxy(req)
	if err != nil || explicit == nil || explicit.Host != "explicit.example:8080" {
		t.Errorf("proxy_url not preferred over the environment: %v, %v", explicit, err)
	}
}
