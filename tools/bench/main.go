// Command bench measures the savepoint upgrade on real Flink: it applies the quickstart, then
// upgrades back and forth between v1 and v2 -runs times, and for each upgrade reports the
// apply's wall time next to the time Flink itself spent:
//
//	savepoint  the old job's stop-with-savepoint, from Flink's trigger to the job FINISHED
//	start      the new job, from INITIALIZING (its JobManager submitted it) to RUNNING
//
// and their ratio. The rest is terraform's own work, pod rollout and JVM start, and the
// provider's polling. BENCHMARKS.md records a run. Usage: `make bench` (FLINK_RUNTIME=real).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest/localrun"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
)

func main() {
	runs := flag.Int("runs", 5, "upgrades to measure")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *runs); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type sample struct {
	wall, savepoint, start time.Duration
}

func run(ctx context.Context, runs int) error {
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	log, err := os.CreateTemp("", "flink-bench-*.log")
	if err != nil {
		return err
	}
	defer log.Close()
	fmt.Printf("bench: terraform output goes to %s\n", log.Name())
	env, err := localrun.Start(ctx, repo, io.MultiWriter(log))
	if err != nil {
		return err
	}
	defer env.Close()
	if !env.Stack.RealFlink() {
		return fmt.Errorf("run with FLINK_RUNTIME=real: the benchmark measures real Flink")
	}
	allow := []string{"-var", "allow_non_restored_state=true"}
	if _, err := env.Terraform(ctx, append([]string{"apply", "-auto-approve", "-no-color", "-var", "version_label=v1"}, allow...)...); err != nil {
		return err
	}
	client := flink.New("default/counter", env.RestBase(), nil)
	var samples []sample
	for i := 0; i < runs; i++ {
		label := []string{"v2", "v1"}[i%2]
		if _, err := env.Counter(ctx, 0); err != nil { // the job runs and counts before each upgrade
			return err
		}
		record, _, err := env.Kube.GetAppRecord(ctx, "default", "counter")
		if err != nil {
			return err
		}
		watch := watchSavepoint(ctx, client, record.JobID)
		wall, err := env.Terraform(ctx, append([]string{"apply", "-auto-approve", "-no-color", "-var", "version_label=" + label}, allow...)...)
		if err != nil {
			return err
		}
		savepoint := watch()
		record, _, err = env.Kube.GetAppRecord(ctx, "default", "counter")
		if err != nil {
			return err
		}
		job, err := client.Job(ctx, record.JobID)
		if err != nil {
			return err
		}
		start := time.Duration(job.Timestamps["RUNNING"]-job.Timestamps["INITIALIZING"]) * time.Millisecond
		s := sample{wall: wall, savepoint: savepoint, start: start}
		samples = append(samples, s)
		fmt.Printf("upgrade %d to %s: apply %6.1fs | flink: savepoint %5.1fs + start %5.1fs = %5.1fs | ratio %.1f\n",
			i+1, label, s.wall.Seconds(), s.savepoint.Seconds(), s.start.Seconds(), (s.savepoint + s.start).Seconds(),
			s.wall.Seconds()/(s.savepoint+s.start).Seconds())
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].wall < samples[j].wall })
	m := samples[len(samples)/2]
	fmt.Printf("median of %d: apply %.1fs, flink %.1fs (savepoint %.1fs, start %.1fs), ratio %.1f\n", len(samples),
		m.wall.Seconds(), (m.savepoint + m.start).Seconds(), m.savepoint.Seconds(), m.start.Seconds(),
		m.wall.Seconds()/(m.savepoint+m.start).Seconds())
	return nil
}

// watchSavepoint polls the old job while the apply stops it and returns a function that
// gives how long Flink took: from the savepoint's trigger to the job FINISHED.
func watchSavepoint(ctx context.Context, client *flink.Client, jobID string) func() time.Duration {
	ctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	var took time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			job, err1 := client.Job(ctx, jobID)
			stats, err2 := client.Checkpoints(ctx, jobID)
			if err1 == nil && err2 == nil && job.Timestamps["FINISHED"] > 0 && stats.Latest.Savepoint != nil {
				mu.Lock()
				took = time.Duration(job.Timestamps["FINISHED"]-stats.Latest.Savepoint.TriggerTimestamp) * time.Millisecond
				mu.Unlock()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return func() time.Duration {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return took
	}
}
