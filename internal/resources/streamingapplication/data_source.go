package streamingapplication

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/resources/framework"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
)

var _ datasource.DataSourceWithConfigure = &applicationDataSource{}

// NewDataSource is the constructor the provider registers.
func NewDataSource() datasource.DataSource {
	return &applicationDataSource{DataSource: framework.NewDataSource("streaming_application")}
}

type applicationDataSource struct {
	framework.DataSource
}

func (d *applicationDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(description string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: description}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads a Flink application's record and its job's live status, e.g. to wire another " +
			"configuration's alerts or dashboards to it.",
		Attributes: map[string]schema.Attribute{
			"name": schema.StringAttribute{Required: true, MarkdownDescription: "Application name.",
				Validators: []validator.String{validate.ApplicationName()}},
			"namespace": schema.StringAttribute{Optional: true, Computed: true,
				MarkdownDescription: "Namespace; defaults to the provider's `default_namespace`."},
			"id":                  computed("`namespace/name`."),
			"state":               computed("`running`, `suspended`, `cancelled` (also a job that ended outside Terraform), `stuck`, `recovering` (an interrupted apply) or `finished` (a bounded job that finished)."),
			"job_id":              computed("Flink job id of the current deployment."),
			"status":              computed("Flink's job state, `STOPPED` or `UNREACHABLE`."),
			"deployed_version_id": computed("`id` of the version the cluster runs."),
			"rest_url":            computed("URL of the Flink REST API as the provider reaches it."),
			"labels":              schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Labels."},
			"annotations":         schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Annotations."},
			"high_availability": schema.BoolAttribute{Computed: true,
				MarkdownDescription: "Whether the cluster runs (or resumes) with Kubernetes high availability."},
		},
	}
}

func (d *applicationDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m applicationDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	namespace, name := d.Namespace(m.Namespace.ValueString()), m.Name.ValueString()
	observed, err := d.Platform.Observe(ctx, namespace, name)
	if err != nil {
		resp.Diagnostics.AddError("Cannot read application "+namespace+"/"+name, err.Error())
		return
	}
	if observed == nil {
		resp.Diagnostics.AddError("Application not found", fmt.Sprintf("no Flink application %q in namespace %q", name, namespace))
		return
	}
	m.ID = types.StringValue(namespace + "/" + name)
	m.Namespace = types.StringValue(namespace)
	m.State = types.StringValue(observed.State)
	m.JobID = types.StringValue(observed.JobID)
	m.Status = types.StringValue(observed.Status)
	m.DeployedVersionID = types.StringValue(observed.Version.ID())
	m.RestURL = types.StringValue(d.Platform.RestURL(namespace, name))
	m.Labels = mapOrNull(observed.Labels, types.MapNull(types.StringType))
	m.Annotations = mapOrNull(observed.Annotations, types.MapNull(types.StringType))
	m.HighAvailability = types.BoolValue(observed.HighAvailability)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
