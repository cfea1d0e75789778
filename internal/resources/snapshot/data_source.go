package snapshot

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/framework"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
)

var _ datasource.DataSourceWithConfigure = &snapshotsDataSource{}

// NewDataSource is the constructor the provider registers.
func NewDataSource() datasource.DataSource {
	return &snapshotsDataSource{DataSource: framework.NewDataSource("snapshots")}
}

type snapshotsDataSource struct {
	framework.DataSource
}

var origins = []string{records.OriginUser, records.OriginUpgrade, records.OriginSuspend, records.OriginDestroy, records.OriginImported, records.OriginCopied}

func (d *snapshotsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	element := map[string]schema.Attribute{
		"id":   schema.StringAttribute{Computed: true, MarkdownDescription: "`namespace/name`; usable as `restore.snapshot_id`."},
		"name": schema.StringAttribute{Computed: true}, "application": schema.StringAttribute{Computed: true},
		"path": schema.StringAttribute{Computed: true}, "origin": schema.StringAttribute{Computed: true},
		"format": schema.StringAttribute{Computed: true}, "size_bytes": schema.Int64Attribute{Computed: true},
		"created_at": schema.StringAttribute{Computed: true}, "job_id": schema.StringAttribute{Computed: true},
		"version_id": schema.StringAttribute{Computed: true}, "flink_version": schema.StringAttribute{Computed: true},
		"managed": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether a `flink_snapshot` manages it."},
		"parent_snapshot_id": schema.StringAttribute{Computed: true, MarkdownDescription: "The snapshot (`namespace/name`) the job " +
			"this one was taken of had started from: of the same application, or of another one it was forked from. Null when " +
			"that job started with empty state or from files no record names."},
		"source_snapshot_id": schema.StringAttribute{Computed: true, MarkdownDescription: "For a copy: the snapshot it was copied from."},
		"used_by": schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "What needs the " +
			"snapshot's files, in words: an application that runs from it (a JobManager restart restores it again), an " +
			"interrupted operation's rollback point, the state a suspended or cancelled application would resume from, another " +
			"record of the same files. While anything does, the provider never disposes it: a `flink_snapshot` destroyed with " +
			"`deletion_policy = \"delete\"` keeps the files and says why, and retention skips it."},
		"children": schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "The snapshots " +
			"(`namespace/name`) taken of jobs that started from this one, and its copies."},
		"metadata_version": schema.Int64Attribute{Computed: true,
			MarkdownDescription: "Version of Flink's metadata format the snapshot was written in; null when its `_metadata` was not read."},
		"operators": schema.ListNestedAttribute{Computed: true,
			MarkdownDescription: "What the snapshot holds per operator, as its `_metadata` says (read when the snapshot was " +
				"recorded, for snapshots in `snapshot_storage_url`); null when it was not read.",
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"id":  schema.StringAttribute{Computed: true, MarkdownDescription: "Flink's operator id (32 hex digits)."},
				"uid": schema.StringAttribute{Computed: true, MarkdownDescription: "The operator's uid, where the format carries it."},
				"name": schema.StringAttribute{Computed: true,
					MarkdownDescription: "The operator's name, where the format carries it."},
				"parallelism":      schema.Int64Attribute{Computed: true},
				"max_parallelism":  schema.Int64Attribute{Computed: true, MarkdownDescription: "The number of key groups its keyed state is in."},
				"state_size_bytes": schema.Int64Attribute{Computed: true},
				"has_state":        schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether it holds any state."},
			}},
		},
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

func (d *snapshotsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m snapshotsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	namespace := d.Namespace(m.Namespace.ValueString())
	snaps, err := d.Platform.Snapshots(ctx, namespace, records.SnapshotFilter{
		Application: m.Application.ValueString(), VersionLabel: m.Version.ValueString(), Origin: m.Origin.ValueString(),
	})
	if err != nil {
		resp.Diagnostics.AddError("Cannot list snapshots in "+namespace, err.Error())
		return
	}
	elementType := types.ObjectType{AttrTypes: snapshotAttrTypes}
	var values []attr.Value
	for _, s := range snaps {
		values = append(values, objectOf(s.SnapshotRecord, s.UsedBy, s.Children))
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
