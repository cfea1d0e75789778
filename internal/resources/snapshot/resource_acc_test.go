package snapshot_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

func TestMain(m *testing.M) { os.Exit(acctest.Run(m)) }

const (
	application = "flink_streaming_application.orders"
	manual      = "flink_snapshot.manual"
)

// versionHCL is version label of application, running image.
func versionHCL(ns, app, label, image string) string {
	return acctest.OrdersVersionHCL(strings.ReplaceAll(app, "-", "_")+"_"+label, ns, app, label, image, "")
}

// ordersConfig is the provider, versions v1 and v2 of "orders", the application running
// current in state, and extra HCL (snapshots, data sources).
func ordersConfig(t *testing.T, ns, current, state string, extra ...string) string {
	return acctest.ProviderConfig(t) + versionHCL(ns, "orders", "v1", "flink:1.20.1") + versionHCL(ns, "orders", "v2", "flink:1.20.2") +
		fmt.Sprintf(`
resource "flink_streaming_application" "orders" {
  name       = "orders"
  namespace  = %q
  version_id = flink_application_version.orders_%s.id
  state      = %q
}
`, ns, current, state) + strings.Join(extra, "\n")
}

// snapshotHCL is a flink_snapshot of orders named name, with body.
func snapshotHCL(ns, name, body string) string {
	return fmt.Sprintf(`
resource "flink_snapshot" %q {
  application = flink_streaming_application.orders.name
  namespace   = %q
%s
}
`, name, ns, body)
}

// ordersSnapshotHCL is a flink_snapshot named name of application "orders" in ns, given by
// name rather than through the application resource, with attributes, one a line.
func ordersSnapshotHCL(name, ns string, attrs ...string) string {
	return fmt.Sprintf(`
resource "flink_snapshot" %q {
  application = "orders"
  namespace   = %q
  %s
}
`, name, ns, strings.Join(attrs, "\n  "))
}

// adoptHCL is flink_snapshot "adopted": the existing savepoint at path, with extra attributes.
func adoptHCL(ns, path, extra string) string {
	return ordersSnapshotHCL("adopted", ns, fmt.Sprintf("path = %q", path), extra)
}

// copyHCL is flink_snapshot "dr": a copy of flink_snapshot.manual to destination, with extra
// attributes.
func copyHCL(ns, destination, extra string) string {
	return ordersSnapshotHCL("dr", ns, "source_snapshot_id = flink_snapshot.manual.id",
		fmt.Sprintf("destination_url = %q", destination), extra)
}

func kubeClient(t *testing.T) *kube.Client { return &kube.Client{Kube: acctest.Kube(t)} }

func attrsOf(s *terraform.State, address string) (map[string]string, error) {
	r := s.RootModule().Resources[address]
	if r == nil {
		return nil, fmt.Errorf("%s is not in the state", address)
	}
	return r.Primary.Attributes, nil
}

func localDir(path string) string {
	return "/" + strings.TrimLeft(strings.TrimPrefix(path, "file:"), "/")
}

func metadataExists(path string) error {
	if _, err := os.Stat(filepath.Join(localDir(path), "_metadata")); err != nil {
		return fmt.Errorf("snapshot %s has no _metadata: %w", path, err)
	}
	return nil
}

func filesGone(path string) error {
	if _, err := os.Stat(localDir(path)); !os.IsNotExist(err) {
		return fmt.Errorf("the files of snapshot %s are still there (err=%v)", path, err)
	}
	return nil
}

// record reads the snapshot record of a flink_snapshot id (namespace/name).
func record(t *testing.T, id string) (records.SnapshotRecord, error) {
	ns, name, _ := strings.Cut(id, "/")
	return records.New(kubeClient(t)).GetSnapshotRecord(context.Background(), ns, name)
}

func ordersCluster(t *testing.T, ns string) (*flinktest.Cluster, error) {
	c := acctest.Emulator(t).Cluster(kube.RestHost("orders", ns))
	if c == nil {
		return nil, fmt.Errorf("no JobManager is running for %s/orders", ns)
	}
	return c, nil
}

func words(phrase string) *regexp.Regexp {
	parts := strings.Fields(phrase)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(strings.Join(parts, `\s+`))
}

