package framework

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/resource"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
)

func TestBaseNamesTheTypeAndKeepsThePlatform(t *testing.T) {
	ctx := context.Background()
	r := NewResource("streaming_application")
	var meta resource.MetadataResponse
	r.Metadata(ctx, resource.MetadataRequest{ProviderTypeName: "flink"}, &meta)
	if meta.TypeName != "flink_streaming_application" {
		t.Errorf("type name %q", meta.TypeName)
	}
	platform := &lifecycle.Platform{DefaultNamespace: "flink-apps"}
	var configured resource.ConfigureResponse
	r.Configure(ctx, resource.ConfigureRequest{ProviderData: platform}, &configured)
	if r.Platform != platform || configured.Diagnostics.HasError() {
		t.Errorf("platform %p (diagnostics %v), want %p", r.Platform, configured.Diagnostics, platform)
	}

	d := NewDataSource("snapshots")
	var dmeta datasource.MetadataResponse
	d.Metadata(ctx, datasource.MetadataRequest{ProviderTypeName: "flink"}, &dmeta)
	var unconfigured datasource.ConfigureResponse
	d.Configure(ctx, datasource.ConfigureRequest{}, &unconfigured) // validation-only call: no provider data yet
	if dmeta.TypeName != "flink_snapshots" || d.Platform != nil || unconfigured.Diagnostics.HasError() {
		t.Errorf("data source %q, platform %v, diagnostics %v", dmeta.TypeName, d.Platform, unconfigured.Diagnostics)
	}
	d.Configure(ctx, datasource.ConfigureRequest{ProviderData: platform}, &unconfigured)
	if got := d.Namespace(""); got != "flink-apps" {
		t.Errorf("namespace of a data source without one: %q, want the provider's default", got)
	}
}

func TestConfigureRefusesOtherProviderData(t *testing.T) {
	r := NewResource("snapshot")
	var resp resource.ConfigureResponse
	r.Configure(context.Background(), resource.ConfigureRequest{ProviderData: "not a platform"}, &resp)
	if !resp.Diagnostics.HasError() || r.Platform != nil {
		t.Errorf("diagnostics %v, platform %v: want an error and no platform", resp.Diagnostics, r.Platform)
	}
}
