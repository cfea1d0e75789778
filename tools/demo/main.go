// Command demo runs the quickstart (examples/quickstart) on an embedded local stack: a real
// kube-apiserver, etcd and kube-controller-manager, the test node agent running Flink pods as
// local processes, and a loopback proxy standing in for cluster DNS. It applies version v1,
// shows the plan for v2 (planned_operation and its words), applies it, and prints the snapshot
// trail and the job's counter before and after the upgrade.
//
// Run it with `make demo`. DEMO_KEEP=1 keeps the stack running until Ctrl-C.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: FAILED: %v\n", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

// PIDFile lets `make demo-down` stop a stack that DEMO_KEEP left running.
var PIDFile = filepath.Join(os.TempDir(), "terraform-provider-flink-demo.pid")

func run(ctx context.Context) error {
	if err := os.WriteFile(PIDFile, []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		return err
	}
	defer os.Remove(PIDFile)
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "flink-demo-")
	if err != nil {
		return err
	}

	say("Starting the local stack (kube-apiserver, etcd, kube-controller-manager, node agent, proxy)")
	stack, err := acctest.StartStack(ctx, acctest.Options{SetEnv: true})
	if err != nil {
		return err
	}
	defer func() {
		if os.Getenv("DEMO_KEEP") != "" && ctx.Err() == nil {
			say("DEMO_KEEP is set: the stack keeps running (kubeconfig %s). Ctrl-C stops it.", stack.KubeconfigPath())
			<-ctx.Done()
		}
		say("Stopping the local stack")
		_ = stack.Stop()
	}()
	if stack.RealFlink() {
		fmt.Println("    Flink pods run as real Flink JVMs (FLINK_RUNTIME=real)")
	} else {
		fmt.Println("    Flink pods run in the flinktest emulator (FLINK_RUNTIME is not \"real\"): no counter to show")
	}

	say("Building the provider")
	pluginDir := filepath.Join(work, "plugins")
	if err := command(ctx, repo, nil, "go", "build", "-o", filepath.Join(pluginDir, "terraform-provider-flink"), ".").Run(); err != nil {
		return fmt.Errorf("building the provider: %w", err)
	}
	rc := filepath.Join(work, "terraformrc")
	if err := os.WriteFile(rc, []byte(fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"flinkplatform/flink\" = %q\n  }\n  direct {}\n}\n", pluginDir)), 0o644); err != nil {
		return err
	}
	config := filepath.Join(work, "quickstart")
	if err := os.MkdirAll(config, 0o755); err != nil {
		return err
	}
	mainTF, err := os.ReadFile(filepath.Join(repo, "examples", "quickstart", "main.tf"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(config, "main.tf"), mainTF, 0o644); err != nil {
		return err
	}

	snapshots := filepath.Join(stack.Dir(), "snapshots")
	if err := os.MkdirAll(snapshots, 0o755); err != nil {
		return err
	}
	vars := []string{
		"-var", "kubeconfig=" + stack.KubeconfigPath(),
		"-var", "snapshot_storage_url=file://" + snapshots,
	}
	terraform := filepath.Join(acctest.ToolsBinDir(), "terraform")
	env := []string{"TF_CLI_CONFIG_FILE=" + rc, "TF_IN_AUTOMATION=1"}
	tf := func(args ...string) (string, error) {
		var out strings.Builder
		cmd := command(ctx, config, env, terraform, args...)
		cmd.Stdout = io.MultiWriter(&out, os.Stdout)
		err := cmd.Run()
		return out.String(), err
	}

	kubeClient := &kube.Client{Kube: stack.Kube()}
	restBase := "http://" + kube.RestHost("counter", "default") + ":8081"

	say("terraform apply: version v1")
	if _, err := tf(append([]string{"apply", "-auto-approve", "-no-color", "-var", "version_label=v1"}, vars...)...); err != nil {
		return err
	}
	before, err := waitCounter(ctx, kubeClient, restBase, 0)
	if err != nil {
		return err
	}
	say("The v1 job has counted %d events; letting it run a few seconds more", before)
	time.Sleep(5 * time.Second)
	before, err = waitCounter(ctx, kubeClient, restBase, before)
	if err != nil {
		return err
	}
	fmt.Printf("    counter before the upgrade: %d\n", before)

	say("terraform plan: version v2 (see planned_operation and the warning)")
	if _, err := tf(append([]string{"plan", "-no-color", "-var", "version_label=v2"}, vars...)...); err != nil {
		return err
	}

	say("terraform apply: version v2")
	start := time.Now()
	if _, err := tf(append([]string{"apply", "-auto-approve", "-no-color", "-var", "version_label=v2"}, vars...)...); err != nil {
		return err
	}
	fmt.Printf("    upgrade applied in %s\n", time.Since(start).Round(100*time.Millisecond))

	after, err := waitCounter(ctx, kubeClient, restBase, 0)
	if err != nil {
		return err
	}
	say("Counter after the upgrade: %d (before: %d) — v2 continued from v1's savepoint", after, before)
	if after < before {
		return fmt.Errorf("the v2 job counted %d < %d: it did not restore v1's state", after, before)
	}

	say("Snapshot trail (kubectl get cm -l flink.flinkplatform.io/record=snapshot)")
	trail, err := kubeClient.ListSnapshotRecords(ctx, "default", kube.SnapshotFilter{Application: "counter"})
	if err != nil {
		return err
	}
	for _, s := range trail {
		fmt.Printf("    %-40s origin=%-8s version=%-3s %s\n", s.Name, s.Origin, s.VersionLabel, s.Path)
	}
	say("Done. The whole product, end to end: plan named the operation, apply took the savepoint, recorded it, and v2 restored it.")
	return nil
}

// waitCounter waits until the application's current job reports its counter above min and
// returns it.
func waitCounter(ctx context.Context, k *kube.Client, restBase string, min int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var value int64
	err := flink.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		record, _, err := k.GetAppRecord(ctx, "default", "counter")
		if err != nil {
			return false, err
		}
		count, err := acctest.ReadFixtureCount(ctx, nil, restBase, record.JobID)
		if err != nil {
			return false, nil // Flink has not fetched the metric yet
		}
		value = count.Counted
		return value > min, nil
	}, flink.DefaultBackoff())
	if err != nil {
		return 0, fmt.Errorf("reading the job's counter: %w", err)
	}
	return value, nil
}

func command(ctx context.Context, dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd
}