// writeSavepoint creates a savepoint directory at dir the way Flink leaves one; without
// metadata it lacks _metadata (an aborted savepoint).
func writeSavepoint(t *testing.T, dir string, metadata bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"op-state-1": "operator state\n"}
	if metadata {
		files["_metadata"] = "savepoint metadata\n"
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAccSnapshot_take triggers a savepoint of the running application (the job keeps
// running), imports it, replaces it when triggers change (the old one is retained), and
// disposes the last one on destroy because its deletion_policy became "delete".
func TestAccSnapshot_take(t *testing.T) {
	ns := acctest.Namespace(t)
	var jobID, first, second string

	taken := func(into *string) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			app, err := attrsOf(s, application)
			if err != nil {
				return err
			}
			snap, err := attrsOf(s, manual)
			if err != nil {
				return err
			}
			c, err := ordersCluster(t, ns)
			if err != nil {
				return err
			}
			if c.JobID() != app["job_id"] || c.JobState() != "RUNNING" {
				return fmt.Errorf("after the snapshot the JobManager runs job %s (%s); want the application's job %s still RUNNING",
					c.JobID(), c.JobState(), app["job_id"])
			}
			if jobID != "" && app["job_id"] != jobID {
				return fmt.Errorf("taking a snapshot restarted the job: %s -> %s", jobID, app["job_id"])
			}
			jobID = app["job_id"]
			*into = snap["path"]
			if want := "file://" + filepath.Join(acctest.SnapshotDir(t), ns, "orders") + "/"; !strings.HasPrefix(*into, want) &&
				!strings.HasPrefix(*into, "file:"+filepath.Join(acctest.SnapshotDir(t), ns, "orders")+"/") {
				return fmt.Errorf("snapshot path %s is not under %s", *into, want)
			}
			found := false
			for _, p := range c.Savepoints() {
				found = found || p == *into
			}
			if !found {
				return fmt.Errorf("the job's completed savepoints %v do not include %s", c.Savepoints(), *into)
			}
			r, err := record(t, snap["id"])
			if err != nil {
				return err
			}
			if r.Origin != records.OriginUser || r.ManagedBy == "" || r.JobID != jobID || r.Path != *into || r.VersionLabel != "v1" || r.SizeBytes <= 0 {
				return fmt.Errorf("snapshot record %+v; want origin user, managed, job %s, path %s, version v1, a size", r, jobID, *into)
			}
			if snap["job_id"] != jobID || snap["version_id"] != ns+"/orders/v1" || snap["size_bytes"] != strconv.FormatInt(r.SizeBytes, 10) {
				return fmt.Errorf("flink_snapshot attributes job_id=%s version_id=%s size_bytes=%s disagree with the record %+v",
					snap["job_id"], snap["version_id"], snap["size_bytes"], r)
			}
			return metadataExists(*into)
		}
	}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy: func(*terraform.State) error {
			// deletion_policy = "delete": files and record gone. The replaced one was retained.
			if err := filesGone(second); err != nil {
				return err
			}
			snaps, err := records.New(kubeClient(t)).ListSnapshotRecords(context.Background(), ns, records.SnapshotFilter{Application: "orders", Origin: records.OriginUser})
			if err != nil {
				return err
			}
			if len(snaps) != 1 || snaps[0].Path != first || snaps[0].ManagedBy != "" {
				return fmt.Errorf("user snapshot records after destroy: %+v; want only the retained %s, no longer managed", snaps, first)
			}
			return metadataExists(first)
		},
		Steps: []resource.TestStep{
			{
				Config: ordersConfig(t, ns, "v1", "running", snapshotHCL(ns, "manual", "")),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(manual, tfjsonpath.New("origin"), knownvalue.StringExact("user")),
					statecheck.ExpectKnownValue(manual, tfjsonpath.New("deletion_policy"), knownvalue.StringExact("retain")),
					statecheck.ExpectKnownValue(manual, tfjsonpath.New("flink_version"), knownvalue.StringExact("1.20")),
				},
				Check: taken(&first),
			},
			{
				ResourceName:            manual,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"timeouts", "deletion_policy", "triggers"},
			},
			{
				Config: ordersConfig(t, ns, "v1", "running", snapshotHCL(ns, "manual", `triggers = { release = "r2" }`)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(manual, plancheck.ResourceActionReplace),
					plancheck.ExpectResourceAction(application, plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeTestCheckFunc(taken(&second), func(*terraform.State) error {
					if second == first {
						return fmt.Errorf("changing triggers kept the snapshot %s instead of taking a new one", first)
					}
					// The replaced snapshot was retained: files and record, no longer managed.
					snaps, err := records.New(kubeClient(t)).ListSnapshotRecords(context.Background(), ns, records.SnapshotFilter{Application: "orders"})
					if err != nil {
						return err
					}
					for _, s := range snaps {
						if s.Path == first {
							if s.ManagedBy != "" {
								return fmt.Errorf("the replaced snapshot %s is still marked as managed by a flink_snapshot", s.Name)
							}
							return metadataExists(first)
						}
					}
					return fmt.Errorf("the replaced snapshot %s (deletion_policy retain) lost its record", first)
				}),
			},
			{
				// Only deletion_policy changes: updated in place, nothing taken.
				Config: ordersConfig(t, ns, "v1", "running", snapshotHCL(ns, "manual", `triggers = { release = "r2" }
  deletion_policy = "delete"`)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(manual, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(manual, tfjsonpath.New("deletion_policy"), knownvalue.StringExact("delete")),
				},
				Check: func(s *terraform.State) error {
					snap, err := attrsOf(s, manual)
					if err != nil {
						return err
					}
					if snap["path"] != second {
						return fmt.Errorf("changing deletion_policy changed the snapshot: %s -> %s", second, snap["path"])
					}
					return nil
				},
			},
		},
	})
}

