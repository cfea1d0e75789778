package applicationversion

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/framework"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
)

var _ datasource.DataSourceWithConfigure = &versionDataSource{}

// NewDataSource is the constructor the provider registers.
func NewDataSource() datasource.DataSource {
	return &versionDataSource{DataSource: framework.NewDataSource("application_version")}
}

type versionDataSource struct {
	framework.DataSource
}

func (d *versionDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(description string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: description}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads a recorded application version, e.g. one created by another Terraform configuration.",
		Attributes: map[string]schema.Attribute{
			"application": schema.StringAttribute{Required: true, MarkdownDescription: "Application name.",
				Validators: []validator.String{validate.ApplicationName()}},
			"namespace": schema.StringAttribute{Optional: true, Computed: true,
				MarkdownDescription: "Namespace; defaults to the provider's `default_namespace`."},
			"version": schema.StringAttribute{Required: true, MarkdownDescription: "Version name.",
				Validators: []validator.String{validate.DNSLabel(63)}},
			"id":                  computed("`namespace/application/version`."),
			"description":         computed("What changed in this version."),
			"parent_version_id":   computed("Lineage: the version this one derives from."),
			"image":               computed("Container image."),
			"image_pull_policy":   computed("Image pull policy."),
			"jar_uri":             computed("Job jar URI."),
			"entry_class":         computed("Main class."),
			"flink_version":       computed("Flink release, major.minor."),
			"log_configuration":   computed("log4j2 properties, if replaced."),
			"args":                schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Job arguments."},
			"parallelism":         schema.Int64Attribute{Computed: true, MarkdownDescription: "Default parallelism."},
			"flink_configuration": schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Flink configuration."},
			"env":                 schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Environment variables."},
			"env_from_secrets": schema.MapNestedAttribute{Computed: true, MarkdownDescription: "Environment variables from Secret keys.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"secret": schema.StringAttribute{Computed: true}, "key": schema.StringAttribute{Computed: true},
				}}},
			"flink_configuration_secrets": schema.ListAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Secrets merged into the Flink configuration."},
			"bounded": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the job ends by itself."},
			"metrics": schema.SingleNestedAttribute{Computed: true, MarkdownDescription: "The Prometheus endpoint, null when off.",
				Attributes: map[string]schema.Attribute{
					"port": schema.Int64Attribute{Computed: true}, "scrape_annotations": schema.BoolAttribute{Computed: true},
				}},
			"stateful_operator_uids": schema.SetAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "The declared uids of the operators that keep state."},
			"job_manager": schema.SingleNestedAttribute{Computed: true, MarkdownDescription: "JobManager resources.",
				Attributes: map[string]schema.Attribute{
					"cpu": schema.Float64Attribute{Computed: true}, "memory": schema.StringAttribute{Computed: true},
					"replicas": schema.Int64Attribute{Computed: true},
				}},
			"task_manager": schema.SingleNestedAttribute{Computed: true, MarkdownDescription: "TaskManager resources.",
				Attributes: map[string]schema.Attribute{
					"cpu": schema.Float64Attribute{Computed: true}, "memory": schema.StringAttribute{Computed: true},
					"replicas": schema.Int64Attribute{Computed: true}, "task_slots": schema.Int64Attribute{Computed: true},
				}},
		},
	}
}

func (d *versionDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg versionModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	namespace := d.Namespace(cfg.Namespace.ValueString())
	v, err := d.Platform.Records().GetVersionRecord(ctx, namespace, cfg.Application.ValueString(), cfg.Version.ValueString())
	if errors.Is(err, records.ErrNotFound) {
		addVersionNotFound(&resp.Diagnostics, namespace, cfg.Application.ValueString(), cfg.Version.ValueString())
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read application version", err.Error())
		return
	}
	m, diags := fromSpec(v)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
