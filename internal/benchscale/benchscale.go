// Package benchscale measures what planning many applications costs (make bench-scale): one
// flink_application_version and one flink_streaming_application per application, on the
// embedded stack with emulated JobManagers, planned by the real terraform CLI, against the
// floor: the same CLI planning as many built-in terraform_data resources, with no provider.
//
// For each size it applies the configuration (the applications added since the last size,
// timed), then plans it several times and takes the median of the plan's wall time, of the
// provider's CPU time (user + system, summed over the plugin processes terraform starts for
// one plan, as the kernel counted them) and the peak RSS of those processes, and counts the
// Kubernetes API and Flink REST requests of one plan per application.
package benchscale

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/acctest/localrun"
)

// Options say what to measure.
type Options struct {
	Sizes []int // numbers of applications, measured in increasing order
	Plans int   // plans per size; the medians are reported
	// Repo is the repository root (the provider is built from it, the plugin wrapper from
	// tools/benchscale/pluginrusage).
	Repo string
	// ProfileDir, when set, receives a CPU profile of every plugin process of the largest
	// size's plans (cpu-<pid>.pprof).
	ProfileDir string
	Output     io.Writer // progress and terraform's output
}

// Row is the measurement of one size.
type Row struct {
	Apps, Added int
	Apply       time.Duration // applying the Added applications
	Plan        time.Duration // median wall time of a plan
	ProviderCPU time.Duration // median provider CPU time of a plan
	PeakRSS     int64         // bytes: the largest plugin process of any plan
	Plugins     int           // plugin processes terraform started per plan
	// KubeRequests and FlinkRequests are per application per plan (median plan). The
	// Kubernetes count is the API server's apiserver_request_total over the plan, so it
	// includes the few requests of the controller manager in that time.
	KubeRequests, FlinkRequests float64
	Floor                       time.Duration // median plan of 2×Apps terraform_data resources
}

// PerApp is the provider's CPU time per application per plan.
func (r Row) PerApp() time.Duration { return r.ProviderCPU / time.Duration(r.Apps) }

// Ratio is the plan's wall time over the floor's.
func (r Row) Ratio() float64 { return r.Plan.Seconds() / r.Floor.Seconds() }

// Run starts the stack, measures every size and stops the stack.
func Run(ctx context.Context, opts Options) (rows []Row, err error) {
	if opts.Plans < 1 {
		return nil, errors.New("benchscale: Plans must be at least 1")
	}
	sizes := slices.Sorted(slices.Values(opts.Sizes))
	env, err := localrun.Start(ctx, opts.Repo, opts.Output)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := env.Close(); err == nil {
			err = stopErr
		}
	}()
	if env.Stack.Emulator() == nil {
		return nil, errors.New("benchscale: the stack runs real Flink; unset FLINK_RUNTIME for emulated JobManagers")
	}
	b := &bench{env: env, opts: opts, rusage: filepath.Join(filepath.Dir(env.Dir()), "plugin-rusage.jsonl")}
	if err := b.wrapPlugin(ctx); err != nil {
		return nil, err
	}
	if err := env.UseConfig([]byte(applicationsConfig)); err != nil {
		return nil, err
	}
	floorDir := filepath.Join(filepath.Dir(env.Dir()), "floor")
	if err := os.MkdirAll(floorDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(floorDir, "main.tf"), []byte(floorConfig), 0o644); err != nil {
		return nil, err
	}
	if _, err := b.terraformIn(ctx, floorDir, "init", "-input=false", "-no-color"); err != nil {
		return nil, err
	}
	applied := 0
	for i, n := range sizes {
		row := Row{Apps: n, Added: n - applied}
		b.progress("bench-scale: %d applications: applying %d new", n, row.Added)
		if row.Apply, err = b.env.Terraform(ctx, "apply", "-auto-approve", "-no-color", "-input=false", "-var", fmt.Sprintf("apps=%d", n)); err != nil {
			return rows, fmt.Errorf("apply of %d applications: %w", n, err)
		}
		applied = n
		profile := ""
		if i == len(sizes)-1 {
			profile = opts.ProfileDir
		}
		if err := b.measurePlans(ctx, &row, profile); err != nil {
			return rows, err
		}
		if row.Floor, err = b.floor(ctx, n); err != nil {
			return rows, err
		}
		b.progress("bench-scale: %s", row)
		rows = append(rows, row)
	}
	return rows, nil
}

type bench struct {
	env    *localrun.Env
	opts   Options
	rusage string
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.opts.Output, format+"\n", args...)
}

