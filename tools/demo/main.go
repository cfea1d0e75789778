// Command demo runs the quickstart (examples/quickstart) on an embedded local stack: a real
// kube-apiserver, etcd and kube-controller-manager, the test node agent running Flink pods as
// local Flink JVMs, and a loopback proxy standing in for cluster DNS. It applies version v1,
// shows the plan for v2 (planned_operation and its words), applies it, and prints the snapshot
// trail and the job's counter before and after the upgrade.
//
// Run it with `make demo`. DEMO_KEEP=1 keeps the stack running until Ctrl-C or `make demo-down`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/acctest/localrun"
)

// pidFile lets `make demo-down` stop a stack that DEMO_KEEP left running.
var pidFile = filepath.Join(os.TempDir(), "terraform-provider-flink-demo.pid")

func main() {
	if chooseRuntime() {
		os.Exit(acctest.RunInNodeNetns())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: FAILED: %v\n", err)
		os.Exit(1)
	}
}

// chooseRuntime picks the real node (kubelet, containerd, the Flink image, S3) when this
// machine can run it and FLINK_RUNTIME does not say otherwise, else Flink as local JVMs, and
// says which. It reports whether the demo must run again inside the node's network namespace.
func chooseRuntime() bool {
	switch {
	case acctest.InNodeNetns():
		return false
	case os.Getenv("FLINK_RUNTIME") == "":
		if err := acctest.NodeAvailable(); err != nil {
			say("Runtime: Flink as local JVMs (FLINK_RUNTIME=real); the real node is not available: %v", err)
			_ = os.Setenv("FLINK_RUNTIME", "real")
			return false
		}
		_ = os.Setenv("FLINK_RUNTIME", "node")
	}
	if acctest.NodeMode() {
		say("Runtime: the real node (FLINK_RUNTIME=node): kubelet, containerd, the Flink image, S3 storage, flink_access mode \"proxy\"")
		return true
	}
	say("Runtime: Flink as local JVMs (FLINK_RUNTIME=%s)", os.Getenv("FLINK_RUNTIME"))
	return false
}

func say(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(ctx context.Context) error {
	if err := os.WriteFile(pidFile, []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		return err
	}
	defer func() { _ = os.Remove(pidFile) }() // best effort: a stale file only misleads demo-down
	repo, err := os.Getwd()
	if err != nil {
		return err
	}

	say("Starting the local stack: kube-apiserver, etcd, kube-controller-manager, the node, proxy")
	env, err := localrun.Start(ctx, repo, os.Stdout)
	if err != nil {
		return err
	}
	defer func() {
		if os.Getenv("DEMO_KEEP") != "" && ctx.Err() == nil {
			say("DEMO_KEEP is set: the stack keeps running (kubeconfig %s; the provider's, with the RBAC guide's Role: %s). Ctrl-C or `make demo-down` stops it.",
				env.Stack.KubeconfigPath(), env.Provider.Kubeconfig)
			<-ctx.Done()
		}
		say("Stopping the local stack")
		_ = env.Close()
	}()
	if !env.Stack.RealFlink() {
		return fmt.Errorf("the demo runs real Flink: run it with FLINK_RUNTIME=node or real (make demo picks one)")
	}

	say("terraform apply: version v1")
	if _, err := env.Apply(ctx, "v1"); err != nil {
		return err
	}
	first, err := env.Counter(ctx, 0)
	if err != nil {
		return err
	}
	say("The v1 job is counting (%d events so far); letting it run a few seconds more", first.Counted)
	time.Sleep(5 * time.Second)
	before, err := env.Counter(ctx, first.Counted)
	if err != nil {
		return err
	}
	fmt.Printf("    counter before the upgrade: %d\n", before.Counted)

	say("terraform plan: version v2 — note planned_operation and the warning in words")
	if _, err := env.Terraform(ctx, "plan", "-no-color", "-var", "version_label=v2"); err != nil {
		return err
	}

	say("terraform apply: version v2")
	took, err := env.Apply(ctx, "v2")
	if err != nil {
		return err
	}
	after, err := env.Counter(ctx, 0)
	if err != nil {
		return err
	}
	say("Upgrade applied in %s. v2 restored %d counted events and is at %d (v1 had %d before the upgrade)",
		took.Round(100*time.Millisecond), after.Restored, after.Counted, before.Counted)
	if after.Restored < before.Counted {
		return fmt.Errorf("v2 restored %d < %d: it did not continue from v1's state", after.Restored, before.Counted)
	}

	say("Snapshot trail (kubectl get configmaps -l flink.flinkplatform.io/record=snapshot)")
	trail, err := env.SnapshotTrail(ctx)
	if err != nil {
		return err
	}
	fmt.Print(trail)
	say("Done: the plan named the operation; apply stopped v1 with a savepoint, recorded it, and v2 continued from it.")
	return nil
}
