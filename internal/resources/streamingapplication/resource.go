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
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/defaults"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/applicationversion"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/common"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

var (
	_ resource.ResourceWithConfigure      = &applicationResource{}
	_ resource.ResourceWithImportState    = &applicationResource{}
	_ resource.ResourceWithModifyPlan     = &applicationResource{}
	_ resource.ResourceWithValidateConfig = &applicationResource{}
)

// NewResource is the constructor the provider registers.
func NewResource() resource.Resource { return &applicationResource{} }

type applicationResource struct {
	platform *lifecycle.Platform
}

func (r *applicationResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_streaming_application"
}

func (r *applicationResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = resourceSchema(ctx)
}

func (r *applicationResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.platform = common.PlatformFrom(req.ProviderData, &resp.Diagnostics)
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
	strategy, hasSnapshot := m.Strategy.ValueString(), !m.SnapshotID.IsNull()
	switch {
	case strategy == lifecycle.RestoreSnapshot && !hasSnapshot:
		resp.Diagnostics.AddAttributeError(path.Root("restore").AtName("snapshot_id"), "Missing snapshot",
			`restore.strategy = "snapshot" needs restore.snapshot_id: the id of the flink_snapshot to start from.`)
	case hasSnapshot && strategy != lifecycle.RestoreSnapshot:
		resp.Diagnostics.AddAttributeError(path.Root("restore").AtName("strategy"), "Snapshot ignored",
			`restore.snapshot_id is set, so set restore.strategy = "snapshot" too (otherwise it would be ignored).`)
	}
}

