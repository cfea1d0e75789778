// Package provider is the Terraform provider "flink": its schema, its configuration and the
// list of resources and data sources. Configure builds the shared clients once.
package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/applicationversion"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/snapshot"
	"github.com/flinkplatform/terraform-provider-flink/internal/resources/streamingapplication"
	"github.com/flinkplatform/terraform-provider-flink/internal/validate"
)

var _ provider.Provider = &flinkProvider{}

// New returns a constructor of the provider for providerserver and the acceptance tests.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &flinkProvider{version: version} }
}

type flinkProvider struct {
	version string
}

type providerModel struct {
	Kubernetes         *kubernetesModel  `tfsdk:"kubernetes"`
	FlinkAccess        *flinkAccessModel `tfsdk:"flink_access"`
	SnapshotStorageURL types.String      `tfsdk:"snapshot_storage_url"`
	StorageCredentials types.String      `tfsdk:"snapshot_storage_credentials_secret"`
	DefaultNamespace   types.String      `tfsdk:"default_namespace"`
}

type kubernetesModel struct {
	ConfigPath            types.String `tfsdk:"config_path"`
	ConfigPaths           types.List   `tfsdk:"config_paths"`
	ConfigContext         types.String `tfsdk:"config_context"`
	ConfigContextAuthInfo types.String `tfsdk:"config_context_auth_info"`
	ConfigContextCluster  types.String `tfsdk:"config_context_cluster"`
	Host                  types.String `tfsdk:"host"`
	Token                 types.String `tfsdk:"token"`
	ClusterCACertificate  types.String `tfsdk:"cluster_ca_certificate"`
	ClientCertificate     types.String `tfsdk:"client_certificate"`
	ClientKey             types.String `tfsdk:"client_key"`
	Insecure              types.Bool   `tfsdk:"insecure"`
	QPS                   types.Int64  `tfsdk:"qps"`
	Burst                 types.Int64  `tfsdk:"burst"`
	Exec                  *execModel   `tfsdk:"exec"`
}

type execModel struct {
	APIVersion types.String `tfsdk:"api_version"`
	Command    types.String `tfsdk:"command"`
	Args       types.List   `tfsdk:"args"`
	Env        types.Map    `tfsdk:"env"`
}

type flinkAccessModel struct {
	Mode        types.String `tfsdk:"mode"`
	URLTemplate types.String `tfsdk:"url_template"`
	ProxyURL    types.String `tfsdk:"proxy_url"`
}

func (p *flinkProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "flink"
	resp.Version = p.version
}

