// Command benchscale measures the cost of planning many applications against the floor (the
// same terraform planning as many terraform_data resources): make bench-scale, see
// BENCHMARKS.md and internal/benchscale.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/flinkplatform/terraform-provider-flink/internal/benchscale"
)

func main() {
	sizes := flag.String("sizes", "50,200,500", "numbers of applications, comma-separated")
	plans := flag.Int("plans", 3, "plans per size (medians are reported)")
	profile := flag.String("profile", "", "directory for CPU profiles of the provider during the largest size's plans")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *sizes, *plans, *profile); err != nil {
		fmt.Fprintf(os.Stderr, "bench-scale: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, sizeList string, plans int, profileDir string) error {
	var sizes []int
	for _, s := range strings.Split(sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-sizes: %q is not a number of applications", s)
		}
		sizes = append(sizes, n)
	}
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	if profileDir != "" {
		if profileDir, err = filepath.Abs(profileDir); err != nil {
			return err
		}
		_ = os.RemoveAll(profileDir) // only this run's profiles
	}
	rows, err := benchscale.Run(ctx, benchscale.Options{Sizes: sizes, Plans: plans, Repo: repo, ProfileDir: profileDir, Output: os.Stderr})
	if err != nil {
		return err
	}
	cores, _ := exec.Command("nproc").Output()
	fmt.Printf("\nterraform plan of N applications (one flink_application_version + one flink_streaming_application each), "+
		"%d plans per size, on %s cores:\n\n%s", plans, strings.TrimSpace(string(cores)), benchscale.Table(rows))
	if profileDir == "" {
		return nil
	}
	profiles, _ := filepath.Glob(filepath.Join(profileDir, "cpu-*.pprof"))
	if len(profiles) == 0 {
		return fmt.Errorf("no CPU profiles in %s", profileDir)
	}
	fmt.Printf("\nWhere the provider's CPU time goes during the %d-application plans (%d plugin processes, go tool pprof -top):\n\n",
		rows[len(rows)-1].Apps, len(profiles))
	top := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof", "-top", "-nodecount=30"}, profiles...)...)
	top.Stdout, top.Stderr = os.Stdout, os.Stderr
	return top.Run()
}