// TestAccSnapshot_suspendedApplication: a suspended application has no job to take a
// savepoint of; the error says so and points at its last snapshot.
func TestAccSnapshot_suspendedApplication(t *testing.T) {
	ns := acctest.Namespace(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{Config: ordersConfig(t, ns, "v1", "running")},
			{Config: ordersConfig(t, ns, "v1", "suspended")},
			{
				Config:      ordersConfig(t, ns, "v1", "suspended", snapshotHCL(ns, "manual", "")),
				ExpectError: words("is not running (it is suspended), so no savepoint can be taken"),
			},
		},
	})
}

// TestAccSnapshot_adopt records an existing savepoint directory (its _metadata must exist),
// and with deletion_policy = "delete" disposes its files on destroy.
func TestAccSnapshot_adopt(t *testing.T) {
	ns := acctest.Namespace(t)
	dir := filepath.Join(acctest.SnapshotDir(t), ns, "external", "savepoint-0a1b2c-5e6f7a8b9c0d")
	aborted := filepath.Join(acctest.SnapshotDir(t), ns, "external", "savepoint-0a1b2c-aborted")
	writeSavepoint(t, dir, true)
	writeSavepoint(t, aborted, false)
	adopt := func(path, extra string) string {
		return acctest.ProviderConfig(t) + adoptHCL(ns, path, extra)
	}
	const adopted = "flink_snapshot.adopted"

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy: func(*terraform.State) error {
			if err := filesGone("file://" + dir); err != nil {
				return err
			}
			snaps, err := records.New(kubeClient(t)).ListSnapshotRecords(context.Background(), ns, records.SnapshotFilter{Application: "orders"})
			if err != nil || len(snaps) != 0 {
				return fmt.Errorf("snapshot records left after destroy: %+v (err=%v)", snaps, err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:      adopt("file://"+aborted, ""),
				ExpectError: regexp.MustCompile(`has\s+files\s+but\s+no\s+_metadata`),
			},
			{
				Config: adopt("file://"+dir, `deletion_policy = "delete"`),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(adopted, tfjsonpath.New("origin"), knownvalue.StringExact("imported")),
					statecheck.ExpectKnownValue(adopted, tfjsonpath.New("path"), knownvalue.StringExact("file://"+dir)),
					statecheck.ExpectKnownValue(adopted, tfjsonpath.New("size_bytes"),
						knownvalue.Int64Exact(int64(len("operator state\n")+len("savepoint metadata\n")))),
				},
				Check: func(s *terraform.State) error {
					a, err := attrsOf(s, adopted)
					if err != nil {
						return err
					}
					r, err := record(t, a["id"])
					if err != nil {
						return err
					}
					if r.Origin != records.OriginImported || r.ManagedBy == "" || r.State != records.SnapshotCompleted {
						return fmt.Errorf("adopted snapshot record %+v", r)
					}
					return metadataExists("file://" + dir)
				},
			},
		},
	})
	// The aborted savepoint was never recorded, so nothing disposed it.
	if _, err := os.Stat(aborted); err != nil {
		t.Errorf("the refused path %s was touched: %v", aborted, err)
	}
}

