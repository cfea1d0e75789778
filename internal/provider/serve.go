package provider

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
)

// Address is the provider's registry address.
const Address = "registry.terraform.io/flinkplatform/flink"

// Serve serves newProvider as a plugin process of Terraform or OpenTofu, with the plugin's log
// levels and garbage collector set for a plan's work (below). The provider binary uses it, and
// so does make bench-scale's schema-only provider, so that both are measured alike.
func Serve(ctx context.Context, newProvider func() provider.Provider, debuggable bool) error {
	defaultLogLevels()
	tuneGC()
	defer profileCPU()()
	return providerserver.Serve(ctx, newProvider, providerserver.ServeOpts{Address: Address, Debug: debuggable})
}

// defaultLogLevels sets the levels of the plugin's loggers, where the user left them unset,
// to what Terraform shows: TF_LOG_PROVIDER, else TF_LOG, else nothing (the SDK's
// framework and protocol loggers follow TF_LOG_SDK). terraform-plugin-go's loggers default to
// TRACE, so without this every plan formats thousands of JSON log lines, with the caller's
// location, that Terraform then parses and drops: a third of the provider's CPU time in a
// plan of 50 applications (make bench-scale, BENCHMARKS.md;
// hashicorp/terraform-plugin-framework#1269). The subsystems need their own level: one left
// unset still prepares every line (fields, masking) before its logger drops it.
func defaultLogLevels() {
	shown := strings.ToUpper(os.Getenv("TF_LOG_PROVIDER"))
	if shown == "" {
		shown = strings.ToUpper(os.Getenv("TF_LOG"))
	}
	switch shown {
	case "":
		shown = "OFF"
	case "JSON":
		shown = "TRACE"
	}
	setUnset := func(name, level string) string {
		if v, set := os.LookupEnv(name); set {
			return v
		}
		_ = os.Setenv(name, level)
		return level
	}
	setUnset("TF_LOG_PROVIDER", shown)
	sdk := setUnset("TF_LOG_SDK", shown)
	setUnset("TF_LOG_SDK_FRAMEWORK", sdk)
	setUnset("TF_LOG_SDK_PROTO", sdk)
}

// tuneGC trades memory the plugin has to spare for CPU, unless GOGC or GOMEMLIMIT say
// otherwise. A plan's work is the framework turning each resource's values through its
// schema, which allocates a great deal of short-lived garbage: with Go's default GOGC=100
// the collector took about a third of the provider's CPU in a plan of 500 applications. Let
// the heap grow to 5× what is live, but no further than a soft limit where collection
// turns eager again (make bench-scale measures both: BENCHMARKS.md).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(gcMemoryLimit)
	}
}

// gcMemoryLimit is tuneGC's soft limit of the Go heap.
const gcMemoryLimit = 128 << 20

// profileCPU writes a CPU profile of this plugin process, from start to exit, to
// $FLINK_PROVIDER_CPUPROFILE_DIR/cpu-<pid>.pprof when that is set (make bench-scale sets it:
// terraform starts the plugin several times per plan, each writes its own). It returns the
// function that stops the profile.
func profileCPU() (stop func()) {
	dir := os.Getenv("FLINK_PROVIDER_CPUPROFILE_DIR")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", os.Getpid())))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		log.Printf("cpu profile: %v", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
