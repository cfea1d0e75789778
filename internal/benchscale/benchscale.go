// Package benchscale measures what planning many applications costs (make bench-scale): one
// flink_application_version and one flink_streaming_application per application, on the
// embedded stack with emulated JobManagers, planned by the real terraform CLI, against the
// floor: the same CLI planning as many built-in terraform_data resources, with no provider.
//
// For each size it applies the configuration (the applications added since the last size,
// timed), then plans it several times and takes the median of the plan's wall time, of the
// provider's CPU time (user + system, summed over the plugin processes terraform starts for
// one plan, as the kernel counted them) and the peak RSS of those processes, and counts the
// Kubernetes API and Flink REST requests of one plan per application. It plans the same
// applications again through the schema-only provider (the provider's schemas with its code
// taken out, tools/benchscale/schemaonly) to tell the framework's share from the provider's
// own, and counts terraform's own CPU time in every plan, the floor's included.
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
	"syscall"
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
	Provider    PlanCost      // plans through the provider
	// SchemaOnly is the same plans through the provider's schemas without its code
	// (tools/benchscale/schemaonly): what terraform-plugin-framework spends on them.
	SchemaOnly PlanCost
	Floor      PlanCost // 2×Apps terraform_data resources, no provider: Wall and TerraformCPU
}

// PlanCost is the median cost of a plan.
type PlanCost struct {
	Wall         time.Duration
	ProviderCPU  time.Duration // user + system time of the plugin processes of one plan
	TerraformCPU time.Duration // terraform's own: its CPU and its children's, less the plugins'
	PeakRSS      int64         // bytes: the largest plugin process of any plan
	Plugins      int           // plugin processes terraform started per plan
	// KubeRequests and FlinkRequests are per application per plan. The Kubernetes count is
	// the API server's apiserver_request_total over the plan, so it includes the few
	// requests of the controller manager in that time.
	KubeRequests, FlinkRequests float64
}

// PerApp is the provider's CPU time per application per plan.
func (r Row) PerApp() time.Duration { return r.Provider.ProviderCPU / time.Duration(r.Apps) }

// Ratio is the plan's wall time over the floor's.
func (r Row) Ratio() float64 { return r.Provider.Wall.Seconds() / r.Floor.Wall.Seconds() }

// SchemaOnlyRatio is the schema-only plan's wall time over the floor's: the least plan ÷ floor
// any provider with these schemas reaches on this framework and CLI.
func (r Row) SchemaOnlyRatio() float64 { return r.SchemaOnly.Wall.Seconds() / r.Floor.Wall.Seconds() }

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
	b := &bench{env: env, opts: opts, plugin: env.PluginPath(), rusage: filepath.Join(filepath.Dir(env.Dir()), "plugin-rusage.jsonl")}
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
		if row.Provider, err = b.measurePlans(ctx, n, b.plugin+".real", profile); err != nil {
			return rows, err
		}
		if row.SchemaOnly, err = b.measurePlans(ctx, n, b.plugin+".schemaonly", ""); err != nil {
			return rows, fmt.Errorf("schema-only provider: %w", err)
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
	plugin string // where terraform finds the provider: the rusage wrapper
	rusage string
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.opts.Output, format+"\n", args...)
}

// wrapPlugin puts the rusage wrapper where terraform looks for the provider, the provider
// beside it as <name>.real and the schema-only provider as <name>.schemaonly.
func (b *bench) wrapPlugin(ctx context.Context) error {
	if err := os.Rename(b.plugin, b.plugin+".real"); err != nil {
		return err
	}
	for output, pkg := range map[string]string{
		b.plugin:                 "./tools/benchscale/pluginrusage",
		b.plugin + ".schemaonly": "./tools/benchscale/schemaonly",
	} {
		build := exec.CommandContext(ctx, "go", "build", "-o", output, pkg)
		build.Dir, build.Stdout, build.Stderr = b.opts.Repo, b.opts.Output, b.opts.Output
		if err := build.Run(); err != nil {
			return fmt.Errorf("building %s: %w", pkg, err)
		}
	}
	return nil
}

// measurePlans plans the n applications Plans times with the provider binary and returns the
// medians.
func (b *bench) measurePlans(ctx context.Context, n int, binary, profileDir string) (PlanCost, error) {
	var walls, providerCPUs, terraformCPUs []time.Duration
	var kube, flinkCalls []float64
	cost := PlanCost{}
	env := []string{"BENCH_PLUGIN_RUSAGE=" + b.rusage, "BENCH_PLUGIN_BINARY=" + binary}
	if profileDir != "" {
		if err := os.MkdirAll(profileDir, 0o755); err != nil {
			return cost, err
		}
		env = append(env, "FLINK_PROVIDER_CPUPROFILE_DIR="+profileDir)
	}
	for range b.opts.Plans {
		_ = os.Remove(b.rusage)
		kubeBefore, err := b.kubeRequests(ctx)
		if err != nil {
			return cost, err
		}
		flinkBefore := b.env.Stack.Emulator().Requests()
		var out bytes.Buffer
		cpuBefore := childrenCPU()
		wall, err := b.terraformOut(ctx, &out, env, "plan", "-no-color", "-input=false", "-lock=false", "-detailed-exitcode",
			"-var", fmt.Sprintf("apps=%d", n))
		if err != nil {
			return cost, fmt.Errorf("plan of %d applications (exit status 2 means it was not clean): %w\n%s", n, err, tail(out.String(), 40))
		}
		allCPU := childrenCPU() - cpuBefore
		flinkAfter := b.env.Stack.Emulator().Requests()
		kubeAfter, err := b.kubeRequests(ctx)
		if err != nil {
			return cost, err
		}
		plugins, err := readRusage(b.rusage)
		if err != nil {
			return cost, err
		}
		var cpu time.Duration
		for _, p := range plugins {
			cpu += time.Duration(p.UserNs + p.SystemNs)
			cost.PeakRSS = max(cost.PeakRSS, p.MaxRSSKiB*1024)
		}
		cost.Plugins = len(plugins)
		walls, providerCPUs, terraformCPUs = append(walls, wall), append(providerCPUs, cpu), append(terraformCPUs, allCPU-cpu)
		kube = append(kube, (kubeAfter-kubeBefore)/float64(n))
		flinkCalls = append(flinkCalls, float64(flinkAfter-flinkBefore)/float64(n))
		b.progress("bench-scale: %d applications, %s: plan %.2fs, provider CPU %.2fs in %d plugin processes, terraform CPU %.2fs",
			n, filepath.Ext(binary)[1:], wall.Seconds(), cpu.Seconds(), len(plugins), (allCPU - cpu).Seconds())
	}
	cost.Wall, cost.ProviderCPU, cost.TerraformCPU = median(walls), median(providerCPUs), median(terraformCPUs)
	cost.KubeRequests, cost.FlinkRequests = median(kube), median(flinkCalls)
	return cost, nil
}

