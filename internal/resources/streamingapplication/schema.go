package streamingapplication

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/applicationversion"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
)

// Default timeouts: a redeploy waits for pods to be scheduled and images pulled, and for
// the job to restore its state.
const (
	defaultCreateTimeout = 15 * time.Minute
	defaultUpdateTimeout = 30 * time.Minute
	defaultDeleteTimeout = 15 * time.Minute
)

func resourceSchema(ctx context.Context) schema.Schema {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	// The defaults: of top-level attributes and objects from the model, of attributes inside the objects from the lifecycle.
	def, lifecycleDefault := settingDefaults, lifecycle.Defaults()
	s := schema.Schema{
		MarkdownDescription: "A Flink application running on Kubernetes as a standalone application cluster. " +
			"`version_id` says which `flink_application_version` runs; changing it, or `state`, is an operation on the " +
			"running job that the plan names in `planned_operation` and in a warning before anything happens.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "`namespace/name`.", PlanModifiers: keep},
			"name": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Application name (a DNS-1035 label of at most 52 characters). Changing it replaces the application.",
				Validators:          []validator.String{validate.ApplicationName()},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"namespace": schema.StringAttribute{
				Optional: true, Computed: true,
				MarkdownDescription: "Kubernetes namespace. Defaults to the provider's `default_namespace`.",
				Validators:          []validator.String{validate.DNSLabel(63)},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplaceIfConfigured(), stringplanmodifier.UseStateForUnknown()},
			},
			"version_id": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "`id` of the `flink_application_version` to run. It must belong to this application " +
					"and namespace. Changing it redeploys the job.",
				Validators: []validator.String{validate.String("version id", func(s string) error {
					_, _, _, err := applicationversion.ParseID(s)
					return err
				})},
			},
			"state": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(def.State.ValueString()),
				MarkdownDescription: "`running` (default), `suspended` (stopped with a savepoint and scaled to zero; `running` " +
					"again resumes from it) or `cancelled` (cancelled without a savepoint and scaled to zero). A job that " +
					"stopped outside Terraform reads back as `cancelled`, one whose tasks have not all run for longer than " +
					"`rollback.readiness_timeout` (or that keeps restarting) as `stuck`, and an application whose last apply was " +
					"interrupted as `recovering`, so the next plan shows the drift, why, and what it will do about it.",
				Validators: []validator.String{stringvalidator.OneOf(lifecycle.StateRunning, lifecycle.StateSuspended, lifecycle.StateCancelled)},
			},
			"labels": schema.MapAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Labels put on every Kubernetes object of the application, its JobManager and TaskManager pods included " +
					"(beside `app.kubernetes.io/name`, `component`, `version` and `managed-by`). Changing them restarts nothing: " +
					"the Deployments, Services and ConfigMaps get them at once, the pods with the next job the application starts. " +
					"Keys and values follow Kubernetes' label syntax (values: at most 63 characters, alphanumerics with `-`, `_`, `.` inside).",
				Validators: []validator.Map{
					mapvalidator.KeysAre(validate.String("label key", validate.CheckLabelKey)),
					mapvalidator.ValueStringsAre(validate.String("label value", validate.CheckLabelValue)),
				},
			},
			"annotations": schema.MapAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Annotations put on every Kubernetes object of the application, its pods included (with the next job, " +
					"like `labels`). Changing them restarts nothing. " +
					"Keys follow Kubernetes' syntax, e.g. `owner` or `example.com/owner`.",
				Validators: []validator.Map{mapvalidator.KeysAre(validate.String("annotation key", validate.CheckAnnotationKey))},
			},
			"job_id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "Flink job id of the current deployment (fixed per deployment)."},
			"status": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "Flink's job state (`RUNNING`, `RESTARTING`, `FAILED` …), `STOPPED` when the cluster is " +
					"scaled to zero, or `UNREACHABLE`."},
			"deployed_version_id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "`id` of the version the cluster runs now."},
			"rest_url": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "URL the provider uses for the application's Flink REST API."},
			"planned_operation": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "What the plan will do to the running job: `deploy`, `none`, `savepoint_redeploy`, " +
					"`last_state_redeploy`, `stateless_redeploy`, `rescale` (in place, adaptive scheduler), `reprocess` (from a " +
					"newly chosen snapshot), `suspend`, `resume`, `cancel`, `restart_task_managers` (a stuck job) or `recover` " +
					"(finish an apply that was interrupted). After apply it keeps the last operation carried out."},
			"last_snapshot_id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "Id (`namespace/name`) of the newest snapshot the provider took of this application."},
			"last_snapshot_path": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				MarkdownDescription: "Path of that snapshot, as Flink reports it."},
			"restore_check": restoreCheckSchema(),
			"upgrade_mode": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(def.UpgradeMode.ValueString()),
				MarkdownDescription: "How a running job moves to a new spec: `savepoint` (default: stop with a savepoint, start " +
					"the new version from it), `last_state` (cancel, start from the latest retained checkpoint; needs checkpoint " +
					"storage) or `stateless` (cancel, start empty).",
				Validators: []validator.String{stringvalidator.OneOf(lifecycle.UpgradeSavepoint, lifecycle.UpgradeLastState, lifecycle.UpgradeStateless)},
			},
			"restore": schema.SingleNestedAttribute{
				Optional: true, Computed: true,
				MarkdownDescription: "Where a job starts when none of this application is running (create, `cancelled` → `running`, resume).",
				Default:             objectdefault.StaticValue(def.Restore),
				Attributes: map[string]schema.Attribute{
					"strategy": schema.StringAttribute{
						Optional: true, Computed: true, Default: stringdefault.StaticString(lifecycleDefault.Restore.Strategy),
						MarkdownDescription: "`latest_state` (default: the newest state of the application — its newest snapshot, or " +
							"the latest completed checkpoint of its last job when that is newer, e.g. after the job failed or was " +
							"cancelled outside Terraform; the plan says which and why), `latest_snapshot` (the newest snapshot only; " +
							"none = empty state), `snapshot` (the one in `snapshot_id`, restored once: on a running application a newly named " +
							"snapshot plans `reprocess`, and later starts restore the state that grew from it) or `none`.",
						Validators: []validator.String{stringvalidator.OneOf(lifecycle.RestoreLatestSnapshot, lifecycle.RestoreLatestState,
							lifecycle.RestoreSnapshot, lifecycle.RestoreNone)},
					},
					"snapshot_id": schema.StringAttribute{
						Optional:            true,
						MarkdownDescription: "Id of a `flink_snapshot` (`namespace/name`), with `strategy = \"snapshot\"`: e.g. to fork an application from another one's state.",
					},
					"allow_non_restored_state": schema.BoolAttribute{
						Optional: true, Computed: true, Default: booldefault.StaticBool(lifecycleDefault.Restore.AllowNonRestoredState),
						MarkdownDescription: "Start even if the snapshot holds state of operators the new version no longer has.",
					},
				},
			},
			"on_destroy": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(def.OnDestroy.ValueString()),
				MarkdownDescription: "What destroy does to the job: `savepoint` (default: stop with a final savepoint, recorded and " +
					"kept), `drain` (the same, draining sources first) or `cancel` (no savepoint).",
				Validators: []validator.String{stringvalidator.OneOf(lifecycle.DestroySavepoint, lifecycle.DestroyDrain, lifecycle.DestroyCancel)},
			},
			"rollback": schema.SingleNestedAttribute{
				Optional: true, Computed: true,
				MarkdownDescription: "What counts as a healthy deployment, and what happens when a new version is not healthy.",
				Default:             objectdefault.StaticValue(def.Rollback),
				Attributes: map[string]schema.Attribute{
					"enabled": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(lifecycleDefault.Rollback.Enabled),
						MarkdownDescription: "Restart the previous version from the same snapshot when the new one is not healthy in time (default true)."},
					"readiness_timeout": schema.StringAttribute{Optional: true, Computed: true,
						Default:             stringdefault.StaticString(durationText(lifecycleDefault.Rollback.ReadinessTimeout)),
						MarkdownDescription: "How long the job and all its tasks have to reach RUNNING (default `5m`).",
						Validators:          []validator.String{validate.Duration()}},
					"require_checkpoint": schema.BoolAttribute{Optional: true, Computed: true,
						Default:             booldefault.StaticBool(lifecycleDefault.Rollback.RequireCheckpoint),
						MarkdownDescription: "Healthy only after the new job completed a checkpoint."},
				},
			},
			"snapshot_retention": schema.SingleNestedAttribute{
				Optional: true, Computed: true,
				MarkdownDescription: "How many automatic snapshots (taken by upgrades and suspends) to keep. Snapshots managed by a " +
					"`flink_snapshot`, final ones from destroy, and the newest one are never disposed.",
				Default: objectdefault.StaticValue(def.Retention),
				Attributes: map[string]schema.Attribute{
					"max_count": schema.Int64Attribute{Optional: true, Computed: true,
						Default:             int64default.StaticInt64(int64(lifecycleDefault.Retention.MaxCount)),
						MarkdownDescription: "Keep at most this many (default 5; 0 = unlimited).",
						Validators:          []validator.Int64{int64validator.AtLeast(0)}},
					"max_age": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Dispose automatic snapshots older than this, e.g. `168h`.",
						Validators:          []validator.String{validate.Duration()}},
				},
			},
			"savepoint_directory": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Where Flink writes this application's savepoints: an absolute URI of a file system Flink can " +
					"write to (`s3://`, `s3a://`, `s3p://`, `gs://`, `abfs[s]://`, `wasb[s]://`, `oss://`, `hdfs://`, `viewfs://` or " +
					"`file:///` on a shared mount), e.g. `s3://bucket/savepoints/orders`. A path without a scheme is rejected: Flink " +
					"would write it to the pod's local disk, which is lost with the pod. Default: `<snapshot_storage_url>/<namespace>/<name>`.",
				Validators: []validator.String{validate.SavepointDirectory()}},
			"savepoint_timeout": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(def.SavepointTimeout.ValueString()),
				MarkdownDescription: "How long a savepoint may take (default `10m`). If it takes longer the job keeps running, and the " +
					"next apply asks Flink about the same savepoint before doing anything else.",
				Validators: []validator.String{validate.Duration()}},
			"savepoint_format": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(def.SavepointFormat.ValueString()),
				MarkdownDescription: "`canonical` (default, portable across state backends) or `native` (faster for large RocksDB state).",
				Validators:          []validator.String{stringvalidator.OneOf("canonical", "native")}},
			"wait_for_completion": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(def.WaitForCompletion.ValueBool()),
				MarkdownDescription: "For a `bounded` version: apply waits until the job finished (within the create/update " +
					"timeout; a job that fails fails the apply with Flink's reason), then scales the cluster to zero; `status` " +
					"reads `FINISHED`. `false` returns once the job runs; a later plan sees it finished. Default `true`. No " +
					"effect on a streaming version.",
			},
			"triggers": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Arbitrary values; changing one redeploys the job as a new version would (per " +
					"`upgrade_mode`, with its savepoint and rollback), and runs a finished `bounded` job again. The " +
					"provider's counterpart of the Flink Kubernetes Operator's `restartNonce`, e.g. `{ run = \"2026-12-04\" }`.",
			},
			"high_availability": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(def.HighAvailability.ValueBool()),
				MarkdownDescription: "Run the cluster with Flink's Kubernetes high availability (default `true`). A JobManager " +
					"that restarts (node drain, eviction, OOM kill) then recovers the job from its latest completed checkpoint. " +
					"Flink keeps its HA data in ConfigMaps and under `<storage>/ha/<namespace>/<name>-g<generation>`, where " +
					"`<storage>` is `savepoint_directory`, else the provider's `snapshot_storage_url`, else the version's " +
					"`state.savepoints.dir` or `state.checkpoints.dir`; the plan fails when there is none. The pods run as a " +
					"ServiceAccount `<name>-flink` with a Role that lets them use ConfigMaps in the namespace. It also allows " +
					"`job_manager.replicas` > 1 (standby JobManagers). `false` runs without: a restarted JobManager starts the job " +
					"again from the snapshot it was deployed from (or empty), rewinding its state, and the plan warns about it. " +
					"Changing it redeploys the job like a new version (per `upgrade_mode`).",
			},
			"drain": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(def.Drain.ValueBool()),
				MarkdownDescription: "Drain sources (emit MAX_WATERMARK, fire all timers) when stopping with a savepoint. Right for a " +
					"final stop; wrong for an upgrade of a windowed job, which would emit incomplete windows."},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
	for name, a := range secretAttributes() {
		s.Attributes[name] = a
	}
	return s
}

