// Command bench measures the savepoint upgrade on real Flink: it applies the quickstart, then
// upgrades back and forth between v1 and v2 -runs times. For each upgrade it reports the
// apply's wall time and splits it, from the provider's own progress log (TF_LOG=INFO), into
//
//	savepoint  stop-with-savepoint requested → savepoint completed and recorded
//	rollout    new objects applied → JobManager and TaskManager pods up (process start)
//	job start  → the new job and all its tasks RUNNING, restored from the savepoint
//	terraform  the rest: the CLI's refresh, plan and state handling around the provider
//
// Flink's own time is savepoint + rollout + job start (the JVMs starting and the job
// restoring); the ratio is the apply's wall time over it. BENCHMARKS.md records a run.
// Usage: `make bench` (FLINK_RUNTIME=real).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest/localrun"
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

// phases are the provider's progress lines that start each measured phase, in order.
var phases = []struct{ name, marker string }{
	{"savepoint", "stopping job"},
	{"rollout", "waiting for the JobManager and TaskManager rollout"},
	{"job start", "waiting for job"},
}

type sample struct {
	wall  time.Duration
	phase map[string]time.Duration
}

func (s sample) flink() time.Duration {
	return s.phase["savepoint"] + s.phase["rollout"] + s.phase["job start"]
}

func run(ctx context.Context, runs int) (err error) {
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	out, err := os.CreateTemp("", "flink-bench-*.log")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	fmt.Printf("bench: terraform output in %s\n", out.Name())
	env, err := localrun.Start(ctx, repo, out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, env.Close()) }()
	if !env.Stack.RealFlink() {
		return fmt.Errorf("run with FLINK_RUNTIME=real: the benchmark measures real Flink")
	}
	// v1 lacks v2's extra operator, so going back from v2 to v1 needs allow_non_restored_state.
	allow := []string{"-var", "allow_non_restored_state=true"}
	if _, err := env.Terraform(ctx, append([]string{"apply", "-auto-approve", "-no-color", "-var", "version_label=v1"}, allow...)...); err != nil {
		return err
	}
	var samples []sample
	for i := 0; i < runs; i++ {
		label := []string{"v2", "v1"}[i%2]
		if _, err := env.Counter(ctx, 0); err != nil { // the job runs and counts before each upgrade
			return err
		}
		logFile := fmt.Sprintf("%s.apply-%d.tflog", out.Name(), i+1)
		start := time.Now()
		wall, err := env.TerraformEnv(ctx, []string{"TF_LOG=INFO", "TF_LOG_PATH=" + logFile},
			append([]string{"apply", "-auto-approve", "-no-color", "-var", "version_label=" + label}, allow...)...)
		if err != nil {
			return err
		}
		s, err := measure(logFile, start, start.Add(wall))
		if err != nil {
			return err
		}
		s.wall = wall
		samples = append(samples, s)
		fmt.Printf("upgrade %d to %s: apply %5.1fs = savepoint %4.1fs + rollout %4.1fs + job start %4.1fs + terraform %4.1fs | ratio %.2f\n",
			i+1, label, wall.Seconds(), s.phase["savepoint"].Seconds(), s.phase["rollout"].Seconds(), s.phase["job start"].Seconds(),
			(wall - s.flink()).Seconds(), wall.Seconds()/s.flink().Seconds())
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].wall < samples[j].wall })
	m := samples[len(samples)/2]
	fmt.Printf("median of %d: apply %.1fs, of which Flink (savepoint + rollout + job start) %.1fs; ratio %.2f\n",
		len(samples), m.wall.Seconds(), m.flink().Seconds(), m.wall.Seconds()/m.flink().Seconds())
	return nil
}

var logLine = regexp.MustCompile(`^(\S+) \[INFO\]\s+provider\.terraform-provider-flink: (.*)$`)

// measure reads the provider's progress lines from a TF_LOG file and returns how long each
// phase took; the last phase ends with the provider's last progress line.
func measure(path string, start, end time.Time) (sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return sample{}, err
	}
	defer func() { _ = f.Close() }() // read only
	marks := map[string]time.Time{}
	var last time.Time
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		m := logLine.FindStringSubmatch(scanner.Text())
		if m == nil {
			continue
		}
		at, err := time.Parse("2006-01-02T15:04:05.000Z0700", m[1])
		if err != nil {
			continue
		}
		for _, p := range phases {
			if _, seen := marks[p.name]; !seen && strings.Contains(m[2], p.marker) {
				marks[p.name] = at
			}
		}
		last = at
	}
	if err := scanner.Err(); err != nil && err != io.EOF {
		return sample{}, err
	}
	s := sample{phase: map[string]time.Duration{}}
	for i, p := range phases {
		from, ok := marks[p.name]
		if !ok {
			return s, fmt.Errorf("%s: no %q line in the provider log", path, p.marker)
		}
		to := last
		if i+1 < len(phases) {
			to = marks[phases[i+1].name]
		}
		s.phase[p.name] = to.Sub(from)
	}
	return s, nil
}
