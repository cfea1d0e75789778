package snapshot

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/common"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
)

var _ datasource.DataSourceWithConfigure = &snapshotsDataSource{}

// NewDataSource is the constructor the provider registers.
func NewDataSource() datasource.DataSource { return &snapshotsDataSource{} }

type snapshotsDataSource struct {
	platform *lifecycle.Platform
}

type snapshotsModel struct {
	Namespace   types.String `tfsdk:"namespace"`
	Application types.String `tfsdk:"application"`
	Version     types.String `tfsdk:"version"`
	Origin      types.String `tfsdk:"origin"`
	Snapshots   types.List   `tfsdk:"snapshots"`
	Latest      types.Object `tfsdk:"latest"`
}

var snapshotAttrTypes = map[string]attr.Type{
	"id": types.StringType, "name": types.StringType, "application": types.StringType, "path": types.StringType,
	"origin": types.StringType, "format": types.StringType, "size_bytes": types.Int64Type, "created_at": types.StringType,
	"job_id": types.StringType, "version_id": types.StringType, "flink_version": types.StringType,
	"managed": types.BoolType,
}

var origins = []string{records.OriginUser, records.OriginUpgrade, records.OriginSuspend, records.OriginDestroy, records.OriginImported, records.OriginCopied}

func (d *snapshotsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_snapshots"
}

func (d *snapshotsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	element := map[string]schema.Attribute{
		"id":   schema.StringAttribute{Computed: true, MarkdownDescription: "`namespace/name`; usable as `restore.snapshot_id`."},
		"name": schema.StringAttribute{Computed: true}, "application": schema.StringAttribute{Computed: true},
		"path": schema.StringAttribute{Computed: true}, "origin": schema.StringAttribute{Computed: true},
		"format": schema.StringAttribute{Computed: true}, "size_bytes": schema.Int64Attribute{Computed: true},
		"created_at": schema.StringAttribute{Computed: true}, "job_id": schema.StringAttribute{Computed: true},
		"version_id": schema.StringAttribute{Computed: true}, "flink_version": schema.StringAttribute{Computed: true},
		"managed": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether a `flink_snapshot` manages it."},
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists the recorded snapshots of a namespace, newest first, filtered by application, version " +
			"and origin; `latest` is the newest match. Disposed snapshots are not listed.",
		Attributes: map[string]schema.Attribute{
			"namespace": schema.StringAttribute{Optional: true, Computed: true,
				MarkdownDescription: "Namespace; defaults to the provider's `default_namespace`."},
			"application": schema.StringAttribute{Optional: true, MarkdownDescription: "Only this application's snapshots.",
				Validators: []validator.String{validate.ApplicationName()}},
			"version": schema.StringAttribute{Optional: true, MarkdownDescription: "Only snapshots of jobs running this version (label, e.g. `v2`)."},
			"origin": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Only snapshots of this origin: `user`, `upgrade`, `suspend`, `destroy`, `imported`, `copied`.",
				Validators:          []validator.String{stringvalidator.OneOf(origins...)}},
			"snapshots": schema.ListNestedAttribute{Computed: true, MarkdownDescription: "Matching snapshots, newest first.",
				NestedObject: schema.NestedAttributeObject{Attributes: element}},
			"latest": schema.SingleNestedAttribute{Computed: true, MarkdownDescription: "The newest match, or null.",
				Attributes: element},
		},
	}
}

func (d *snapshotsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.platform = common.PlatformFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *snapshotsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m snapshotsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	namespace := m.Namespace.ValueString()
	if namespace == "" {
		namespace = d.platform.DefaultNamespace
	}
	snaps, err := d.platform.Records().ListSnapshotRecords(ctx, namespace, records.SnapshotFilter{
		Application: m.Application.ValueString(), VersionLabel: m.Version.ValueString(), Origin: m.Origin.ValueString(),
	})
	if err != nil {
		resp.Diagnostics.AddError("Cannot list snapshots in "+namespace, err.Error())
		return
	}
	elementType := types.ObjectType{AttrTypes: snapshotAttrTypes}
	var values []attr.Value
	for _, s := range snaps {
		if s.State == records.SnapshotDisposed {
			continue
		}
		values = append(values, objectOf(s))
	}
	m.Namespace = types.StringValue(namespace)
	list, diags := types.ListValue(elementType, values)
	resp.Diagnostics.Append(diags...)
	m.Snapshots = list
	m.Latest = types.ObjectNull(snapshotAttrTypes)
	if len(values) > 0 {
		m.Latest = values[0].(types.Object)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func objectOf(s records.SnapshotRecord) types.Object {
	versionID := ""
	if s.VersionLabel != "" {
		versionID = s.Namespace + "/" + s.Application + "/" + s.VersionLabel
	}
	return types.ObjectValueMust(snapshotAttrTypes, map[string]attr.Value{
		"id": types.StringValue(s.Namespace + "/" + s.Name), "name": types.StringValue(s.Name),
		"application": types.StringValue(s.Application), "path": types.StringValue(s.Path),
		"origin": types.StringValue(s.Origin), "format": types.StringValue(s.Format),
		"size_bytes": types.Int64Value(s.SizeBytes), "created_at": types.StringValue(s.CreatedAt.UTC().Format(time.RFC3339)),
		"job_id": types.StringValue(s.JobID), "version_id": types.StringValue(versionID),
		"flink_version": types.StringValue(s.FlinkVersion), "managed": types.BoolValue(s.ManagedBy != ""),
	})
}
