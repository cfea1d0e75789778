// Package streamingapplication implements flink_streaming_application and its data source.
// It translates between Terraform and internal/lifecycle, which does all sequencing.
package streamingapplication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/applicationversion"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/framework"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

var (
	_ resource.ResourceWithConfigure      = &applicationResource{}
	_ resource.ResourceWithImportState    = &applicationResource{}
	_ resource.ResourceWithModifyPlan     = &applicationResource{}
	_ resource.ResourceWithValidateConfig = &applicationResource{}
)

// NewResource is the constructor the provider registers.
func NewResource() resource.Resource {
	return &applicationResource{Resource: framework.NewResource("streaming_application")}
}

type applicationResource struct {
	framework.Resource
}

func (r *applicationResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = resourceSchema(ctx)
}

// ValidateConfig checks that restore.strategy and restore.snapshot_id agree.
func (r *applicationResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var restore types.Object
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("restore"), &restore)...)
	if resp.Diagnostics.HasError() || restore.IsNull() || restore.IsUnknown() {
		return
	}
	var m restoreModel
	resp.Diagnostics.Append(restore.As(ctx, &m, basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true})...)
	if m.Strategy.IsUnknown() || m.SnapshotID.IsUnknown() {
		return
	}
	if hasSnapshot := !m.SnapshotID.IsNull(); hasSnapshot != (m.Strategy.ValueString() == lifecycle.RestoreSnapshot) {
		addRestoreMismatch(&resp.Diagnostics, hasSnapshot)
	}
}