// wrapPlugin puts the rusage wrapper where terraform looks for the provider, and the
// provider beside it as <name>.real.
func (b *bench) wrapPlugin(ctx context.Context) error {
	plugin := b.env.PluginPath()
	if err := os.Rename(plugin, plugin+".real"); err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", plugin, "./tools/benchscale/pluginrusage")
	build.Dir, build.Stdout, build.Stderr = b.opts.Repo, b.opts.Output, b.opts.Output
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the plugin wrapper: %w", err)
	}
	return nil
}

// measurePlans plans Plans times and fills in the medians.
func (b *bench) measurePlans(ctx context.Context, row *Row, profileDir string) error {
	var walls, cpus []time.Duration
	var kube, flinkCalls []float64
	env := []string{"BENCH_PLUGIN_RUSAGE=" + b.rusage}
	if profileDir != "" {
		if err := os.MkdirAll(profileDir, 0o755); err != nil {
			return err
		}
		env = append(env, "FLINK_PROVIDER_CPUPROFILE_DIR="+profileDir)
	}
	for range b.opts.Plans {
		_ = os.Remove(b.rusage)
		kubeBefore, err := b.kubeRequests(ctx)
		if err != nil {
			return err
		}
		flinkBefore := b.env.Stack.Emulator().Requests()
		var out bytes.Buffer
		wall, err := b.terraformOut(ctx, &out, env, "plan", "-no-color", "-input=false", "-lock=false", "-detailed-exitcode",
			"-var", fmt.Sprintf("apps=%d", row.Apps))
		if err != nil {
			return fmt.Errorf("plan of %d applications (exit status 2 means it was not clean): %w\n%s", row.Apps, err, tail(out.String(), 40))
		}
		flinkAfter := b.env.Stack.Emulator().Requests()
		kubeAfter, err := b.kubeRequests(ctx)
		if err != nil {
			return err
		}
		plugins, err := readRusage(b.rusage)
		if err != nil {
			return err
		}
		var cpu time.Duration
		for _, p := range plugins {
			cpu += time.Duration(p.UserNs + p.SystemNs)
			row.PeakRSS = max(row.PeakRSS, p.MaxRSSKiB*1024)
		}
		row.Plugins = len(plugins)
		walls, cpus = append(walls, wall), append(cpus, cpu)
		kube = append(kube, (kubeAfter-kubeBefore)/float64(row.Apps))
		flinkCalls = append(flinkCalls, float64(flinkAfter-flinkBefore)/float64(row.Apps))
		b.progress("bench-scale: %d applications: plan %.2fs, provider CPU %.2fs in %d plugin processes",
			row.Apps, wall.Seconds(), cpu.Seconds(), len(plugins))
	}
	row.Plan, row.ProviderCPU = median(walls), median(cpus)
	row.KubeRequests, row.FlinkRequests = median(kube), median(flinkCalls)
	return nil
}

// floor applies n×2 terraform_data resources (untimed) and plans them Plans times.
func (b *bench) floor(ctx context.Context, n int) (time.Duration, error) {
	dir := filepath.Join(filepath.Dir(b.env.Dir()), "floor")
	apps := fmt.Sprintf("apps=%d", n)
	if _, err := b.terraformIn(ctx, dir, "apply", "-auto-approve", "-no-color", "-input=false", "-var", apps); err != nil {
		return 0, fmt.Errorf("floor apply: %w", err)
	}
	var walls []time.Duration
	for range b.opts.Plans {
		wall, err := b.terraformIn(ctx, dir, "plan", "-no-color", "-input=false", "-lock=false", "-detailed-exitcode", "-var", apps)
		if err != nil {
			return 0, fmt.Errorf("floor plan: %w", err)
		}
		walls = append(walls, wall)
	}
	b.progress("bench-scale: %d applications: floor (%d terraform_data) plan %.2fs", n, 2*n, median(walls).Seconds())
	return median(walls), nil
}

// terraformOut runs terraform in the applications' directory, with its output to out.
func (b *bench) terraformOut(ctx context.Context, out io.Writer, env []string, args ...string) (time.Duration, error) {
	saved := b.env.Output
	b.env.Output = out
	defer func() { b.env.Output = saved }()
	return b.env.TerraformEnv(ctx, env, args...)
}

// terraformIn runs terraform in dir (the floor: no provider, no stack variables).
func (b *bench) terraformIn(ctx context.Context, dir string, args ...string) (time.Duration, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(acctest.ToolsBinDir(), "terraform"), args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, &out
	cmd.Env = append(os.Environ(), "TF_IN_AUTOMATION=1")
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("terraform %s: %w\n%s", args[0], err, tail(out.String(), 40))
	}
	return time.Since(start), err
}

