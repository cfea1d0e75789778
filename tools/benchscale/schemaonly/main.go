// Command schemaonly is the provider with its code taken out, for make bench-scale: the same
// provider and resource schemas (attributes, defaults, validators and plan modifiers), served
// by the same framework with the same plugin settings (provider.Serve), but no provider
// configuration, no Read beyond returning the prior state and no ModifyPlan. A plan through it
// costs what terraform-plugin-framework itself spends on these schemas: the part of the
// provider's CPU time its own code cannot remove.
package main

import (
	"context"
	"errors"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	fwprovider "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/resource"

	"github.com/flinkplatform/terraform-provider-flink/internal/provider"
)

func main() {
	newReal := provider.New("schemaonly")
	if err := provider.Serve(context.Background(), func() fwprovider.Provider { return schemaOnly{newReal()} }, false); err != nil {
		log.Fatal(err)
	}
}

// schemaOnly has the real provider's name, schema and resource types, nothing else.
type schemaOnly struct{ real fwprovider.Provider }

func (p schemaOnly) Metadata(ctx context.Context, req fwprovider.MetadataRequest, resp *fwprovider.MetadataResponse) {
	p.real.Metadata(ctx, req, resp)
}

func (p schemaOnly) Schema(ctx context.Context, req fwprovider.SchemaRequest, resp *fwprovider.SchemaResponse) {
	p.real.Schema(ctx, req, resp)
}

func (schemaOnly) Configure(context.Context, fwprovider.ConfigureRequest, *fwprovider.ConfigureResponse) {
}

func (p schemaOnly) Resources(ctx context.Context) []func() resource.Resource {
	var resources []func() resource.Resource
	for _, newResource := range p.real.Resources(ctx) {
		resources = append(resources, func() resource.Resource { return schemaOnlyResource{newResource()} })
	}
	return resources
}

func (schemaOnly) DataSources(context.Context) []func() datasource.DataSource { return nil }

// schemaOnlyResource plans and reads as the framework does with no resource code: the prior
// state reads back unchanged; it never applies anything.
type schemaOnlyResource struct{ real resource.Resource }

var errSchemaOnly = errors.New("the schema-only provider of make bench-scale plans and reads, it never applies")

func (r schemaOnlyResource) Metadata(ctx context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	r.real.Metadata(ctx, req, resp)
}

func (r schemaOnlyResource) Schema(ctx context.Context, req resource.SchemaRequest, resp *resource.SchemaResponse) {
	r.real.Schema(ctx, req, resp)
}

func (schemaOnlyResource) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

func (schemaOnlyResource) Create(_ context.Context, _ resource.CreateRequest, resp *resource.CreateResponse) {
	resp.Diagnostics.AddError("Not applied", errSchemaOnly.Error())
}

func (schemaOnlyResource) Update(_ context.Context, _ resource.UpdateRequest, resp *resource.UpdateResponse) {
	resp.Diagnostics.AddError("Not applied", errSchemaOnly.Error())
}

func (schemaOnlyResource) Delete(_ context.Context, _ resource.DeleteRequest, resp *resource.DeleteResponse) {
	resp.Diagnostics.AddError("Not applied", errSchemaOnly.Error())
}
