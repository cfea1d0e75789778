package streamingapplication

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/applicationversion"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
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
	Timeouts          timeouts.Value `tfsdk:"timeouts"`
}

// Default timeouts: a redeploy waits for pods to be scheduled and images pulled, and for
// the job to restore its state.
const (
	defaultCreateTimeout = 15 * time.Minute
	defaultUpdateTimeout = 30 * time.Minute
	defaultDeleteTimeout = 15 * time.Minute
)

func resourceSchema(ctx context.Context) schema.Schema {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	return schema.Schema{
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
				Optional: true, Computed: true, Default: stringdefault.StaticString(lifecycle.StateRunning),
				MarkdownDescription: "`running` (default) or `cancelled` (the job is cancelled and the cluster scaled to zero). " +
					"A job that stopped outside Terraform reads back as `cancelled`, so the next plan shows the drift.",
				Validators: []validator.String{stringvalidator.OneOf(lifecycle.StateRunning, lifecycle.StateCancelled)},
			},
			"labels": schema.MapAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Labels put on every Kubernetes object of the application. Changing them restarts nothing.",
				Validators:          []validator.Map{mapvalidator.KeysAre(validate.String("label key", validate.CheckLabelKey))},
			},
			"annotations": schema.MapAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Annotations put on every Kubernetes object of the application. Changing them restarts nothing.",
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
				MarkdownDescription: "What the plan will do to the running job: `deploy`, `none`, `stateless_redeploy`, " +
					"`cancel` (more with stateful upgrade modes). After apply it keeps the last operation carried out."},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
}