// TestAccSnapshot_copy copies a taken snapshot to another bucket (file:// directory): the
// files arrive, the copy is recorded with origin "copied" and its source, and importing it
// reads the same.
func TestAccSnapshot_copy(t *testing.T) {
	ns := acctest.Namespace(t)
	dr := t.TempDir()
	drCopy := copyHCL(ns, "file://"+dr, "")
	const copied = "flink_snapshot.dr"

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: ordersConfig(t, ns, "v1", "running", snapshotHCL(ns, "manual", ""), drCopy),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(copied, tfjsonpath.New("origin"), knownvalue.StringExact("copied")),
				},
				Check: func(s *terraform.State) error {
					src, err := attrsOf(s, manual)
					if err != nil {
						return err
					}
					dst, err := attrsOf(s, copied)
					if err != nil {
						return err
					}
					want := "file://" + filepath.Join(dr, filepath.Base(localDir(src["path"])))
					if dst["path"] != want {
						return fmt.Errorf("copy path %s, want %s", dst["path"], want)
					}
					for _, f := range []string{"_metadata", "state-0"} {
						a, errA := os.ReadFile(filepath.Join(localDir(src["path"]), f))
						b, errB := os.ReadFile(filepath.Join(localDir(dst["path"]), f))
						if errA != nil || errB != nil || string(a) != string(b) {
							return fmt.Errorf("file %s of the copy differs from the source (%v, %v)", f, errA, errB)
						}
					}
					r, err := record(t, dst["id"])
					if err != nil {
						return err
					}
					source, err := record(t, src["id"])
					if err != nil {
						return err
					}
					if r.Origin != records.OriginCopied || r.SourceSnapshot != source.Name || r.Path != want || r.JobID != source.JobID ||
						r.VersionLabel != source.VersionLabel || r.Format != source.Format {
						return fmt.Errorf("copy record %+v does not describe a copy of %+v at %s", r, source, want)
					}
					if r.SizeBytes != source.SizeBytes || dst["size_bytes"] != src["size_bytes"] {
						return fmt.Errorf("the copy's record says %d bytes (state %s), the source %d (state %s): the copy's size must be recorded",
							r.SizeBytes, dst["size_bytes"], source.SizeBytes, src["size_bytes"])
					}
					return nil
				},
			},
			{
				ResourceName:            copied,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"timeouts", "deletion_policy", "triggers", "source_snapshot_id", "destination_url"},
			},
		},
	})
}

// TestAccSnapshot_copyDeletedOnDestroy: a copy in another bucket with deletion_policy =
// "delete" disposes the copy's files (not the source's) when it is destroyed.
func TestAccSnapshot_copyDeletedOnDestroy(t *testing.T) {
	ns := acctest.Namespace(t)
	dr := t.TempDir()
	drCopy := copyHCL(ns, "file://"+dr, `deletion_policy = "delete"`)
	var source, copyPath string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: ordersConfig(t, ns, "v1", "running", snapshotHCL(ns, "manual", ""), drCopy),
				Check: func(s *terraform.State) error {
					src, _ := attrsOf(s, manual)
					dst, err := attrsOf(s, "flink_snapshot.dr")
					if err != nil {
						return err
					}
					source, copyPath = src["path"], dst["path"]
					return metadataExists(copyPath)
				},
			},
			{
				Config: ordersConfig(t, ns, "v1", "running", snapshotHCL(ns, "manual", "")),
				Check: func(*terraform.State) error {
					if err := filesGone(copyPath); err != nil {
						return err
					}
					return metadataExists(source)
				},
			},
		},
	})
}