func (p *flinkProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Runs versioned, stateful Apache Flink applications on Kubernetes as standalone " +
			"application clusters. The `kubernetes` block takes the same settings as the Kubernetes provider; " +
			"with none set, the provider uses `KUBE_*` environment variables and then the in-cluster service account.",
		Attributes: map[string]schema.Attribute{
			"snapshot_storage_url": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Where savepoints live, as a [gocloud.dev/blob](https://gocloud.dev/howto/blob/) URL " +
					"(`s3://bucket/prefix`, `gs://…`, `azblob://…`, `file:///…`, `mem://`). Used to verify, measure, copy " +
					"and dispose snapshots. Defaults to `FLINK_SNAPSHOT_STORAGE_URL`.",
				Validators: []validator.String{validate.BlobURL()},
			},
			"snapshot_storage_credentials_secret": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "A Kubernetes Secret (`namespace/name`, or `name` in `default_namespace`) with the keys " +
					"the provider signs its requests to `s3://` snapshot storage with: `AWS_ACCESS_KEY_ID` and " +
					"`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), or Flink's `s3.access-key` and `s3.secret-key`, so " +
					"the Secret a version passes to Flink in `flink_configuration_secrets` serves the provider too. It is " +
					"read when storage is first used, and also signs copies to other `s3://` buckets. Without it the AWS " +
					"SDK's default chain applies (environment, shared files, instance or pod role). " +
					"Defaults to `FLINK_SNAPSHOT_STORAGE_CREDENTIALS_SECRET`.",
				Validators: []validator.String{validate.SecretReference()},
			},
			"default_namespace": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "Namespace for resources that do not set one. Defaults to `KUBE_NAMESPACE`, then `default`.",
				Validators:          []validator.String{validate.DNSLabel(63)},
			},
		},
		Blocks: map[string]schema.Block{
			"kubernetes": schema.SingleNestedBlock{
				MarkdownDescription: "How to reach the Kubernetes API server. Each attribute falls back to the " +
					"environment variable the Kubernetes provider uses (`KUBE_CONFIG_PATH`, `KUBE_HOST`, …).",
				Attributes: map[string]schema.Attribute{
					"config_path": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Path to a kubeconfig file. Env: `KUBE_CONFIG_PATH`.",
						Validators:          []validator.String{stringvalidator.ConflictsWith(path.MatchRelative().AtParent().AtName("config_paths"))}},
					"config_paths": schema.ListAttribute{Optional: true, ElementType: types.StringType,
						MarkdownDescription: "Kubeconfig files merged in order, as `KUBECONFIG` does. Env: `KUBE_CONFIG_PATHS`."},
					"config_context":           schema.StringAttribute{Optional: true, MarkdownDescription: "Context to use from the kubeconfig. Env: `KUBE_CTX`."},
					"config_context_auth_info": schema.StringAttribute{Optional: true, MarkdownDescription: "User from the kubeconfig. Env: `KUBE_CTX_AUTH_INFO`."},
					"config_context_cluster":   schema.StringAttribute{Optional: true, MarkdownDescription: "Cluster from the kubeconfig. Env: `KUBE_CTX_CLUSTER`."},
					"host":                     schema.StringAttribute{Optional: true, MarkdownDescription: "API server URL. Env: `KUBE_HOST`."},
					"token":                    schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Bearer token. Env: `KUBE_TOKEN`."},
					"cluster_ca_certificate":   schema.StringAttribute{Optional: true, MarkdownDescription: "PEM CA bundle of the API server. Env: `KUBE_CLUSTER_CA_CERT_DATA`."},
					"client_certificate":       schema.StringAttribute{Optional: true, MarkdownDescription: "PEM client certificate. Env: `KUBE_CLIENT_CERT_DATA`."},
					"client_key":               schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "PEM client key. Env: `KUBE_CLIENT_KEY_DATA`."},
					"insecure":                 schema.BoolAttribute{Optional: true, MarkdownDescription: "Skip TLS verification of the API server. Env: `KUBE_INSECURE`."},
					"qps": schema.Int64Attribute{Optional: true,
						MarkdownDescription: "Client-side request rate limit. Default 50 (client-go's 5 is too low for many applications).",
						Validators:          []validator.Int64{int64validator.AtLeast(1)}},
					"burst": schema.Int64Attribute{Optional: true, MarkdownDescription: "Client-side burst. Default 100.",
						Validators: []validator.Int64{int64validator.AtLeast(1)}},
				},
				Blocks: map[string]schema.Block{
					"exec": schema.SingleNestedBlock{
						MarkdownDescription: "Credential plugin, as in a kubeconfig `exec` user (e.g. `aws eks get-token`).",
						Attributes: map[string]schema.Attribute{
							"api_version": schema.StringAttribute{Optional: true, MarkdownDescription: "e.g. `client.authentication.k8s.io/v1beta1`."},
							"command":     schema.StringAttribute{Optional: true, MarkdownDescription: "Program to run."},
							"args":        schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Its arguments."},
							"env":         schema.MapAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Extra environment."},
						},
					},
				},
			},
			"flink_access": schema.SingleNestedBlock{
				MarkdownDescription: "How the provider reaches each application's Flink REST API.",
				Attributes: map[string]schema.Attribute{
					"mode": schema.StringAttribute{Optional: true,
						MarkdownDescription: "`proxy` (default): through the Kubernetes API server's service proxy, which works " +
							"wherever kubectl works. `direct`: straight to `url_template`, for runners inside the cluster.",
						Validators: []validator.String{stringvalidator.OneOf(accessProxy, accessDirect)}},
					"url_template": schema.StringAttribute{Optional: true,
						MarkdownDescription: "With `mode = \"direct\"`: the REST URL, with `{name}` and `{namespace}` replaced. " +
							"Default `" + defaultURLTemplate + "`.",
						Validators: []validator.String{validate.URLTemplate()}},
					"proxy_url": schema.StringAttribute{Optional: true,
						MarkdownDescription: "With `mode = \"direct\"`: an HTTP proxy for the REST calls. Without it, " +
							"`HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` apply.",
						Validators: []validator.String{validate.HTTPURL()}},
				},
			},
		},
	}
}

const (
	accessProxy        = "proxy"
	accessDirect       = "direct"
	defaultURLTemplate = "http://{name}-rest.{namespace}.svc:8081"
)

