// Command bench measures the savepoint upgrade on real Flink: it applies the quickstart, then
// upgrades back and forth between v1 and v2 -runs times. For each upgrade it reports the
// apply's wall time split, from the provider's own progress log (TF_LOG=INFO), into
//
//	savepoint  stop-with-savepoint requested → savepoint completed and recorded
//	redeploy   → records written and the new objects applied
//	start      → the new pods up and the new job RUNNING with all its tasks, restored
//	finish     → the rollout checked, records, retention
//	terraform  the rest: the CLI's refresh, plan and state handling around the provider
//
// and the job's downtime: from the stop request to the new job's tasks all RUNNING
// (savepoint + redeploy + start). Its floor is what Flink itself must spend: the savepoint,
// and the new job's own start (from its submission in the new JobManager, Flink's start-time,
// to all tasks RUNNING); the rest of the downtime is the new JVMs starting and the provider.
// It also reports the new job's slot wait: the longest any of its tasks waited for a slot
// (Flink's SCHEDULED → DEPLOYING), the most that TaskManagers started before the old job stops
// could take off the downtime (a TaskManager already registered offers its slots at once).
// BENCHMARKS.md records a run. Usage: `make bench` (FLINK_RUNTIME=real).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/acctest/localrun"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
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

// phases are the provider's progress lines that start each phase of an upgrade, in the
// order the provider logs them; the last phase ends with its last progress line.
var phases = []struct{ name, marker string }{
	{"savepoint", ": stopping job "}, // "<app>: stopping job <id> with a savepoint"
	{"redeploy", " recorded as "},    // "<app>: snapshot <path> recorded as <name>"
	{"start", "waiting for job"},     // "<app>: waiting for job <id> to run"
	{"finish", "waiting for the JobManager and TaskManager rollout"},
}

type sample struct {
	wall  time.Duration
	phase map[string]time.Duration
	// downtime is from the stop request to the new job's tasks all RUNNING; jobStart is the
	// part of it from the new job's submission (Flink's start-time) on.
	downtime, jobStart time.Duration
	slotWait           time.Duration
}

func (s sample) provider() time.Duration {
	return s.phase["savepoint"] + s.phase["redeploy"] + s.phase["start"] + s.phase["finish"]
}

// floor is the downtime Flink itself needs: the savepoint and the new job's own start.
func (s sample) floor() time.Duration { return s.phase["savepoint"] + s.jobStart }

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
		wall, err := env.TerraformEnv(ctx, []string{"TF_LOG=INFO", "TF_LOG_PATH=" + logFile},
			append([]string{"apply", "-auto-approve", "-no-color", "-var", "version_label=" + label}, allow...)...)
		if err != nil {
			return err
		}
		job, err := currentJob(ctx, env)
		if err != nil {
			return err
		}
		s, err := measure(logFile, time.UnixMilli(job.StartTime))
		if err != nil {
			return err
		}
		if s.slotWait, err = jobSlotWait(ctx, env.RestBase(), job); err != nil {
			return err
		}
		s.wall = wall
		samples = append(samples, s)
		fmt.Printf("upgrade %d to %s: apply %5.1fs = savepoint %4.1fs + redeploy %4.1fs + start %4.1fs + finish %4.1fs + terraform %4.1fs"+
			" | downtime %4.1fs, floor %4.1fs (savepoint + job start %4.1fs), downtime/floor %.2f, slot wait %4.2fs\n",
			i+1, label, wall.Seconds(), s.phase["savepoint"].Seconds(), s.phase["redeploy"].Seconds(), s.phase["start"].Seconds(),
			s.phase["finish"].Seconds(), (wall - s.provider()).Seconds(), s.downtime.Seconds(), s.floor().Seconds(), s.jobStart.Seconds(),
			s.downtime.Seconds()/s.floor().Seconds(), s.slotWait.Seconds())
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].downtime < samples[j].downtime })
	m := samples[len(samples)/2]
	fmt.Printf("median of %d (by downtime): apply %.1fs; downtime %.1fs, floor %.1fs (savepoint %.1fs + job start %.1fs); downtime/floor %.2f; slot wait %.2fs\n",
		len(samples), m.wall.Seconds(), m.downtime.Seconds(), m.floor().Seconds(), m.phase["savepoint"].Seconds(), m.jobStart.Seconds(),
		m.downtime.Seconds()/m.floor().Seconds(), m.slotWait.Seconds())
	return nil
}