// floor applies n×2 terraform_data resources (untimed) and plans them Plans times.
func (b *bench) floor(ctx context.Context, n int) (PlanCost, error) {
	dir := filepath.Join(filepath.Dir(b.env.Dir()), "floor")
	apps := fmt.Sprintf("apps=%d", n)
	if _, err := b.terraformIn(ctx, dir, "apply", "-auto-approve", "-no-color", "-input=false", "-var", apps); err != nil {
		return PlanCost{}, fmt.Errorf("floor apply: %w", err)
	}
	var walls, cpus []time.Duration
	for range b.opts.Plans {
		cpuBefore := childrenCPU()
		wall, err := b.terraformIn(ctx, dir, "plan", "-no-color", "-input=false", "-lock=false", "-detailed-exitcode", "-var", apps)
		if err != nil {
			return PlanCost{}, fmt.Errorf("floor plan: %w", err)
		}
		walls, cpus = append(walls, wall), append(cpus, childrenCPU()-cpuBefore)
	}
	floor := PlanCost{Wall: median(walls), TerraformCPU: median(cpus)}
	b.progress("bench-scale: %d applications: floor (%d terraform_data) plan %.2fs, terraform CPU %.2fs",
		n, 2*n, floor.Wall.Seconds(), floor.TerraformCPU.Seconds())
	return floor, nil
}

// childrenCPU is the user + system time of this process's children that ended and were waited
// for (getrusage RUSAGE_CHILDREN): around one terraform command, what it and everything it
// started used. The stack's servers run on and are not counted.
func childrenCPU() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
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
		"peak RSS %d MiB, %.2f Kubernetes and %.2f Flink requests per app per plan; schema only: plan %.2fs (ratio %.2f), "+
		"provider CPU %.1f ms/app; terraform CPU %.2fs (floor %.2fs); apply of %d new %.1fs",
		r.Apps, r.Provider.Wall.Seconds(), r.Floor.Wall.Seconds(), r.Ratio(), r.Provider.ProviderCPU.Seconds(), ms(r.PerApp()),
		r.Provider.Plugins, r.Provider.PeakRSS>>20, r.Provider.KubeRequests, r.Provider.FlinkRequests,
		r.SchemaOnly.Wall.Seconds(), r.SchemaOnlyRatio(), ms(r.SchemaOnly.ProviderCPU/time.Duration(r.Apps)),
		r.Provider.TerraformCPU.Seconds(), r.Floor.TerraformCPU.Seconds(), r.Added, r.Apply.Seconds())
}

// ms is d in milliseconds, to a tenth.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Table is the rows as the two Markdown tables of BENCHMARKS.md: the plan against its floor,
// then where a plan's CPU time goes.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| apps | plan (median) | floor plan | plan ÷ floor | provider CPU per plan | per app | peak provider RSS | plugin starts | Kubernetes req./app | Flink req./app | apply (new apps) |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %.2f s | %.2f s | %.2f | %.2f s | %.1f ms | %d MiB | %d | %.2f | %.2f | %.1f s (%d) |\n",
			r.Apps, r.Provider.Wall.Seconds(), r.Floor.Wall.Seconds(), r.Ratio(), r.Provider.ProviderCPU.Seconds(), ms(r.PerApp()),
			r.Provider.PeakRSS>>20, r.Provider.Plugins, r.Provider.KubeRequests, r.Provider.FlinkRequests, r.Apply.Seconds(), r.Added)
	}
	b.WriteString("\n| apps | terraform CPU, floor | terraform CPU, provider | provider CPU | schema only: plan | plan ÷ floor | provider CPU | per app |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %.2f s | %.2f s | %.2f s | %.2f s | %.2f | %.2f s | %.1f ms |\n",
			r.Apps, r.Floor.TerraformCPU.Seconds(), r.Provider.TerraformCPU.Seconds(), r.Provider.ProviderCPU.Seconds(),
			r.SchemaOnly.Wall.Seconds(), r.SchemaOnlyRatio(), r.SchemaOnly.ProviderCPU.Seconds(), ms(r.SchemaOnly.ProviderCPU/time.Duration(r.Apps)))
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
