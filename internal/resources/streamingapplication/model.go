package streamingapplication

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/framework"
)

type applicationModel struct {
	ID                types.String   `tfsdk:"id"`
	Name              types.String   `tfsdk:"name"`
	Namespace         types.String   `tfsdk:"namespace"`
	VersionID         types.String   `tfsdk:"version_id"`
	State             types.String   `tfsdk:"state"`
	Labels            types.Map      `tfsdk:"labels"`
	Annotations       types.Map      `tfsdk:"annotations"`
	JobID             types.String   `tfsdk:"job_id"`
	Status            types.String   `tfsdk:"status"`
	DeployedVersionID types.String   `tfsdk:"deployed_version_id"`
	RestURL           types.String   `tfsdk:"rest_url"`
	PlannedOperation  types.String   `tfsdk:"planned_operation"`
	UpgradeMode       types.String   `tfsdk:"upgrade_mode"`
	Restore           types.Object   `tfsdk:"restore"`
	OnDestroy         types.String   `tfsdk:"on_destroy"`
	Rollback          types.Object   `tfsdk:"rollback"`
	Retention         types.Object   `tfsdk:"snapshot_retention"`
	SavepointDir      types.String   `tfsdk:"savepoint_directory"`
	SavepointTimeout  types.String   `tfsdk:"savepoint_timeout"`
	SavepointFormat   types.String   `tfsdk:"savepoint_format"`
	Drain             types.Bool     `tfsdk:"drain"`
	HighAvailability  types.Bool     `tfsdk:"high_availability"`
	WaitForCompletion types.Bool     `tfsdk:"wait_for_completion"`
	Triggers          types.Map      `tfsdk:"triggers"`
	LastSnapshotID    types.String   `tfsdk:"last_snapshot_id"`
	LastSnapshotPath  types.String   `tfsdk:"last_snapshot_path"`
	RestoreCheck      types.Object   `tfsdk:"restore_check"`
	Timeouts          timeouts.Value `tfsdk:"timeouts"`

	SecretFlinkConfiguration          types.Map   `tfsdk:"secret_flink_configuration"`
	SecretEnv                         types.Map   `tfsdk:"secret_env"`
	SecretFlinkConfigurationWO        types.Map   `tfsdk:"secret_flink_configuration_wo"`
	SecretFlinkConfigurationWOVersion types.Int64 `tfsdk:"secret_flink_configuration_wo_version"`
	SecretEnvWO                       types.Map   `tfsdk:"secret_env_wo"`
	SecretEnvWOVersion                types.Int64 `tfsdk:"secret_env_wo_version"`
}

type restoreModel struct {
	Strategy              types.String `tfsdk:"strategy"`
	SnapshotID            types.String `tfsdk:"snapshot_id"`
	AllowNonRestoredState types.Bool   `tfsdk:"allow_non_restored_state"`
}

type rollbackModel struct {
	Enabled           types.Bool   `tfsdk:"enabled"`
	ReadinessTimeout  types.String `tfsdk:"readiness_timeout"`
	RequireCheckpoint types.Bool   `tfsdk:"require_checkpoint"`
}

type retentionModel struct {
	MaxCount types.Int64  `tfsdk:"max_count"`
	MaxAge   types.String `tfsdk:"max_age"`
}

var restoreAttrTypes = map[string]attr.Type{
	"strategy": types.StringType, "snapshot_id": types.StringType, "allow_non_restored_state": types.BoolType,
}

var rollbackAttrTypes = map[string]attr.Type{
	"enabled": types.BoolType, "readiness_timeout": types.StringType, "require_checkpoint": types.BoolType,
}

var retentionAttrTypes = map[string]attr.Type{"max_count": types.Int64Type, "max_age": types.StringType}

type applicationDataModel struct {
	ID                types.String `tfsdk:"id"`
	Name              types.String `tfsdk:"name"`
	Namespace         types.String `tfsdk:"namespace"`
	State             types.String `tfsdk:"state"`
	JobID             types.String `tfsdk:"job_id"`
	Status            types.String `tfsdk:"status"`
	DeployedVersionID types.String `tfsdk:"deployed_version_id"`
	RestURL           types.String `tfsdk:"rest_url"`
	Labels            types.Map    `tfsdk:"labels"`
	Annotations       types.Map    `tfsdk:"annotations"`
	HighAvailability  types.Bool   `tfsdk:"high_availability"`
}

func mapOrNull(values map[string]string, prior types.Map) types.Map {
	if len(values) == 0 {
		return framework.KeepEmptyMap(prior, types.MapNull(types.StringType))
	}
	m, _ := types.MapValueFrom(context.Background(), types.StringType, values)
	return m
}

// settingDefaults is what an application gets for each setting its configuration leaves
// out, in the model's terms. It comes from lifecycle.Defaults, the one source: the schema's
// Defaults and import read it.
var settingDefaults = defaultsOf(lifecycle.Defaults())

func defaultsOf(d lifecycle.Desired) applicationModel {
	return applicationModel{
		State:             types.StringValue(d.State),
		UpgradeMode:       types.StringValue(d.UpgradeMode),
		OnDestroy:         types.StringValue(lifecycle.DefaultOnDestroy),
		SavepointTimeout:  types.StringValue(durationText(d.Savepoint.Timeout)),
		SavepointFormat:   types.StringValue(d.Savepoint.Format),
		Drain:             types.BoolValue(d.Savepoint.Drain),
		HighAvailability:  types.BoolValue(d.HighAvailability),
		WaitForCompletion: types.BoolValue(d.WaitForCompletion),
		Restore: types.ObjectValueMust(restoreAttrTypes, map[string]attr.Value{
			"strategy": types.StringValue(d.Restore.Strategy), "snapshot_id": types.StringNull(),
			"allow_non_restored_state": types.BoolValue(d.Restore.AllowNonRestoredState),
		}),
		Rollback: types.ObjectValueMust(rollbackAttrTypes, map[string]attr.Value{
			"enabled": types.BoolValue(d.Rollback.Enabled), "readiness_timeout": types.StringValue(durationText(d.Rollback.ReadinessTimeout)),
			"require_checkpoint": types.BoolValue(d.Rollback.RequireCheckpoint),
		}),
		Retention: types.ObjectValueMust(retentionAttrTypes, map[string]attr.Value{
			"max_count": types.Int64Value(int64(d.Retention.MaxCount)), "max_age": types.StringNull(),
		}),
	}
}

