// Package framework is this provider's layer over terraform-plugin-framework: what every
// resource and data source shares (the Metadata/Configure base, the wording of lifecycle
// errors as diagnostics, value helpers).
package framework

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
)

// configured is what Resource and DataSource share: the type name and the platform.
type configured struct {
	typeSuffix string
	// Platform is nil until the provider is configured (validation-only calls).
	Platform *lifecycle.Platform
}

func (c *configured) typeName(providerTypeName string) string {
	return providerTypeName + "_" + c.typeSuffix
}

// configure checks the provider data handed to Configure. It is nil before the provider is
// configured, which is not an error.
func (c *configured) configure(providerData any, diags *diag.Diagnostics) {
	if providerData == nil {
		return
	}
	platform, ok := providerData.(*lifecycle.Platform)
	if !ok {
		diags.AddError("Unexpected provider data",
			fmt.Sprintf("expected *lifecycle.Platform, got %T. This is a bug in the provider; please report it.", providerData))
		return
	}
	c.Platform = platform
}

// Resource is embedded in every resource: its Metadata and Configure.
type Resource struct{ configured }

// NewResource is the base of the resource <provider>_<typeSuffix>.
func NewResource(typeSuffix string) Resource { return Resource{configured{typeSuffix: typeSuffix}} }

func (r *Resource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = r.typeName(req.ProviderTypeName)
}

func (r *Resource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.configure(req.ProviderData, &resp.Diagnostics)
}

// DataSource is embedded in every data source: its Metadata and Configure.
type DataSource struct{ configured }

// NewDataSource is the base of the data source <provider>_<typeSuffix>.
func NewDataSource(typeSuffix string) DataSource {
	return DataSource{configured{typeSuffix: typeSuffix}}
}

func (d *DataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = d.typeName(req.ProviderTypeName)
}

func (d *DataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.configure(req.ProviderData, &resp.Diagnostics)
}

// Namespace is the namespace a data source reads: the configured one, else the provider's default.
func (d *DataSource) Namespace(configured string) string {
	if configured == "" {
		return d.Platform.DefaultNamespace
	}
	return configured
}
