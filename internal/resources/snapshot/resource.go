// Package snapshot implements flink_snapshot and the flink_snapshots data source: savepoints
// as managed objects.
package snapshot

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/framework"
)

var (
	_ resource.ResourceWithConfigure        = &snapshotResource{}
	_ resource.ResourceWithImportState      = &snapshotResource{}
	_ resource.ResourceWithConfigValidators = &snapshotResource{}
	_ resource.ResourceWithModifyPlan       = &snapshotResource{}
)

// NewResource is the constructor the provider registers.
func NewResource() resource.Resource {
	return &snapshotResource{Resource: framework.NewResource("snapshot")}
}

type snapshotResource struct {
	framework.Resource
}

func (r *snapshotResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = resourceSchema(ctx)
}

func (r *snapshotResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.Conflicting(path.MatchRoot("path"), path.MatchRoot("source_snapshot_id")),
		resourcevalidator.RequiredTogether(path.MatchRoot("source_snapshot_id"), path.MatchRoot("destination_url")),
	}
}

// ModifyPlan fills the namespace from the provider default.
func (r *snapshotResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.Platform == nil {
		return
	}
	var namespace types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("namespace"), &namespace)...)
	if namespace.IsUnknown() {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("namespace"), r.Platform.DefaultNamespace)...)
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
			addInvalidSourceID(&resp.Diagnostics, plan.SourceSnapshotID.ValueString(), namespace)
			return
		}
		snap, err = r.Platform.CopySnapshot(ctx, namespace, sourceName, plan.DestinationURL.ValueString(), progress)
	case !plan.Path.IsNull() && !plan.Path.IsUnknown():
		snap, err = r.Platform.AdoptSnapshot(ctx, namespace, application, plan.Path.ValueString(), plan.Format.ValueString(), progress)
	default:
		snap, err = r.Platform.TakeSnapshot(ctx, namespace, application,
			lifecycle.SavepointOptions{Format: plan.Format.ValueString(), Timeout: timeout}, progress)
	}
	if err != nil {
		addLifecycleError(&resp.Diagnostics, "Cannot create snapshot of "+namespace+"/"+application, err)
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
	snap, err := r.Platform.Snapshot(ctx, state.Namespace.ValueString(), state.Name.ValueString())
	if errors.Is(err, records.ErrNotFound) {
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
	warning, err := r.Platform.ReleaseSnapshot(ctx, state.Namespace.ValueString(), state.Name.ValueString(), dispose,
		func(msg string) { tflog.Info(ctx, msg) })
	if warning != "" {
		resp.Diagnostics.AddWarning("Snapshot files kept: "+state.ID.ValueString(), warning)
	}
	if err != nil {
		addDeleteError(&resp.Diagnostics, state.ID.ValueString(), err)
	}
}

func (r *snapshotResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	namespace, name, err := lifecycle.ParseApplicationID(req.ID)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import id", "expected namespace/name of a snapshot record: "+err.Error())
		return
	}
	// From now on the flink_snapshot owns it: retention must no longer dispose it.
	snap, err := r.Platform.ManageSnapshot(ctx, namespace, name)
	if err != nil {
		addLifecycleError(&resp.Diagnostics, "Cannot import snapshot "+req.ID, err)
		return
	}
	state := importedModel(snap)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}