// restoreCheckSchema: the plan's verdict on the state a job restores, computed at plan time
// so that a policy (OPA, Sentinel) can read it from the plan's JSON.
func restoreCheckSchema() schema.SingleNestedAttribute {
	return schema.SingleNestedAttribute{
		Computed: true, PlanModifiers: []planmodifier.Object{objectplanmodifier.UseStateForUnknown()},
		MarkdownDescription: "What the plan found, before anything is stopped, when it compared the state the job will " +
			"restore (the snapshot it starts from, or for an upgrade the running job's latest checkpoint, whose operators " +
			"the upgrade's savepoint holds) with the operators of the version that restores it: those its " +
			"`stateful_operator_uids` declare, else those its earlier runs' snapshots showed. A restore that would drop " +
			"an operator's state fails the plan unless `restore.allow_non_restored_state`; one Flink refuses for its max " +
			"parallelism always does. Null when the operation restores no state; unknown in a plan that creates the " +
			"version, whose check runs at apply, before the running job is stopped.",
		Attributes: map[string]schema.Attribute{
			"status": schema.StringAttribute{Computed: true, MarkdownDescription: "`compatible` (every operator's state is " +
				"restored), `drops_state` (allowed by `restore.allow_non_restored_state`), `not_checked` (the version's " +
				"operators are not known) or `unknown` (the state could not be read, e.g. outside `snapshot_storage_url`)."},
			"snapshot": schema.StringAttribute{Computed: true, MarkdownDescription: "The state compared."},
			"dropped_operators": schema.ListAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Operators (uid, else name and id) whose state the version does not take."},
			"empty_operators": schema.ListAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "The version's stateful operators that find no state and start empty."},
			"reason": schema.StringAttribute{Computed: true, MarkdownDescription: "Why the status is `not_checked` or `unknown`."},
		},
	}
}