// TestAccSnapshot_dataSourceAndFork lists snapshots by application, origin and version with
// the data source, starts a second application from a flink_snapshot of the first, and
// follows the trail (parent, children, what uses a snapshot) from a snapshot of the fork.
func TestAccSnapshot_dataSourceAndFork(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	data := fmt.Sprintf(`
data "flink_snapshots" "all" {
  namespace   = %[1]q
  application = "orders"
  depends_on  = [flink_streaming_application.orders, flink_snapshot.manual]
}
data "flink_snapshots" "user" {
  namespace   = %[1]q
  application = "orders"
  origin      = "user"
  depends_on  = [flink_streaming_application.orders, flink_snapshot.manual]
}
data "flink_snapshots" "v2" {
  namespace   = %[1]q
  application = "orders"
  version     = "v2"
  depends_on  = [flink_streaming_application.orders, flink_snapshot.manual]
}
data "flink_snapshots" "billing" {
  namespace   = %[1]q
  application = "billing"
}
`, ns)
	fork := versionHCL(ns, "orders-fork", "v1", "flink:1.20.1") + fmt.Sprintf(`
resource "flink_streaming_application" "fork" {
  name       = "orders-fork"
  namespace  = %q
  version_id = flink_application_version.orders_fork_v1.id
  restore = {
    strategy    = "snapshot"
    snapshot_id = flink_snapshot.manual.id
  }
}
`, ns)
	forkSnapshot := fmt.Sprintf(`
resource "flink_snapshot" "forked" {
  application = flink_streaming_application.fork.name
  namespace   = %q
}
`, ns)
	lineage := fmt.Sprintf(`
data "flink_snapshots" "namespace" {
  namespace  = %q
  depends_on = [flink_snapshot.forked]
}
`, ns)
	var manualPath, manualID, upgradePath string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: ordersConfig(t, ns, "v1", "running", snapshotHCL(ns, "manual", "")),
				Check: func(s *terraform.State) error {
					m, err := attrsOf(s, manual)
					manualPath, manualID = m["path"], m["id"]
					return err
				},
			},
			{
				// Upgrade v1 -> v2: an automatic snapshot, newer than the manual one.
				Config: ordersConfig(t, ns, "v2", "running", snapshotHCL(ns, "manual", ""), data),
				Check: func(s *terraform.State) error {
					app, err := attrsOf(s, application)
					if err != nil {
						return err
					}
					upgradePath = app["last_snapshot_path"]
					all, _ := attrsOf(s, "data.flink_snapshots.all")
					user, _ := attrsOf(s, "data.flink_snapshots.user")
					v2, _ := attrsOf(s, "data.flink_snapshots.v2")
					billing, _ := attrsOf(s, "data.flink_snapshots.billing")
					want := map[string]string{
						"all.snapshots.#":      "2",
						"all.latest.path":      upgradePath,
						"all.latest.origin":    "upgrade",
						"all.latest.managed":   "false",
						"all.snapshots.1.path": manualPath,
						"user.snapshots.#":     "1",
						"user.latest.id":       manualID,
						"user.latest.managed":  "true",
						"v2.snapshots.#":       "0",
						"billing.snapshots.#":  "0",
					}
					got := map[string]string{
						"all.snapshots.#": all["snapshots.#"], "all.latest.path": all["latest.path"], "all.latest.origin": all["latest.origin"],
						"all.latest.managed": all["latest.managed"], "all.snapshots.1.path": all["snapshots.1.path"],
						"user.snapshots.#": user["snapshots.#"], "user.latest.id": user["latest.id"], "user.latest.managed": user["latest.managed"],
						"v2.snapshots.#": v2["snapshots.#"], "billing.snapshots.#": billing["snapshots.#"],
					}
					for k, w := range want {
						if got[k] != w {
							return fmt.Errorf("data source %s = %q, want %q (all: %v)", k, got[k], w, all)
						}
					}
					if _, ok := billing["latest.id"]; ok {
						return fmt.Errorf("latest of an empty list should be null, got %v", billing)
					}
					return nil
				},
			},
			{
				// A second application forked from the manual snapshot of the first.
				Config: ordersConfig(t, ns, "v2", "running", snapshotHCL(ns, "manual", ""), fork),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue("flink_streaming_application.fork", tfjsonpath.New("planned_operation"), knownvalue.StringExact("deploy")),
				}},
				Check: func(s *terraform.State) error {
					f, err := attrsOf(s, "flink_streaming_application.fork")
					if err != nil {
						return err
					}
					c := emulator.Cluster(kube.RestHost("orders-fork", ns))
					if c == nil {
						return fmt.Errorf("no JobManager runs for orders-fork")
					}
					if c.JobID() != f["job_id"] || c.JobState() != "RUNNING" {
						return fmt.Errorf("orders-fork runs job %s (%s), state says %s", c.JobID(), c.JobState(), f["job_id"])
					}
					if c.RestoredFrom() != manualPath {
						return fmt.Errorf("orders-fork restored from %q, want the flink_snapshot %s", c.RestoredFrom(), manualPath)
					}
					return nil
				},
			},
			{
				// The trail: a snapshot of the fork names the snapshot it grew from, which lists
				// it as a child and the fork as what needs its files.
				Config: ordersConfig(t, ns, "v2", "running", snapshotHCL(ns, "manual", ""), fork, forkSnapshot, lineage),
				Check: func(s *terraform.State) error {
					forked, err := attrsOf(s, "flink_snapshot.forked")
					if err != nil {
						return err
					}
					if forked["parent_snapshot_id"] != manualID {
						return fmt.Errorf("the fork's snapshot has parent %q, want %s", forked["parent_snapshot_id"], manualID)
					}
					all, _ := attrsOf(s, "data.flink_snapshots.namespace")
					for i := 0; all[fmt.Sprintf("snapshots.%d.id", i)] != ""; i++ {
						at := func(k string) string { return all[fmt.Sprintf("snapshots.%d.%s", i, k)] }
						if at("id") != manualID {
							continue
						}
						if at("children.#") != "1" || at("children.0") != forked["id"] || at("used_by.#") != "1" ||
							!strings.Contains(at("used_by.0"), "application orders-fork runs from it") {
							return fmt.Errorf("lineage of %s: children %s %q, used by %s %q; want %s, and orders-fork", manualID,
								at("children.#"), at("children.0"), at("used_by.#"), at("used_by.0"), forked["id"])
						}
						return nil
					}
					return fmt.Errorf("%s is not listed by the data source: %v", manualID, all)
				},
			},
		},
	})
}