// ModifyPlan classifies the change into planned_operation and says in words, as a plan
// warning, what apply will do to the running job. It also rejects a version_id of another
// application, and marks what the operation will change as unknown.
func (r *applicationResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.Platform == nil { // destroy, or provider not configured yet
		return
	}
	if !req.State.Raw.IsNull() && req.State.Raw.Equal(req.Plan.Raw) {
		return // nothing changed
	}
	var plan applicationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if plan.Namespace.IsUnknown() {
		plan.Namespace = types.StringValue(r.Platform.DefaultNamespace)
	}
	if plan.Name.IsUnknown() || plan.VersionID.IsUnknown() || plan.State.IsUnknown() {
		plan.PlannedOperation, plan.JobID, plan.Status = types.StringUnknown(), types.StringUnknown(), types.StringUnknown()
		plan.RestoreCheck = types.ObjectUnknown(restoreCheckAttrTypes)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	namespace, name := plan.Namespace.ValueString(), plan.Name.ValueString()
	plan.ID = types.StringValue(namespace + "/" + name)
	plan.RestURL = types.StringValue(r.Platform.RestURL(namespace, name))
	plan.DeployedVersionID = plan.VersionID

	desired, versionKnown, diags := r.desired(ctx, plan)
	resp.Diagnostics.Append(diags...)
	prior, diags := priorOf(ctx, req.State)
	resp.Diagnostics.Append(diags...)
	desired.Secrets, desired.SecretsChanged, _, diags = secretsOf(ctx, req.Config, plan, prior)
	resp.Diagnostics.Append(diags...)
	desired.TriggersChanged = triggersChanged(plan, prior)
	if resp.Diagnostics.HasError() {
		return
	}
	if !versionKnown && req.State.Raw.IsNull() {
		tflog.Debug(ctx, "version record not created yet; its spec is compared at apply", map[string]any{"version_id": plan.VersionID.ValueString()})
	}
	change, err := r.Platform.PlanChange(ctx, desired)
	if err != nil {
		addLifecycleError(&resp.Diagnostics, "Cannot plan application "+namespace+"/"+name, err)
		return
	}
	plan.PlannedOperation = types.StringValue(string(change.Operation))
	if change.Operation != lifecycle.OpNone {
		plan.JobID, plan.Status = types.StringUnknown(), types.StringUnknown()
		resp.Diagnostics.AddWarning(fmt.Sprintf("%s: %s", name, change.Operation), change.Summary)
	}
	if lifecycle.RunsWithoutHighAvailability(desired) {
		addNoHAWarning(&resp.Diagnostics, name)
	}
	if change.RecordsSnapshot {
		plan.LastSnapshotID, plan.LastSnapshotPath = types.StringUnknown(), types.StringUnknown()
	}
	switch {
	case change.RestoreCheck != nil && desired.VersionPending:
		plan.RestoreCheck = types.ObjectUnknown(restoreCheckAttrTypes) // checked at apply, before anything stops
	case change.Operation != lifecycle.OpNone:
		plan.RestoreCheck = restoreCheckValue(change.RestoreCheck)
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// desired turns the plan into lifecycle terms. The version must belong to this application;
// its record may not exist yet at plan time (versionKnown false).
func (r *applicationResource) desired(ctx context.Context, m applicationModel) (lifecycle.Desired, bool, diag.Diagnostics) {
	namespace, name := m.Namespace.ValueString(), m.Name.ValueString()
	d, diags := m.lifecycleOptions(ctx)
	d.Namespace, d.Name, d.State = namespace, name, m.State.ValueString()
	diags.Append(m.Labels.ElementsAs(ctx, &d.Labels, false)...)
	diags.Append(m.Annotations.ElementsAs(ctx, &d.Annotations, false)...)
	if d.Restore.SnapshotName != "" {
		snapNamespace, snapName, err := lifecycle.ParseApplicationID(d.Restore.SnapshotName)
		if err != nil || snapNamespace != namespace {
			addInvalidSnapshotID(&diags, d.Restore.SnapshotName, namespace)
			return d, false, diags
		}
		d.Restore.SnapshotName = snapName
	}

	vNamespace, vApplication, label, err := applicationversion.ParseID(m.VersionID.ValueString())
	if err != nil {
		diags.AddAttributeError(path.Root("version_id"), "Invalid version id", err.Error())
		return d, false, diags
	}
	if vNamespace != namespace || vApplication != name {
		addVersionOfAnotherApplication(&diags, m.VersionID.ValueString(), vNamespace, vApplication, namespace, name)
		return d, false, diags
	}
	v, err := r.Platform.Records().GetVersionRecord(ctx, namespace, name, label)
	if errors.Is(err, records.ErrNotFound) {
		d.Version, d.VersionPending = spec.Version{Namespace: namespace, Application: name, Label: label}, true
		return d, false, diags
	}
	if err != nil {
		diags.AddError("Cannot read version "+m.VersionID.ValueString(), err.Error())
		return d, false, diags
	}
	d.Version = v
	return d, true, diags
}

func (r *applicationResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan applicationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, defaultCreateTimeout)
	resp.Diagnostics.Append(diags...)
	r.apply(ctx, timeout, &plan, nil, req.Config, &resp.State, &resp.Diagnostics)
}

func (r *applicationResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan applicationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Update(ctx, defaultUpdateTimeout)
	resp.Diagnostics.Append(diags...)
	prior, diags := priorOf(ctx, req.State)
	resp.Diagnostics.Append(diags...)
	r.apply(ctx, timeout, &plan, prior, req.Config, &resp.State, &resp.Diagnostics)
}

// apply runs the planned operation and records the outcome in state. prior is the state
// before (nil at create); config holds the write-only arguments.
func (r *applicationResource) apply(ctx context.Context, timeout time.Duration, plan, prior *applicationModel, config tfsdk.Config,
	state *tfsdk.State, diags *diag.Diagnostics,
) {
	if diags.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	desired, versionKnown, d := r.desired(ctx, *plan)
	diags.Append(d...)
	desired.Secrets, desired.SecretsChanged, _, d = secretsOf(ctx, config, *plan, prior)
	diags.Append(d...)
	desired.TriggersChanged = triggersChanged(*plan, prior)
	if diags.HasError() {
		return
	}
	if !versionKnown {
		addVersionNotRecorded(diags, plan.VersionID.ValueString(), desired.Namespace)
		return
	}
	result, err := r.Platform.Apply(ctx, desired, lifecycle.Operation(plan.PlannedOperation.ValueString()), progressTo(ctx))
	plan.PlannedOperation = types.StringValue(string(result.Operation))
	plan.JobID = types.StringValue(result.JobID)
	plan.Status = types.StringValue(result.Status)
	plan.DeployedVersionID = types.StringValue(result.DeployedVersionID)
	plan.LastSnapshotID, plan.LastSnapshotPath = snapshotID(plan.Namespace.ValueString(), result.LastSnapshotName), types.StringValue(result.LastSnapshotPath)
	if plan.RestoreCheck.IsUnknown() {
		plan.RestoreCheck = restoreCheckValue(result.RestoreCheck)
	}
	if result.SecretsPending {
		keepPriorSecrets(plan, prior)
	}
	if err != nil && desired.TriggersChanged && result.JobID == prior.JobID.ValueString() {
		plan.Triggers = prior.Triggers // no new job ran: the next plan asks again
	}
	if err != nil {
		addLifecycleError(diags, fmt.Sprintf("Cannot apply application %s/%s", desired.Namespace, desired.Name), err)
		if !result.RecordExists {
			return
		}
		// The application exists: keep it in state as it really is (the version that runs,
		// the state it is in), so the next plan shows the change again instead of nothing.
		if result.DeployedVersionID != "" {
			plan.VersionID = types.StringValue(result.DeployedVersionID)
		}
		if result.State != "" {
			plan.State = types.StringValue(result.State)
			plan.HighAvailability = types.BoolValue(result.HighAvailability)
		}
	}
	diags.Append(state.Set(ctx, plan)...)
}

func (r *applicationResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state applicationModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	prior := state
	namespace, name := state.Namespace.ValueString(), state.Name.ValueString()
	observed, err := r.Platform.Observe(ctx, namespace, name)
	if err != nil {
		resp.Diagnostics.AddError("Cannot read application "+namespace+"/"+name, err.Error())
		return
	}
	if observed == nil {
		tflog.Warn(ctx, "application record is gone; removing from state", map[string]any{"id": namespace + "/" + name})
		resp.State.RemoveResource(ctx)
		return
	}
	state.ID = types.StringValue(namespace + "/" + name)
	// A bounded job that finished did what state = "running" asks: a run to completion
	// (status says FINISHED). Any other state the job is in is drift the plan shows.
	if observed.State != lifecycle.StateFinished || state.State.ValueString() != lifecycle.StateRunning {
		state.State = types.StringValue(observed.State)
	}
	state.JobID = types.StringValue(observed.JobID)
	state.Status = types.StringValue(observed.Status)
	state.DeployedVersionID = types.StringValue(observed.Version.ID())
	state.RestURL = types.StringValue(r.Platform.RestURL(namespace, name))
	state.LastSnapshotID, state.LastSnapshotPath = snapshotID(namespace, observed.LastSnapshotName), types.StringValue(observed.LastSnapshotPath)
	// What the cluster runs with: a cluster deployed before the provider rendered HA reads back
	// as false, so the next plan shows the redeploy that turns it on.
	state.HighAvailability = types.BoolValue(observed.HighAvailability)
	if state.VersionID.IsNull() { // import
		state.VersionID = state.DeployedVersionID
		state.fillDefaults()
	}
	if state.PlannedOperation.IsNull() {
		state.PlannedOperation = types.StringValue(string(lifecycle.OpNone))
	}
	state.Labels = mapOrNull(observed.Labels, state.Labels)
	state.Annotations = mapOrNull(observed.Annotations, state.Annotations)
	if observed.Status == lifecycle.StatusUnreachable {
		addUnreachableWarning(&resp.Diagnostics, namespace, name, state.RestURL.ValueString())
	}
	framework.SetStateIfChanged(ctx, resp, prior, state)
}

func (r *applicationResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state applicationModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, defaultDeleteTimeout)
	resp.Diagnostics.Append(diags...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	namespace, name := state.Namespace.ValueString(), state.Name.ValueString()
	options, diags := state.lifecycleOptions(ctx)
	resp.Diagnostics.Append(diags...)
	onDestroy := state.OnDestroy.ValueString()
	if err := r.Platform.Delete(ctx, namespace, name, onDestroy, options.Savepoint, progressTo(ctx)); err != nil {
		addLifecycleError(&resp.Diagnostics, "Cannot delete application "+namespace+"/"+name, err)
	}
}

func (r *applicationResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	namespace, name, err := lifecycle.ParseApplicationID(req.ID)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import id", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("namespace"), namespace)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
}

// triggersChanged reports whether the configuration's triggers changed since the last apply
// (prior is nil at create, when there is nothing to trigger).
func triggersChanged(plan applicationModel, prior *applicationModel) bool {
	return prior != nil && !plan.Triggers.Equal(prior.Triggers)
}

// progressTo forwards lifecycle progress lines to Terraform's structured log.
func progressTo(ctx context.Context) lifecycle.Progress {
	return func(msg string) { tflog.Info(ctx, msg) }
}