// ModifyPlan classifies the change into planned_operation and says in words, as a plan
// warning, what apply will do to the running job. It also rejects a version_id of another
// application, and marks what the operation will change as unknown.
func (r *applicationResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.platform == nil { // destroy, or provider not configured yet
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
		plan.Namespace = types.StringValue(r.platform.DefaultNamespace)
	}
	if plan.Name.IsUnknown() || plan.VersionID.IsUnknown() || plan.State.IsUnknown() {
		plan.PlannedOperation, plan.JobID, plan.Status = types.StringUnknown(), types.StringUnknown(), types.StringUnknown()
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	namespace, name := plan.Namespace.ValueString(), plan.Name.ValueString()
	plan.ID = types.StringValue(namespace + "/" + name)
	plan.RestURL = types.StringValue(r.platform.RestURL(namespace, name))
	plan.DeployedVersionID = plan.VersionID

	desired, versionKnown, diags := r.desired(ctx, plan)
	resp.Diagnostics.Append(diags...)
	prior, diags := priorOf(ctx, req.State)
	resp.Diagnostics.Append(diags...)
	desired.Secrets, desired.SecretsChanged, _, diags = secretsOf(ctx, req.Config, plan, prior)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !versionKnown && req.State.Raw.IsNull() {
		tflog.Debug(ctx, "version record not created yet; its spec is compared at apply", map[string]any{"version_id": plan.VersionID.ValueString()})
	}
	change, err := r.platform.PlanChange(ctx, desired)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("version_id"), "Cannot plan application "+namespace+"/"+name, err.Error())
		return
	}
	plan.PlannedOperation = types.StringValue(string(change.Operation))
	if change.Operation != lifecycle.OpNone {
		plan.JobID, plan.Status = types.StringUnknown(), types.StringUnknown()
		resp.Diagnostics.AddWarning(fmt.Sprintf("%s: %s", name, change.Operation), change.Summary)
	}
	if w := lifecycle.HighAvailabilityOffWarning(desired); w != "" {
		resp.Diagnostics.AddAttributeWarning(path.Root("high_availability"), name+": no high availability", w)
	}
	if change.RecordsSnapshot {
		plan.LastSnapshotID, plan.LastSnapshotPath = types.StringUnknown(), types.StringUnknown()
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
			diags.AddAttributeError(path.Root("restore").AtName("snapshot_id"), "Invalid snapshot id",
				fmt.Sprintf("%q is not the id of a snapshot in namespace %s (expected %s/<snapshot>)", d.Restore.SnapshotName, namespace, namespace))
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
		diags.AddAttributeError(path.Root("version_id"), "Version of another application",
			fmt.Sprintf("version %q belongs to application %s/%s, not %s/%s. Use a flink_application_version with "+
				"application = %q and namespace = %q.", m.VersionID.ValueString(), vNamespace, vApplication, namespace, name, name, namespace))
		return d, false, diags
	}
	v, err := r.platform.Records().GetVersionRecord(ctx, namespace, name, label)
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
	if diags.HasError() {
		return
	}
	if !versionKnown {
		diags.AddAttributeError(path.Root("version_id"), "Version not found",
			fmt.Sprintf("no flink_application_version %q is recorded in namespace %q; create it first", plan.VersionID.ValueString(), desired.Namespace))
		return
	}
	result, err := r.platform.Apply(ctx, desired, lifecycle.Operation(plan.PlannedOperation.ValueString()), progressTo(ctx))
	plan.PlannedOperation = types.StringValue(string(result.Operation))
	plan.JobID = types.StringValue(result.JobID)
	plan.Status = types.StringValue(result.Status)
	plan.DeployedVersionID = types.StringValue(result.DeployedVersionID)
	plan.LastSnapshotID, plan.LastSnapshotPath = snapshotID(plan.Namespace.ValueString(), result.LastSnapshotName), types.StringValue(result.LastSnapshotPath)
	if result.SecretsPending {
		keepPriorSecrets(plan, prior)
	}
	if err != nil {
		diags.AddError(fmt.Sprintf("Cannot apply application %s/%s", desired.Namespace, desired.Name), err.Error())
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
	namespace, name := state.Namespace.ValueString(), state.Name.ValueString()
	observed, err := r.platform.Observe(ctx, namespace, name)
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
	state.State = types.StringValue(observed.State)
	state.JobID = types.StringValue(observed.JobID)
	state.Status = types.StringValue(observed.Status)
	state.DeployedVersionID = types.StringValue(observed.Version.ID())
	state.RestURL = types.StringValue(r.platform.RestURL(namespace, name))
	state.LastSnapshotID, state.LastSnapshotPath = snapshotID(namespace, observed.LastSnapshotName), types.StringValue(observed.LastSnapshotPath)
	// What the cluster runs with: a cluster deployed before the provider rendered HA reads back
	// as false, so the next plan shows the redeploy that turns it on.
	state.HighAvailability = types.BoolValue(observed.HighAvailability)
	if state.VersionID.IsNull() { // import
		state.VersionID = state.DeployedVersionID
		setImportDefaults(ctx, &state)
	}
	if state.PlannedOperation.IsNull() {
		state.PlannedOperation = types.StringValue(string(lifecycle.OpNone))
	}
	state.Labels = mapOrNull(observed.Labels, state.Labels)
	state.Annotations = mapOrNull(observed.Annotations, state.Annotations)
	if observed.Status == lifecycle.StatusUnreachable {
		resp.Diagnostics.AddWarning(name+": Flink REST API unreachable",
			fmt.Sprintf("the JobManager of %s/%s did not answer at %s; its job status is unknown.", namespace, name, state.RestURL.ValueString()))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func mapOrNull(values map[string]string, prior types.Map) types.Map {
	if len(values) == 0 {
		return common.KeepEmptyMap(prior, types.MapNull(types.StringType))
	}
	m, _ := types.MapValueFrom(context.Background(), types.StringType, values)
	return m
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
	if err := r.platform.Delete(ctx, namespace, name, onDestroy, options.Savepoint, progressTo(ctx)); err != nil {
		resp.Diagnostics.AddError("Cannot delete application "+namespace+"/"+name, err.Error())
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

// setImportDefaults gives an imported application the schema defaults of the settings the
// record does not keep (they shape future operations, not the running job), so the first
// plan after import shows only what the configuration sets differently.
func setImportDefaults(ctx context.Context, m *applicationModel) {
	var s resource.SchemaResponse
	(&applicationResource{}).Schema(ctx, resource.SchemaRequest{}, &s)
	str := func(v *types.String, name string) {
		if v.IsNull() {
			def, _ := s.Schema.Attributes[name].(schema.StringAttribute)
			if def.Default != nil {
				var resp defaults.StringResponse
				def.Default.DefaultString(ctx, defaults.StringRequest{}, &resp)
				*v = resp.PlanValue
			}
		}
	}
	obj := func(v *types.Object, name string) {
		if v.IsNull() {
			def, _ := s.Schema.Attributes[name].(schema.SingleNestedAttribute)
			if def.Default != nil {
				var resp defaults.ObjectResponse
				def.Default.DefaultObject(ctx, defaults.ObjectRequest{}, &resp)
				*v = resp.PlanValue
			}
		}
	}
	str(&m.UpgradeMode, "upgrade_mode")
	str(&m.OnDestroy, "on_destroy")
	str(&m.SavepointTimeout, "savepoint_timeout")
	str(&m.SavepointFormat, "savepoint_format")
	obj(&m.Restore, "restore")
	obj(&m.Rollback, "rollback")
	obj(&m.Retention, "snapshot_retention")
	if m.Drain.IsNull() {
		m.Drain = types.BoolValue(false)
	}
}

func snapshotID(namespace, name string) types.String {
	if name == "" {
		return types.StringValue("")
	}
	return types.StringValue(namespace + "/" + name)
}

// lifecycleOptions reads the stateful settings into lifecycle terms; unknown or null
// values fall back to the lifecycle's defaults.
func (m applicationModel) lifecycleOptions(ctx context.Context) (lifecycle.Desired, diag.Diagnostics) {
	var diags diag.Diagnostics
	d := lifecycle.Desired{
		UpgradeMode: m.UpgradeMode.ValueString(),
		// On unless set false (the schema default; null only in state older than the attribute).
		HighAvailability: m.HighAvailability.IsNull() || m.HighAvailability.IsUnknown() || m.HighAvailability.ValueBool(),
		Savepoint: lifecycle.SavepointOptions{
			Directory: m.SavepointDir.ValueString(), Format: m.SavepointFormat.ValueString(),
			Drain: m.Drain.ValueBool(), Timeout: duration(m.SavepointTimeout),
		},
	}
	if !m.Restore.IsNull() && !m.Restore.IsUnknown() {
		var r restoreModel
		diags.Append(m.Restore.As(ctx, &r, basetypes.ObjectAsOptions{})...)
		d.Restore = lifecycle.Restore{Strategy: r.Strategy.ValueString(), SnapshotName: r.SnapshotID.ValueString(),
			AllowNonRestoredState: r.AllowNonRestoredState.ValueBool(), SnapshotPending: r.SnapshotID.IsUnknown()}
	}
	d.Rollback.Enabled = true
	if !m.Rollback.IsNull() && !m.Rollback.IsUnknown() {
		var r rollbackModel
		diags.Append(m.Rollback.As(ctx, &r, basetypes.ObjectAsOptions{})...)
		d.Rollback = lifecycle.RollbackOptions{Enabled: r.Enabled.ValueBool(), ReadinessTimeout: duration(r.ReadinessTimeout),
			RequireCheckpoint: r.RequireCheckpoint.ValueBool()}
	}
	if !m.Retention.IsNull() && !m.Retention.IsUnknown() {
		var r retentionModel
		diags.Append(m.Retention.As(ctx, &r, basetypes.ObjectAsOptions{})...)
		d.Retention = lifecycle.Retention{MaxCount: int(r.MaxCount.ValueInt64()), MaxAge: duration(r.MaxAge)}
	}
	return d, diags
}

// duration parses a validated duration attribute; null or unknown is 0 (the default).
func duration(v types.String) time.Duration {
	d, _ := time.ParseDuration(v.ValueString())
	return d
}

// progressTo forwards lifecycle progress lines to Terraform's structured log.
func progressTo(ctx context.Context) lifecycle.Progress {
	return func(msg string) { tflog.Info(ctx, msg) }
}
