// Package snapshot implements flink_snapshot and the flink_snapshots data source: savepoints
// as managed objects.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/common"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
)

var (
	_ resource.ResourceWithConfigure        = &snapshotResource{}
	_ resource.ResourceWithImportState      = &snapshotResource{}
	_ resource.ResourceWithConfigValidators = &snapshotResource{}
	_ resource.ResourceWithModifyPlan       = &snapshotResource{}
)

// NewResource is the constructor the provider registers.
func NewResource() resource.Resource { return &snapshotResource{} }

type snapshotResource struct {
	platform *lifecycle.Platform
}

type snapshotModel struct {
	ID               types.String   `tfsdk:"id"`
	Application      types.String   `tfsdk:"application"`
	Namespace        types.String   `tfsdk:"namespace"`
	Path             types.String   `tfsdk:"path"`
	SourceSnapshotID types.String   `tfsdk:"source_snapshot_id"`
	DestinationURL   types.String   `tfsdk:"destination_url"`
	Format           types.String   `tfsdk:"format"`
	DeletionPolicy   types.String   `tfsdk:"deletion_policy"`
	Triggers         types.Map      `tfsdk:"triggers"`
	Name             types.String   `tfsdk:"name"`
	SizeBytes        types.Int64    `tfsdk:"size_bytes"`
	CreatedAt        types.String   `tfsdk:"created_at"`
	JobID            types.String   `tfsdk:"job_id"`
	VersionID        types.String   `tfsdk:"version_id"`
	FlinkVersion     types.String   `tfsdk:"flink_version"`
	Origin           types.String   `tfsdk:"origin"`
	Timeouts         timeouts.Value `tfsdk:"timeouts"`
}

const (
	policyRetain = "retain"
	policyDelete = "delete"
)

func (r *snapshotResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_snapshot"
}

func (r *snapshotResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	computed := func(description string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: description, PlanModifiers: keep}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A savepoint as a managed object. Without `path` or `source_snapshot_id`, creating it triggers a " +
			"savepoint of the running application (the job keeps running). With `path` it adopts an existing savepoint or " +
			"retained checkpoint (its `_metadata` must exist). With `source_snapshot_id` and `destination_url` it copies a " +
			"snapshot to another bucket (disaster recovery, promotion to another cluster). Destroying it keeps or disposes the " +
			"files per `deletion_policy`. Change `triggers` to take a new one.\n\n" +
			"One path is one set of files: adopting a path the provider already records (for example the savepoint a suspend " +
			"took) takes that record over instead of writing a second one, and so does `terraform import` of an automatic " +
			"snapshot; from then on retention never disposes it. A savepoint is written to the application's " +
			"`savepoint_directory` when it has one. If the apply ends while Flink still writes the savepoint, the next " +
			"create (or the application's next apply) records that same savepoint instead of leaving its files unrecorded.",
		Attributes: map[string]schema.Attribute{
			"id": computed("`namespace/name` of the snapshot record; use it as `restore.snapshot_id` of an application."),
			"application": schema.StringAttribute{Required: true, PlanModifiers: replace,
				MarkdownDescription: "Name of the application the snapshot belongs to.",
				Validators:          []validator.String{validate.ApplicationName()}},
			"namespace": schema.StringAttribute{Optional: true, Computed: true,
				MarkdownDescription: "Namespace; defaults to the provider's `default_namespace`.",
				Validators:          []validator.String{validate.DNSLabel(63)},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplaceIfConfigured(), stringplanmodifier.UseStateForUnknown()}},
			"path": schema.StringAttribute{Optional: true, Computed: true,
				MarkdownDescription: "Set to adopt an existing savepoint or retained checkpoint: its directory as an absolute URI " +
					"inside the provider's `snapshot_storage_url`, e.g. `s3://bucket/savepoints/orders/savepoint-1a2b3c-0123456789ab` " +
					"(a path without a scheme is rejected). Otherwise the path of the savepoint taken or copied.",
				Validators:    []validator.String{validate.SavepointDirectory()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplaceIfConfigured(), stringplanmodifier.UseStateForUnknown()}},
			"source_snapshot_id": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				MarkdownDescription: "Copy this snapshot (`namespace/name`) to `destination_url`."},
			"destination_url": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				MarkdownDescription: "Bucket URL to copy into (gocloud.dev/blob: `s3://`, `gs://`, `azblob://`, `file://`).",
				Validators:          []validator.String{validate.BlobURL()}},
			"format": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("canonical"),
				PlanModifiers:       replace,
				MarkdownDescription: "`canonical` (default), `native`, or `checkpoint` for an adopted retained checkpoint.",
				Validators:          []validator.String{stringvalidator.OneOf("canonical", "native", records.FormatCheckpoint)}},
			"deletion_policy": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(policyRetain),
				MarkdownDescription: "On destroy: `retain` (default) keeps the files and the record; `delete` disposes the files, then the " +
					"record. With `delete`, files an application still needs are kept anyway, with a warning naming it: the ones it " +
					"runs from (a JobManager restart restores them again), or the ones a suspended or cancelled application would " +
					"resume from. The record then stays, managed by nobody. Files another record also names are kept too.",
				Validators: []validator.String{stringvalidator.OneOf(policyRetain, policyDelete)}},
			"triggers": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				PlanModifiers:       []planmodifier.Map{mapplanmodifier.RequiresReplace()},
				MarkdownDescription: "Arbitrary values; changing any takes a new snapshot (e.g. a release tag or a date)."},
			"name": computed("Name of the snapshot record (a ConfigMap in the namespace)."),
			"size_bytes": schema.Int64Attribute{Computed: true, MarkdownDescription: "Total size of the snapshot's files.",
				PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}},
			"created_at":    computed("When the snapshot was recorded (RFC 3339)."),
			"job_id":        computed("Flink job the snapshot was taken of."),
			"version_id":    computed("Application version that job ran."),
			"flink_version": computed("Flink release of that version."),
			"origin":        computed("`user` (taken), `imported` (adopted) or `copied`."),
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Delete: true}),
		},
	}
}

