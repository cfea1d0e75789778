package applicationversion

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/float64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/setplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
)

func resourceSchema() schema.Schema {
	// Every input forces a new version: versions are immutable records, and an application
	// moves between them by changing its version_id, which is what plans the upgrade.
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	return schema.Schema{
		MarkdownDescription: "An immutable version of a Flink application: its artifact, Flink version, parallelism, " +
			"configuration and resources. Stored as an immutable ConfigMap record in the application's namespace. " +
			"Any change creates a new version; point a `flink_streaming_application` at it to upgrade.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "`namespace/application/version`.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"application": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Name of the application this version belongs to (a DNS-1035 label of at most 52 characters, as it names Services).",
				Validators:          []validator.String{validate.ApplicationName()},
				PlanModifiers:       replace,
			},
			"namespace": schema.StringAttribute{
				Optional:            true,
				Computed:            true,
				MarkdownDescription: "Kubernetes namespace. Defaults to the provider's `default_namespace`.",
				Validators:          []validator.String{validate.DNSLabel(63)},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplaceIfConfigured(), stringplanmodifier.UseStateForUnknown()},
			},
			"version": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Version name, unique within the application, e.g. `v3` or `2024-06-01-a1b2c3`.",
				Validators:          []validator.String{validate.DNSLabel(63)},
				PlanModifiers:       replace,
			},
			"description": schema.StringAttribute{
				Optional: true, MarkdownDescription: "What changed in this version.", PlanModifiers: replace,
			},
			"parent_version_id": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "`id` of the version this one derives from (lineage).",
				Validators:          []validator.String{validate.String("version id", checkVersionID)},
				PlanModifiers:       replace,
			},
			"image": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "Container image with Flink and the job, e.g. `flink:1.20.1-java17` or " +
					"`registry.example.com/team/orders-job:1.4.2` (optionally pinned with `@sha256:…`). Must be a valid image reference.",
				Validators:    []validator.String{validate.ImageReference()},
				PlanModifiers: replace,
			},
			"image_pull_policy": schema.StringAttribute{
				Optional: true, Computed: true,
				Default:             stringdefault.StaticString(defaultImagePullPolicy),
				MarkdownDescription: "`IfNotPresent` (default), `Always` or `Never`.",
				Validators:          []validator.String{stringvalidator.OneOf("IfNotPresent", "Always", "Never")},
				PlanModifiers:       replace,
			},
			"jar_uri": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "The job jar: `local:///opt/flink/usrlib/job.jar` inside the image, or a remote URI " +
					"(`s3://`, `gs://`, `https://` …) Flink fetches. Flink 1.18 runs the job only from the jars in the image's " +
					"`/opt/flink/usrlib/` (its `standalone-job` has no `--jars`), so with `flink_version` 1.18 the jar must be there.",
				Validators:    []validator.String{validate.JarURI()},
				PlanModifiers: replace,
			},
			"entry_class": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Fully qualified main class of the job.",
				Validators:          []validator.String{validate.JavaClassName()},
				PlanModifiers:       replace,
			},
			"args": schema.ListAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Arguments passed to the job's main method.",
				PlanModifiers:       []planmodifier.List{listplanmodifier.RequiresReplace()},
			},
			"flink_version": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Flink release of the image, `major.minor`: 1.18, 1.19, 1.20, 2.0, 2.1, 2.2 or 2.3.",
				Validators:          []validator.String{validate.FlinkVersion()},
				PlanModifiers:       replace,
			},
			"parallelism": schema.Int64Attribute{
				Optional: true, Computed: true,
				Default:             int64default.StaticInt64(defaultParallelism),
				MarkdownDescription: fmt.Sprintf("Default parallelism of the job. Defaults to %d.", defaultParallelism),
				Validators:          []validator.Int64{int64validator.AtLeast(1)},
				PlanModifiers:       []planmodifier.Int64{int64planmodifier.RequiresReplace()},
			},
			"flink_configuration": schema.MapAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Flink configuration (`state.backend.type`, `execution.checkpointing.interval` …). " +
					"Keys may contain letters, digits and `. _ - $ / + @` (starting with a letter, digit, `_` or `$`). " +
					"Keys the provider sets itself (ports, addresses, restore path, memory and slots) are rejected, and so are " +
					"`high-availability*`, `kubernetes.cluster-id` and `kubernetes.namespace`, which the provider sets for Kubernetes " +
					"HA (`high_availability` on the application); only the leader election's timing " +
					"(`high-availability.kubernetes.leader-election.*`) may be tuned. With `flink_version` 1.18 (`flink-conf.yaml`) a value may not contain `#` or a line break.",
				Validators: []validator.Map{
					validate.FlinkConfigurationKeys(),
					mapvalidator.KeysAre(validate.FlinkConfigurationKey()),
					mapvalidator.NoNullValues(),
				},
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
			"job_manager": schema.SingleNestedAttribute{
				Optional: true, Computed: true,
				MarkdownDescription: "JobManager resources.",
				Default:             objectdefault.StaticValue(defaultJobManager()),
				PlanModifiers:       []planmodifier.Object{objectplanmodifier.RequiresReplace()},
				Attributes: map[string]schema.Attribute{
					"cpu":    cpuAttribute(),
					"memory": memoryAttribute(defaultJobManagerMemory),
					"replicas": replicasAttribute("JobManager replicas: 1 (default), or more for standby JobManagers, which take over "+
						"when the leader fails, after its leader lease. More than 1 needs `high_availability` on the application "+
						"(the default).", 1, 5),
				},
			},
			"task_manager": schema.SingleNestedAttribute{
				Optional: true, Computed: true,
				MarkdownDescription: "TaskManager resources.",
				Default:             objectdefault.StaticValue(defaultTaskManager()),
				PlanModifiers:       []planmodifier.Object{objectplanmodifier.RequiresReplace()},
				Attributes: map[string]schema.Attribute{
					"cpu":      cpuAttribute(),
					"memory":   memoryAttribute(defaultTaskManagerMemory),
					"replicas": replicasAttribute("Number of TaskManager pods.", 1, 1000),
					"task_slots": schema.Int64Attribute{
						Optional: true, Computed: true, Default: int64default.StaticInt64(defaultTaskSlots),
						MarkdownDescription: "Task slots per TaskManager (`taskmanager.numberOfTaskSlots`).",
						Validators:          []validator.Int64{int64validator.AtLeast(1)},
					},
				},
			},
			"metrics": schema.SingleNestedAttribute{
				Optional: true,
				MarkdownDescription: "Prometheus metrics: Flink's Prometheus reporter (shipped in the distribution's " +
					"`plugins/metrics-prometheus`, as in the official image) serves every JobManager's and TaskManager's metrics " +
					"on `port`, a container port named `metrics`. Select the pods with a `PodMonitor` on " +
					"`app.kubernetes.io/managed-by = terraform-provider-flink` (and `app.kubernetes.io/name` for one application) " +
					"and port `metrics`, or scrape by the `prometheus.io/*` annotations. `flink_configuration` may then not set " +
					"`metrics.reporter.prom.*` itself.",
				PlanModifiers: []planmodifier.Object{objectplanmodifier.RequiresReplace()},
				Attributes: map[string]schema.Attribute{
					"port": schema.Int64Attribute{
						Optional: true, Computed: true, Default: int64default.StaticInt64(flinkconf.DefaultMetricsPort),
						MarkdownDescription: fmt.Sprintf("Port of the metrics endpoint (`/metrics`). Defaults to %d; not 8081, 6123 or "+
							"6124, which Flink's REST, RPC and blob servers use.", flinkconf.DefaultMetricsPort),
						Validators: []validator.Int64{
							int64validator.Between(1024, 65535),
							int64validator.NoneOf(flinkconf.RestPort, flinkconf.RPCPort, flinkconf.BlobPort),
						},
					},
					"scrape_annotations": schema.BoolAttribute{
						Optional: true, Computed: true, Default: booldefault.StaticBool(true),
						MarkdownDescription: "Put `prometheus.io/scrape`, `prometheus.io/port` and `prometheus.io/path` on the " +
							"pods, for Prometheus configurations that discover targets by annotation. Defaults to true.",
					},
				},
			},
			"env": schema.MapAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Environment variables of the Flink containers. Names follow Kubernetes' rule: letters, " +
					"digits, `_`, `-` and `.`, not starting with a digit.",
				Validators:    []validator.Map{mapvalidator.KeysAre(validate.EnvVarName()), mapvalidator.NoNullValues()},
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
			"log_configuration": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "log4j2 properties replacing Flink's `log4j-console.properties`.",
				PlanModifiers:       replace,
			},
			// References only: the version record is a ConfigMap, so a value can never be here.
			"env_from_secrets": schema.MapNestedAttribute{
				Optional: true,
				MarkdownDescription: "Environment variables of the Flink containers taken from keys of existing Kubernetes Secrets " +
					"in the namespace (`secretKeyRef`), e.g. `{ KAFKA_PASSWORD = { secret = \"kafka\", key = \"password\" } }`. " +
					"The version records only the references; the kubelet reads the values when a pod starts. A name may not " +
					"also be in `env`.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"secret": schema.StringAttribute{Required: true, MarkdownDescription: "Name of the Secret.",
						Validators: []validator.String{validate.SecretName()}},
					"key": schema.StringAttribute{Required: true, MarkdownDescription: "Key in the Secret.",
						Validators: []validator.String{validate.SecretKey()}},
				}},
				Validators:    []validator.Map{mapvalidator.KeysAre(validate.EnvVarName())},
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
			"flink_configuration_secrets": schema.ListAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Names of existing Kubernetes Secrets in the namespace whose keys are Flink configuration keys " +
					"(e.g. `s3.secret-key`), merged into the configuration file when a pod starts: an init container running the " +
					"version's `image` copies the rendered configuration into a memory-backed `emptyDir` that becomes " +
					"`/opt/flink/conf`, and appends every key. The version records only the names. A pod does not start (and the " +
					"deployment rolls back) when a key is one the provider sets, is already in `flink_configuration` or an earlier " +
					"Secret, or its value has a line break (or, with `flink_version` 1.18, a `#`); the messages name the key, never " +
					"the value. Trailing line breaks of a value are dropped. Changes to the Secrets reach the job at its next deployment.",
				Validators: []validator.List{
					listvalidator.UniqueValues(),
					listvalidator.ValueStringsAre(validate.SecretName()),
				},
				PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()},
			},
			"bounded": schema.BoolAttribute{
				Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "The job ends by itself: its sources are bounded (a batch job, or a finite stream). Its " +
					"`FINISHED` is success: the application's apply waits for it (`wait_for_completion`), then scales the cluster " +
					"to zero, and the application reads as finished with a clean plan until the version or its `triggers` " +
					"change, which run it again from the start. A job of a version that is not bounded that finishes has ended " +
					"behind Terraform's back, and the next plan starts it again. Not seen by Flink.",
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()},
			},
			"stateful_operator_uids": schema.SetAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "The uids of the job's operators that keep state (`.uid(\"…\")` in the job; for an operator " +
					"without a uid, its 32-hex-digit operator id, as in `setUidHash`). List every one: with the declaration, a " +
					"plan that restores a snapshot compares it with the operators in the snapshot before anything is stopped, " +
					"refuses a restore that would drop state (unless `restore.allow_non_restored_state`) and names the operators " +
					"that start empty (`restore_check` on the application). Without it, the plan uses what the snapshots of " +
					"this version's earlier runs showed, or says `not_checked`. Not seen by Flink: it does not change what runs.",
				Validators: []validator.Set{
					setvalidator.SizeAtLeast(1),
					setvalidator.ValueStringsAre(stringvalidator.LengthBetween(1, 1024)),
				},
				PlanModifiers: []planmodifier.Set{setplanmodifier.RequiresReplace()},
			},
		},
	}
}

func cpuAttribute() schema.Float64Attribute {
	return schema.Float64Attribute{
		Optional: true, Computed: true, Default: float64default.StaticFloat64(defaultCPU),
		MarkdownDescription: "CPU cores (request and limit), e.g. 0.5; rounded to whole millicores, so at least 0.001.",
		Validators:          []validator.Float64{validate.CPU()},
	}
}

func memoryAttribute(def string) schema.StringAttribute {
	return schema.StringAttribute{
		Optional: true, Computed: true, Default: stringdefault.StaticString(def),
		MarkdownDescription: "Total process memory in Flink's notation (`1600m`, `2g`); the pod gets the same limit. Default `" + def + "`.",
		Validators:          []validator.String{validate.MemorySize()},
	}
}

func replicasAttribute(description string, min, max int64) schema.Int64Attribute {
	return schema.Int64Attribute{
		Optional: true, Computed: true, Default: int64default.StaticInt64(defaultReplicas),
		MarkdownDescription: description,
		Validators:          []validator.Int64{int64validator.Between(min, max)},
	}
}
