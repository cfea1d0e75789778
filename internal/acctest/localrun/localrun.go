// Package localrun drives the terraform CLI against the provider built from this repository
// on an embedded local stack (the acctest harness), for `make demo` and the upgrade benchmark.
package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// Namespace is where the quickstart runs (its namespace variable's default).
const Namespace = "default"

// Env is a running stack with the quickstart configuration ready to apply.
type Env struct {
	Stack *acctest.Stack
	Kube  *kube.Client
	// Provider is the identity terraform runs the provider as: the RBAC guide's Role for
	// mode "direct" in namespace default, as a platform team would set it up.
	Provider *acctest.ProviderIdentity
	dir      string
	rc       string
	vars     []string
	env      []string // for terraform, after the process environment
	Output   io.Writer
}

// Start starts the stack, builds the provider from repo and copies examples/quickstart.
func Start(ctx context.Context, repo string, output io.Writer) (*Env, error) {
	work, err := os.MkdirTemp("", "flink-localrun-")
	if err != nil {
		return nil, err
	}
	stack, err := acctest.StartStack(ctx, acctest.Options{SetEnv: true, Progress: output})
	if err != nil {
		return nil, err
	}
	e := &Env{Stack: stack, Kube: &kube.Client{Kube: stack.Kube()}, dir: filepath.Join(work, "quickstart"), Output: output}
	if err := e.prepare(ctx, repo, work); err != nil {
		_ = stack.Stop()
		return nil, err
	}
	return e, nil
}

func (e *Env) prepare(ctx context.Context, repo, work string) error {
	fmt.Fprintln(e.Output, "localrun: building the provider")
	plugins := filepath.Join(work, "plugins")
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(plugins, "terraform-provider-flink"), ".")
	build.Dir, build.Stdout, build.Stderr = repo, e.Output, e.Output
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the provider: %w", err)
	}
	// dev_overrides: terraform uses the binary just built, no registry and no init.
	e.rc = filepath.Join(work, "terraformrc")
	rc := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"flinkplatform/flink\" = %q\n  }\n  direct {}\n}\n", plugins)
	if err := os.WriteFile(e.rc, []byte(rc), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return err
	}
	main, err := os.ReadFile(filepath.Join(repo, "examples", "quickstart", "main.tf"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(e.dir, "main.tf"), main, 0o644); err != nil {
		return err
	}
	snapshots := filepath.Join(e.Stack.Dir(), "snapshots")
	if err := os.MkdirAll(snapshots, 0o755); err != nil {
		return err
	}
	if e.Provider, err = e.Stack.NewProviderIdentity(ctx, Namespace, acctest.ProviderRoleRules()); err != nil {
		return err
	}
	e.vars = []string{"-var", "kubeconfig=" + e.Provider.Kubeconfig, "-var", "snapshot_storage_url=file://" + snapshots,
		"-var", "flink_access_mode=direct"}
	if e.Stack.Node() != nil {
		// The real node: the provider's default access mode and S3, as on a cluster.
		conf, secret, err := e.Stack.FlinkStorage(ctx, Namespace)
		if err != nil {
			return err
		}
		confJSON, err := json.Marshal(conf)
		if err != nil {
			return err
		}
		e.vars = []string{"-var", "kubeconfig=" + e.Provider.Kubeconfig, "-var", "snapshot_storage_url=" + e.Stack.StorageURL(),
			"-var", "storage_flink_configuration=" + string(confJSON), "-var", "storage_credentials_secret=" + secret}
		// The provider takes the S3 keys from that Secret (snapshot_storage_credentials_secret),
		// as Flink does: none in terraform's environment, as on a runner without them.
		e.env = []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
			"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull, "AWS_CONFIG_FILE=" + os.DevNull}
	}
	return nil
}

// Terraform runs the terraform CLI on the quickstart with the stack's variables and more
// args, echoing its output, and returns how long it took.
func (e *Env) Terraform(ctx context.Context, args ...string) (time.Duration, error) {
	return e.TerraformEnv(ctx, nil, args...)
}

// TerraformEnv is Terraform with extra environment variables (e.g. TF_LOG).
func (e *Env) TerraformEnv(ctx context.Context, env []string, args ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(acctest.ToolsBinDir(), "terraform"), append(args, e.vars...)...)
	cmd.Dir = e.dir
	cmd.Env = slices.Concat(os.Environ(), []string{"TF_CLI_CONFIG_FILE=" + e.rc, "TF_IN_AUTOMATION=1"}, e.env, env)
	cmd.Stdout, cmd.Stderr = e.Output, e.Output
	start := time.Now()
	err := cmd.Run()
	return time.Since(start), err
}

// Apply applies the quickstart running version label ("v1" or "v2").
func (e *Env) Apply(ctx context.Context, label string) (time.Duration, error) {
	return e.Terraform(ctx, "apply", "-auto-approve", "-no-color", "-var", "version_label="+label)
}

// RestBase is the REST URL of the quickstart application's JobManager (via the proxy).
func (e *Env) RestBase() string { return "http://" + kube.RestHost("counter", Namespace) + ":8081" }

// Counter waits until the quickstart job reports its fixture counter above min.
func (e *Env) Counter(ctx context.Context, min int64) (acctest.FixtureCount, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var count acctest.FixtureCount
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		record, _, err := records.New(e.Kube).GetAppRecord(ctx, Namespace, "counter")
		if err != nil {
			return false, err
		}
		c, err := acctest.ReadFixtureCount(ctx, nil, e.RestBase(), record.JobID)
		if err != nil {
			return false, nil // Flink has not fetched the metric yet
		}
		count = c
		return c.Counted > min, nil
	}, flink.IsRetryable)
	if err != nil {
		return count, fmt.Errorf("reading the job's counter: %w", err)
	}
	return count, nil
}

// SnapshotTrail lists the quickstart application's snapshot records, newest first.
func (e *Env) SnapshotTrail(ctx context.Context) (string, error) {
	trail, err := records.New(e.Kube).ListSnapshotRecords(ctx, Namespace, records.SnapshotFilter{Application: "counter"})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range trail {
		fmt.Fprintf(&b, "    %-38s origin=%-8s version=%-3s %s\n", s.Name, s.Origin, s.VersionLabel, s.Path)
	}
	return b.String(), nil
}

// Close stops the stack.
func (e *Env) Close() error { return e.Stack.Stop() }

// Dir is the directory terraform runs in (main.tf, the state).
func (e *Env) Dir() string { return e.dir }

// PluginPath is the provider binary terraform starts (through dev_overrides).
func (e *Env) PluginPath() string {
	return filepath.Join(filepath.Dir(e.rc), "plugins", "terraform-provider-flink")
}

// UseConfig replaces the quickstart's main.tf with main, a configuration that declares the
// quickstart's provider variables (kubeconfig, snapshot_storage_url, flink_access_mode,
// storage_flink_configuration, storage_credentials_secret) whether it uses them or not.
func (e *Env) UseConfig(main []byte) error {
	return os.WriteFile(filepath.Join(e.dir, "main.tf"), main, 0o644)
}