func (r *snapshotResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.Conflicting(path.MatchRoot("path"), path.MatchRoot("source_snapshot_id")),
		resourcevalidator.RequiredTogether(path.MatchRoot("source_snapshot_id"), path.MatchRoot("destination_url")),
	}
}

func (r *snapshotResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.platform = common.PlatformFrom(req.ProviderData, &resp.Diagnostics)
}

// ModifyPlan fills the namespace from the provider default.
func (r *snapshotResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.platform == nil {
		return
	}
	var namespace types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("namespace"), &namespace)...)
	if namespace.IsUnknown() {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("namespace"), r.platform.DefaultNamespace)...)
	}
}

func (r *snapshotResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan snapshotModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, 15*time.Minute)
	resp.Diagnostics.Append(diags...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	namespace, application := plan.Namespace.ValueString(), plan.Application.ValueString()
	progress := func(msg string) { tflog.Info(ctx, msg) }
	var snap records.SnapshotRecord
	var err error
	switch {
	case !plan.SourceSnapshotID.IsNull():
		sourceNamespace, sourceName, parseErr := lifecycle.ParseApplicationID(plan.SourceSnapshotID.ValueString())
		if parseErr != nil || sourceNamespace != namespace {
			resp.Diagnostics.AddAttributeError(path.Root("source_snapshot_id"), "Invalid snapshot id",
				fmt.Sprintf("%q is not the id of a snapshot in namespace %s", plan.SourceSnapshotID.ValueString(), namespace))
			return
		}
		snap, err = r.platform.CopySnapshot(ctx, namespace, sourceName, plan.DestinationURL.ValueString(), progress)
	case !plan.Path.IsNull() && !plan.Path.IsUnknown():
		snap, err = r.platform.AdoptSnapshot(ctx, namespace, application, plan.Path.ValueString(), plan.Format.ValueString(), progress)
	default:
		snap, err = r.platform.TakeSnapshot(ctx, namespace, application,
			lifecycle.SavepointOptions{Format: plan.Format.ValueString(), Timeout: timeout}, progress)
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot create snapshot of "+namespace+"/"+application, err.Error())
		return
	}
	fill(&plan, snap)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *snapshotResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state snapshotModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	snap, err := r.platform.Records().GetSnapshotRecord(ctx, state.Namespace.ValueString(), state.Name.ValueString())
	if errors.Is(err, records.ErrNotFound) || (err == nil && snap.State == records.SnapshotDisposed) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read snapshot "+state.ID.ValueString(), err.Error())
		return
	}
	fill(&state, snap)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update changes only deletion_policy and timeouts; everything else replaces.
func (r *snapshotResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan snapshotModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *snapshotResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state snapshotModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, 10*time.Minute)
	resp.Diagnostics.Append(diags...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dispose := state.DeletionPolicy.ValueString() == policyDelete
	warning, err := r.platform.ReleaseSnapshot(ctx, state.Namespace.ValueString(), state.Name.ValueString(), dispose,
		func(msg string) { tflog.Info(ctx, msg) })
	if warning != "" {
		resp.Diagnostics.AddWarning("Snapshot files kept: "+state.ID.ValueString(), warning)
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot delete snapshot "+state.ID.ValueString(), err.Error()+
			"\n\nThe snapshot record is kept, so nothing is forgotten; fix the cause and destroy again.")
	}
}

func (r *snapshotResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	namespace, name, err := lifecycle.ParseApplicationID(req.ID)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import id", "expected namespace/name of a snapshot record: "+err.Error())
		return
	}
	// From now on the flink_snapshot owns it: retention must no longer dispose it.
	snap, err := r.platform.ManageSnapshot(ctx, namespace, name)
	if err != nil {
		resp.Diagnostics.AddError("Cannot import snapshot "+req.ID, err.Error())
		return
	}
	state := snapshotModel{
		Namespace: types.StringValue(namespace), Name: types.StringValue(name),
		Format: types.StringValue(snap.Format), DeletionPolicy: types.StringValue(policyRetain),
		Triggers: types.MapNull(types.StringType), SourceSnapshotID: types.StringNull(), DestinationURL: types.StringNull(),
		Timeouts: timeouts.Value{Object: types.ObjectNull(map[string]attr.Type{"create": types.StringType, "delete": types.StringType})},
	}
	fill(&state, snap)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// fill copies a snapshot record into the model.
func fill(m *snapshotModel, s records.SnapshotRecord) {
	m.ID = types.StringValue(s.Namespace + "/" + s.Name)
	m.Name = types.StringValue(s.Name)
	m.Namespace = types.StringValue(s.Namespace)
	m.Application = types.StringValue(s.Application)
	m.Path = types.StringValue(s.Path)
	m.SizeBytes = types.Int64Value(s.SizeBytes)
	m.CreatedAt = types.StringValue(s.CreatedAt.UTC().Format(time.RFC3339))
	m.JobID = types.StringValue(s.JobID)
	m.VersionID = types.StringValue("")
	if s.VersionLabel != "" {
		m.VersionID = types.StringValue(s.Namespace + "/" + s.Application + "/" + s.VersionLabel)
	}
	m.FlinkVersion = types.StringValue(s.FlinkVersion)
	m.Origin = types.StringValue(s.Origin)
}