// kubeRequests is the API server's count of requests served so far.
func (b *bench) kubeRequests(ctx context.Context) (float64, error) {
	raw, err := b.env.Stack.Kube().CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("API server metrics: %w", err)
	}
	return sumCounter(raw, "apiserver_request_total")
}

// sumCounter sums every sample of counter in Prometheus text exposition.
func sumCounter(exposition []byte, counter string) (float64, error) {
	var sum float64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			name, rest, ok = strings.Cut(line, " ")
		}
		if !ok || name != counter {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s sample %q: %w", counter, line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("no %s in the metrics", counter)
	}
	return sum, sc.Err()
}

type pluginUsage struct {
	UserNs    int64 `json:"user_ns"`
	SystemNs  int64 `json:"system_ns"`
	MaxRSSKiB int64 `json:"maxrss_kib"`
}

func readRusage(path string) ([]pluginUsage, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the plugin wrapper recorded nothing (%w): did terraform start the provider?", err)
	}
	var usages []pluginUsage
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var u pluginUsage
		if err := json.Unmarshal([]byte(line), &u); err != nil {
			return nil, fmt.Errorf("plugin rusage line %q: %w", line, err)
		}
		usages = append(usages, u)
	}
	return usages, nil
}

func median[T time.Duration | float64](values []T) T {
	s := slices.Sorted(slices.Values(values))
	return s[len(s)/2]
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

func (r Row) String() string {
	return fmt.Sprintf("%d applications: plan %.2fs (floor %.2fs, ratio %.2f), provider CPU %.2fs (%.1f ms/app) in %d processes, "+
		"peak RSS %d MiB, %.2f Kubernetes and %.2f Flink requests per app per plan; apply of %d new %.1fs",
		r.Apps, r.Plan.Seconds(), r.Floor.Seconds(), r.Ratio(), r.ProviderCPU.Seconds(), float64(r.PerApp().Microseconds())/1000,
		r.Plugins, r.PeakRSS>>20, r.KubeRequests, r.FlinkRequests, r.Added, r.Apply.Seconds())
}

// Table is the rows as the Markdown table of BENCHMARKS.md.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| apps | plan (median) | floor plan | plan ÷ floor | provider CPU per plan | per app | peak provider RSS | plugin starts | Kubernetes req./app | Flink req./app | apply (new apps) |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %.2f s | %.2f s | %.2f | %.2f s | %.1f ms | %d MiB | %d | %.2f | %.2f | %.1f s (%d) |\n",
			r.Apps, r.Plan.Seconds(), r.Floor.Seconds(), r.Ratio(), r.ProviderCPU.Seconds(), float64(r.PerApp().Microseconds())/1000,
			r.PeakRSS>>20, r.Plugins, r.KubeRequests, r.FlinkRequests, r.Apply.Seconds(), r.Added)
	}
	return b.String()
}

// applicationsConfig is apps applications, each a version and an application running it. It
// declares the quickstart's provider variables (localrun passes them).
const applicationsConfig = `
terraform {
  required_providers {
    flink = {
      source = "flinkplatform/flink"
    }
  }
}

variable "apps" {
  type = number
}
variable "kubeconfig" {
  type = string
}
variable "snapshot_storage_url" {
  type = string
}
variable "flink_access_mode" {
  type    = string
  default = "proxy"
}
variable "storage_flink_configuration" {
  type    = map(string)
  default = {}
}
variable "storage_credentials_secret" {
  type    = string
  default = null
}

provider "flink" {
  snapshot_storage_url = var.snapshot_storage_url
  kubernetes {
    config_path = var.kubeconfig
  }
  flink_access {
    mode = var.flink_access_mode
  }
}

locals {
  apps = toset([for i in range(var.apps) : format("app-%04d", i)])
}

resource "flink_application_version" "v1" {
  for_each = local.apps

  application   = each.key
  namespace     = "default"
  version       = "v1"
  image         = "flink:1.20.1"
  jar_uri       = "local:///opt/flink/usrlib/job.jar"
  entry_class   = "com.example.Job"
  flink_version = "1.20"
  parallelism   = 1
}

resource "flink_streaming_application" "app" {
  for_each = local.apps

  name       = each.key
  namespace  = "default"
  version_id = flink_application_version.v1[each.key].id
}
`

// floorConfig is the same number of resources with no provider: 2 terraform_data per app.
const floorConfig = `
variable "apps" {
  type = number
}

locals {
  apps = toset([for i in range(var.apps) : format("app-%04d", i)])
}

resource "terraform_data" "v1" {
  for_each = local.apps
  input    = each.key
}

resource "terraform_data" "app" {
  for_each = local.apps
  input    = terraform_data.v1[each.key].output
}
`