// durationText writes a default duration as a configuration would: "5m", not "5m0s".
func durationText(d time.Duration) string {
	text := d.String()
	if strings.HasSuffix(text, "m0s") {
		text = strings.TrimSuffix(text, "0s")
	}
	if strings.HasSuffix(text, "h0m") {
		text = strings.TrimSuffix(text, "0m")
	}
	return text
}

// fillDefaults gives an imported application the defaults of the settings the record does
// not keep (they shape future operations, not the running job), so the first plan after
// import shows only what the configuration sets differently.
func (m *applicationModel) fillDefaults() {
	d := settingDefaults
	orDefault(&m.UpgradeMode, d.UpgradeMode)
	orDefault(&m.OnDestroy, d.OnDestroy)
	orDefault(&m.SavepointTimeout, d.SavepointTimeout)
	orDefault(&m.SavepointFormat, d.SavepointFormat)
	orDefault(&m.Drain, d.Drain)
	orDefault(&m.WaitForCompletion, d.WaitForCompletion)
	orDefault(&m.Restore, d.Restore)
	orDefault(&m.Rollback, d.Rollback)
	orDefault(&m.Retention, d.Retention)
}

func orDefault[T attr.Value](v *T, def T) {
	if (*v).IsNull() {
		*v = def
	}
}

func snapshotID(namespace, name string) types.String {
	if name == "" {
		return types.StringValue("")
	}
	return types.StringValue(namespace + "/" + name)
}

// lifecycleOptions reads the stateful settings into lifecycle terms; unknown or null
// values keep the lifecycle's defaults.
func (m applicationModel) lifecycleOptions(ctx context.Context) (lifecycle.Desired, diag.Diagnostics) {
	var diags diag.Diagnostics
	d := lifecycle.Defaults()
	if known(m.UpgradeMode) {
		d.UpgradeMode = m.UpgradeMode.ValueString()
	}
	if known(m.HighAvailability) {
		d.HighAvailability = m.HighAvailability.ValueBool()
	}
	if known(m.WaitForCompletion) {
		d.WaitForCompletion = m.WaitForCompletion.ValueBool()
	}
	d.Savepoint.Directory = m.SavepointDir.ValueString()
	if known(m.SavepointFormat) {
		d.Savepoint.Format = m.SavepointFormat.ValueString()
	}
	d.Savepoint.Drain = m.Drain.ValueBool()
	if known(m.SavepointTimeout) {
		d.Savepoint.Timeout = duration(m.SavepointTimeout)
	}
	if known(m.Restore) {
		var r restoreModel
		diags.Append(m.Restore.As(ctx, &r, basetypes.ObjectAsOptions{})...)
		d.Restore = lifecycle.Restore{Strategy: r.Strategy.ValueString(), SnapshotName: r.SnapshotID.ValueString(),
			AllowNonRestoredState: r.AllowNonRestoredState.ValueBool(), SnapshotPending: r.SnapshotID.IsUnknown()}
	}
	if known(m.Rollback) {
		var r rollbackModel
		diags.Append(m.Rollback.As(ctx, &r, basetypes.ObjectAsOptions{})...)
		d.Rollback = lifecycle.RollbackOptions{Enabled: r.Enabled.ValueBool(), ReadinessTimeout: duration(r.ReadinessTimeout),
			RequireCheckpoint: r.RequireCheckpoint.ValueBool()}
	}
	if known(m.Retention) {
		var r retentionModel
		diags.Append(m.Retention.As(ctx, &r, basetypes.ObjectAsOptions{})...)
		d.Retention = lifecycle.Retention{MaxCount: int(r.MaxCount.ValueInt64()), MaxAge: duration(r.MaxAge)}
	}
	return d, diags
}

func known(v attr.Value) bool { return !v.IsNull() && !v.IsUnknown() }

// duration parses a validated duration attribute; null or unknown is 0 (the default).
func duration(v types.String) time.Duration {
	d, _ := time.ParseDuration(v.ValueString())
	return d
}

var restoreCheckAttrTypes = map[string]attr.Type{
	"status": types.StringType, "snapshot": types.StringType, "reason": types.StringType,
	"dropped_operators": types.ListType{ElemType: types.StringType}, "empty_operators": types.ListType{ElemType: types.StringType},
}

// restoreCheckValue is a lifecycle.RestoreCheck as the restore_check attribute (null for nil).
func restoreCheckValue(c *lifecycle.RestoreCheck) types.Object {
	if c == nil {
		return types.ObjectNull(restoreCheckAttrTypes)
	}
	list := func(values []string) types.List {
		elements := make([]attr.Value, len(values))
		for i, v := range values {
			elements[i] = types.StringValue(v)
		}
		return types.ListValueMust(types.StringType, elements)
	}
	return types.ObjectValueMust(restoreCheckAttrTypes, map[string]attr.Value{
		"status": types.StringValue(c.Status), "snapshot": types.StringValue(c.Snapshot), "reason": types.StringValue(c.Reason),
		"dropped_operators": list(c.Dropped), "empty_operators": list(c.Empty),
	})
}