// TestAccSnapshot_restorePointIsNotDeleted (H3): a flink_snapshot that adopts the suspended
// application's savepoint takes over its record (one path, one set of files), and destroying
// it with deletion_policy = "delete" keeps the files while the application would resume from
// them: the record stays, managed by nobody, and the application resumes from them.
func TestAccSnapshot_restorePointIsNotDeleted(t *testing.T) {
	ns := acctest.Namespace(t)
	pinned := snapshotHCL(ns, "manual", `  path            = flink_streaming_application.orders.last_snapshot_path
  deletion_policy = "delete"`)
	var path, id string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{Config: ordersConfig(t, ns, "v1", "running")},
			{Config: ordersConfig(t, ns, "v1", "suspended")},
			{
				Config: ordersConfig(t, ns, "v1", "suspended", pinned),
				Check: func(s *terraform.State) error {
					app, err := attrsOf(s, application)
					if err != nil {
						return err
					}
					snap, err := attrsOf(s, manual)
					if err != nil {
						return err
					}
					path, id = app["last_snapshot_path"], snap["id"]
					if id != app["last_snapshot_id"] {
						return fmt.Errorf("adopting the suspend savepoint made record %s; want the existing %s taken over", id, app["last_snapshot_id"])
					}
					return nil
				},
			},
			{
				Config: ordersConfig(t, ns, "v1", "suspended"),
				Check: func(*terraform.State) error {
					if err := metadataExists(path); err != nil {
						return fmt.Errorf("destroying the flink_snapshot deleted the only restore point: %w", err)
					}
					r, err := record(t, id)
					if err != nil || r.ManagedBy != "" {
						return fmt.Errorf("record %+v (%v); want it kept, managed by nobody", r, err)
					}
					return nil
				},
			},
			{
				Config: ordersConfig(t, ns, "v1", "running"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(application, tfjsonpath.New("status"), knownvalue.StringExact("RUNNING")),
				},
				Check: func(s *terraform.State) error {
					c, err := ordersCluster(t, ns)
					if err != nil {
						return err
					}
					if c.RestoredFrom() != path {
						return fmt.Errorf("resumed from %q, want the kept savepoint %s", c.RestoredFrom(), path)
					}
					return nil
				},
			},
		},
	})
}