func (p *flinkProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if cfg.Kubernetes == nil {
		cfg.Kubernetes = &kubernetesModel{}
	}
	opts, diags := connOptions(ctx, cfg.Kubernetes)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	restConfig, err := kube.RESTConfig(opts)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("kubernetes"), "Cannot configure the Kubernetes client",
			err.Error()+"\n\nSet config_path (or KUBE_CONFIG_PATH), or host and credentials, in the kubernetes block.")
		return
	}
	platform, err := newPlatform(restConfig, cfg.FlinkAccess)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("flink_access"), "Cannot configure Flink access", err.Error())
		return
	}
	platform.DefaultNamespace = firstNonEmpty(cfg.DefaultNamespace.ValueString(), os.Getenv("KUBE_NAMESPACE"), "default")
	platform.SnapshotStorageURL = firstNonEmpty(cfg.SnapshotStorageURL.ValueString(), os.Getenv("FLINK_SNAPSHOT_STORAGE_URL"))
	if secret := firstNonEmpty(cfg.StorageCredentials.ValueString(), os.Getenv("FLINK_SNAPSHOT_STORAGE_CREDENTIALS_SECRET")); secret != "" {
		if err := validate.CheckSecretReference(secret); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("snapshot_storage_credentials_secret"), "Invalid Secret reference", err.Error())
			return
		}
		if !strings.HasPrefix(platform.SnapshotStorageURL, "s3://") {
			resp.Diagnostics.AddAttributeError(path.Root("snapshot_storage_credentials_secret"), "Storage credentials need s3:// storage",
				fmt.Sprintf("snapshot_storage_credentials_secret signs requests to s3:// storage, but snapshot_storage_url is %q. "+
					"Remove it, or give gs:// and azblob:// storage its credentials through the environment Terraform runs in.",
					platform.SnapshotStorageURL))
			return
		}
		if !strings.Contains(secret, "/") {
			secret = platform.DefaultNamespace + "/" + secret
		}
		platform.SnapshotStorageCredentialsSecret = secret
	}
	tflog.Debug(ctx, "flink provider configured", map[string]any{
		"kubernetes_host": restConfig.Host, "default_namespace": platform.DefaultNamespace,
	})
	resp.ResourceData = platform
	resp.DataSourceData = platform
}

// connOptions merges the kubernetes block with the KUBE_* environment variables
// terraform-provider-kubernetes users already set in CI.
func connOptions(ctx context.Context, m *kubernetesModel) (kube.ConnOptions, diag.Diagnostics) {
	var diags diag.Diagnostics
	opts := kube.ConnOptions{
		ConfigContext:         stringOr(m.ConfigContext, "KUBE_CTX"),
		ConfigContextAuthInfo: stringOr(m.ConfigContextAuthInfo, "KUBE_CTX_AUTH_INFO"),
		ConfigContextCluster:  stringOr(m.ConfigContextCluster, "KUBE_CTX_CLUSTER"),
		Host:                  stringOr(m.Host, "KUBE_HOST"),
		Token:                 stringOr(m.Token, "KUBE_TOKEN"),
		ClusterCACertificate:  stringOr(m.ClusterCACertificate, "KUBE_CLUSTER_CA_CERT_DATA"),
		ClientCertificate:     stringOr(m.ClientCertificate, "KUBE_CLIENT_CERT_DATA"),
		ClientKey:             stringOr(m.ClientKey, "KUBE_CLIENT_KEY_DATA"),
		QPS:                   float32(m.QPS.ValueInt64()),
		Burst:                 int(m.Burst.ValueInt64()),
	}
	if !m.Insecure.IsNull() {
		opts.Insecure = m.Insecure.ValueBool()
	} else if v, err := strconv.ParseBool(os.Getenv("KUBE_INSECURE")); err == nil {
		opts.Insecure = v
	}
	switch {
	case !m.ConfigPath.IsNull():
		opts.ConfigPaths = []string{m.ConfigPath.ValueString()}
	case !m.ConfigPaths.IsNull():
		diags.Append(m.ConfigPaths.ElementsAs(ctx, &opts.ConfigPaths, false)...)
	case os.Getenv("KUBE_CONFIG_PATH") != "":
		opts.ConfigPaths = []string{os.Getenv("KUBE_CONFIG_PATH")}
	case os.Getenv("KUBE_CONFIG_PATHS") != "":
		opts.ConfigPaths = filepath.SplitList(os.Getenv("KUBE_CONFIG_PATHS"))
	}
	if m.Exec != nil && !m.Exec.Command.IsNull() {
		exec := &kube.ExecOptions{APIVersion: m.Exec.APIVersion.ValueString(), Command: m.Exec.Command.ValueString()}
		diags.Append(m.Exec.Args.ElementsAs(ctx, &exec.Args, false)...)
		diags.Append(m.Exec.Env.ElementsAs(ctx, &exec.Env, false)...)
		opts.Exec = exec
	}
	return opts, diags
}

func stringOr(v types.String, env string) string {
	if !v.IsNull() && !v.IsUnknown() {
		return v.ValueString()
	}
	return os.Getenv(env)
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

func (p *flinkProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		applicationversion.NewResource,
		streamingapplication.NewResource,
		snapshot.NewResource,
	}
}

func (p *flinkProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		applicationversion.NewDataSource,
		streamingapplication.NewDataSource,
		snapshot.NewDataSource,
	}
}