// currentJob is the application's current job as its JobManager reports it (its start-time
// is when it was submitted there).
func currentJob(ctx context.Context, env *localrun.Env) (flink.JobDetails, error) {
	record, _, err := records.New(env.Kube).GetAppRecord(ctx, localrun.Namespace, "counter")
	if err != nil {
		return flink.JobDetails{}, err
	}
	job, err := flink.New("counter", env.RestBase(), nil).Job(ctx, record.JobID)
	if err != nil {
		return job, fmt.Errorf("job %s: %w", record.JobID, err)
	}
	return job, nil
}

// subtaskTimes is Flink's /jobs/:id/vertices/:vid/subtasktimes: when each subtask of a vertex
// entered each execution state (epoch milliseconds).
type subtaskTimes struct {
	Subtasks []struct {
		Timestamps map[string]int64 `json:"timestamps"`
	} `json:"subtasks"`
}

// jobSlotWait asks Flink how long the job's tasks waited for slots.
func jobSlotWait(ctx context.Context, restBase string, job flink.JobDetails) (time.Duration, error) {
	var vertices []subtaskTimes
	for _, v := range job.Vertices {
		var times subtaskTimes
		u := fmt.Sprintf("%s/jobs/%s/vertices/%s/subtasktimes", restBase, url.PathEscape(job.JID), url.PathEscape(v.ID))
		if err := acctest.GetJSON(ctx, nil, u, &times); err != nil {
			return 0, err
		}
		vertices = append(vertices, times)
	}
	return longestSlotWait(vertices)
}

// longestSlotWait is the longest any subtask spent from SCHEDULED (it asked for a slot) to
// DEPLOYING (it got one).
func longestSlotWait(vertices []subtaskTimes) (time.Duration, error) {
	longest, subtasks := time.Duration(0), 0
	for _, v := range vertices {
		for _, st := range v.Subtasks {
			scheduled, deploying := st.Timestamps["SCHEDULED"], st.Timestamps["DEPLOYING"]
			if scheduled <= 0 || deploying < scheduled {
				return 0, fmt.Errorf("a subtask without SCHEDULED and DEPLOYING times in order: %v", st.Timestamps)
			}
			longest, subtasks = max(longest, time.Duration(deploying-scheduled)*time.Millisecond), subtasks+1
		}
	}
	if subtasks == 0 {
		return 0, errors.New("the job has no subtasks")
	}
	return longest, nil
}

var logLine = regexp.MustCompile(`^(\S+) \[INFO\]\s+provider\.terraform-provider-flink: (.*)$`)

// measure reads the provider's progress lines from a TF_LOG file: how long each phase took
// (the last one ends with the last progress line), the downtime (from the stop request to the
// start of "finish", when the new job's tasks all run) and the part of it from the new job's
// submission, at submitted.
func measure(path string, submitted time.Time) (sample, error) {
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
		if to.Before(from) {
			return s, fmt.Errorf("%s: the %q line comes after the next phase's: the provider's progress lines changed order", path, p.marker)
		}
		s.phase[p.name] = to.Sub(from)
	}
	running := marks["finish"]
	s.downtime = running.Sub(marks["savepoint"])
	s.jobStart = running.Sub(submitted)
	if submitted.Before(marks["redeploy"]) || s.jobStart <= 0 {
		return s, fmt.Errorf("%s: the new job's start-time %s is not between the savepoint (%s) and its tasks running (%s)",
			path, submitted.Format(time.RFC3339Nano), marks["redeploy"].Format(time.RFC3339Nano), running.Format(time.RFC3339Nano))
	}
	return s, nil
}
