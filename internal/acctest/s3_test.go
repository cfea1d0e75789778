package acctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
)

// startS3 starts an S3 server for the test, sets its credentials in the environment (Env, with
// t.Setenv: not for parallel tests), and stops it when the test ends.
func startS3(t *testing.T, ctx context.Context) *S3Server {
	t.Helper()
	s, err := StartS3(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop the S3 server: %v", err)
		}
	})
	for k, v := range s.Env() {
		t.Setenv(k, v)
	}
	t.Logf("S3 server %s, bucket %s, answering after %s", s.Endpoint, s.Bucket, s.StartTime.Round(time.Millisecond))
	return s
}

// openS3Store opens the snapshot store at url and closes it when the test ends.
func openS3Store(t *testing.T, ctx context.Context, url string) *snapshots.Store {
	t.Helper()
	st, err := snapshots.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close %s: %v", st.Root(), err)
		}
	})
	return st
}

// sameObjectFiles checks that the server keeps files (relative to dir in its bucket) as objects
// with exactly that content: what the store wrote went through S3 to the server's disk.
func sameObjectFiles(t *testing.T, s *S3Server, dir string, files map[string][]byte) {
	t.Helper()
	for name, want := range files {
		got, err := os.ReadFile(s.ObjectPath(dir + "/" + name))
		if err != nil {
			t.Errorf("object %s/%s: %v", dir, name, err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("object %s/%s holds %q, want %q", dir, name, got, want)
		}
	}
}

// TestS3SnapshotStore: the provider's snapshot store on a real S3 server through gocloud.dev's
// s3blob (S3Server.BlobURL, credentials from the environment): it verifies, measures, copies
// (within S3 and to a file:// store) and disposes a savepoint directory of the shape Flink
// writes, and the objects are really on the server. Wrong credentials are refused; a
// profile of a shared credentials file named in the URL works.
func TestS3SnapshotStore(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 to run it against the S3 server built by tools/install.sh")
	}
	ctx := ctxFor(t)
	s3 := startS3(t, ctx)
	st := openS3Store(t, ctx, s3.BlobURL("savepoints"))
	if got, want := st.Root(), s3.FlinkPath("savepoints"); got != want {
		t.Fatalf("store root %q, want %q", got, want)
	}

	// A savepoint directory as Flink lays one out: state files, one in a subdirectory, and
	// _metadata (which WriteSavepoint writes last).
	files := map[string][]byte{"_metadata": []byte("metadata of savepoint-c0ffee-1")}
	var size int64
	for i := range 3 {
		files[fmt.Sprintf("state-%02d", i)] = bytes.Repeat([]byte("state"), 100*(i+1))
	}
	files["sub/nested"] = []byte("nested state")
	for _, b := range files {
		size += int64(len(b))
	}
	sp := st.FlinkPath("savepoint-c0ffee-1")
	if err := st.WriteSavepoint(ctx, sp, files); err != nil {
		t.Fatal(err)
	}
	sameObjectFiles(t, s3, "savepoints/savepoint-c0ffee-1", files)

	if err := st.Verify(ctx, sp); err != nil {
		t.Errorf("Verify(%s): %v", sp, err)
	}
	// Flink's other spellings of the same path (hadoop's s3a://, a trailing slash).
	if err := st.Verify(ctx, "s3a://"+s3.Bucket+"/savepoints/savepoint-c0ffee-1/"); err != nil {
		t.Errorf("Verify of the s3a:// spelling: %v", err)
	}
	if err := st.Verify(ctx, st.FlinkPath("savepoint-c0ffee")); !errors.Is(err, snapshots.ErrNotFound) || !errors.Is(err, snapshots.ErrNoMetadata) {
		t.Errorf("Verify of a missing savepoint = %v; want ErrNotFound and ErrNoMetadata", err)
	}
	if got, err := st.Size(ctx, sp); err != nil || got != size {
		t.Errorf("Size = %d, %v; want %d", got, err, size)
	}

	// Copy to another prefix of the bucket (another store) and to a directory.
	copies := openS3Store(t, ctx, s3.BlobURL("copies"))
	cp := copies.FlinkPath("dr/savepoint-c0ffee-1")
	if n, err := st.Copy(ctx, sp, copies, cp); err != nil || n != size {
		t.Fatalf("Copy to %s = %d, %v; want %d bytes", cp, n, err, size)
	}
	if err := copies.Verify(ctx, cp); err != nil {
		t.Errorf("Verify of the copy: %v", err)
	}
	sameObjectFiles(t, s3, "copies/dr/savepoint-c0ffee-1", files)
	dir := t.TempDir()
	local := openS3Store(t, ctx, "file://"+dir)
	if n, err := st.Copy(ctx, sp, local, "file://"+dir+"/savepoint-c0ffee-1"); err != nil || n != size {
		t.Fatalf("Copy to a directory = %d, %v; want %d bytes", n, err, size)
	}
	for name, want := range files {
		if got, err := os.ReadFile(filepath.Join(dir, "savepoint-c0ffee-1", name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("copied file %s: %q, %v", name, got, err)
		}
	}

	// Dispose removes the objects, and only those of the savepoint.
	if err := st.Dispose(ctx, sp); err != nil {
		t.Fatal(err)
	}
	if err := st.Verify(ctx, sp); !errors.Is(err, snapshots.ErrNotFound) {
		t.Errorf("Verify after Dispose = %v; want ErrNotFound", err)
	}
	if _, err := os.Stat(s3.ObjectPath("savepoints/savepoint-c0ffee-1/_metadata")); !os.IsNotExist(err) {
		t.Errorf("_metadata still on the server after Dispose: %v", err)
	}
	if err := copies.Verify(ctx, cp); err != nil {
		t.Errorf("disposing the source touched the copy: %v", err)
	}

	// The server checks credentials: wrong ones in the environment are refused, with the
	// store's hint about AWS credentials.
	t.Setenv("AWS_ACCESS_KEY_ID", "wrong-access-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-key")
	bad := openS3Store(t, ctx, s3.BlobURL("copies"))
	if err := bad.Verify(ctx, cp); err == nil || errors.Is(err, snapshots.ErrNotFound) || !strings.Contains(err.Error(), "AWS credentials") {
		t.Errorf("Verify with wrong credentials = %v; want an access error with the credentials hint", err)
	}
	// A profile named in the URL takes its keys from the shared credentials file, whatever
	// the environment holds.
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", s3.CredentialsFile)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "no-config"))
	byProfile := openS3Store(t, ctx, s3.BlobURL("copies")+"&profile="+S3Profile)
	if err := byProfile.Verify(ctx, cp); err != nil {
		t.Errorf("Verify with profile %s of %s: %v", S3Profile, s3.CredentialsFile, err)
	}
	if err := byProfile.Dispose(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if err := byProfile.Verify(ctx, cp); !errors.Is(err, snapshots.ErrNotFound) {
		t.Errorf("Verify of the disposed copy = %v; want ErrNotFound", err)
	}
}

// TestRealFlink_SavepointsAndCheckpointsOnS3: real Flink, through the S3 filesystem plugin
// tools/flink.sh put into its distribution, checkpoints the fixture job to
// s3://<bucket>/<ns>/checkpoints and stops it with a savepoint to s3://<bucket>/<ns>/savepoints
// on the test's S3 server; the provider's snapshot store (gocloud.dev s3blob) finds the
// checkpoint's chk-N/_metadata and the savepoint's _metadata there and reads both; and a new
// cluster restores the savepoint from S3 and continues the count.
func TestRealFlink_SavepointsAndCheckpointsOnS3(t *testing.T) {
	eachFlinkVersion(t, func(t *testing.T, a *realApp) {
		s3 := startS3(t, a.ctx)
		a.mark("S3 server up")
		fv, err := flinkconf.ParseVersion(majorMinor(a.version))
		if err != nil {
			t.Fatal(err)
		}
		st := openS3Store(t, a.ctx, s3.BlobURL(a.ns))
		checkpoints, savepoints := st.FlinkPath("checkpoints"), st.FlinkPath("savepoints")
		onS3 := func(label string) spec.Version {
			v := a.spec(label, FixtureJobClass)
			maps.Copy(v.FlinkConfiguration, s3.FlinkConfig())
			v.FlinkConfiguration[fv.CheckpointDirKeys()[0]] = checkpoints
			// The fixture checkpoints every second and Flink deletes a checkpoint once a newer
			// one completed: keep them, so that the one the REST API names is still there.
			retained := "state.checkpoints.num-retained"
			if fv.AtLeast(1, 20) {
				retained = "execution.checkpointing.num-retained"
			}
			v.FlinkConfiguration[retained] = "1000"
			return v
		}

		a.deploy(onS3("v1"), "", false)
		a.healthy()
		var chk string
		if err := wait.Until(a.ctx, func(ctx context.Context) (bool, error) {
			cps, err := a.fc.Checkpoints(ctx, a.jobID)
			if err != nil || cps.Latest.Completed == nil {
				return false, nil
			}
			chk = cps.Latest.Completed.ExternalPath
			return chk != "", nil
		}, flink.IsRetryable); err != nil {
			t.Fatalf("no completed checkpoint: %v\n%s", err, a.pods())
		}
		a.mark("a checkpoint completed")
		if want := checkpoints + "/" + a.jobID + "/chk-"; !strings.HasPrefix(chk, want) {
			t.Fatalf("checkpoint at %q, want it under %s", chk, want)
		}
		if err := st.Verify(a.ctx, chk); err != nil {
			t.Fatalf("the provider's store does not find the checkpoint Flink reports: %v", err)
		}
		key, err := st.Key(chk)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(s3.ObjectPath(a.ns + "/" + key + "/" + snapshots.MetadataFile)); err != nil || fi.Size() == 0 {
			t.Fatalf("checkpoint %s: no _metadata object on the S3 server: %v", chk, err)
		}
		if md, err := st.ReadMetadata(a.ctx, chk); err != nil || len(md.Operators) == 0 {
			t.Fatalf("reading the checkpoint's _metadata from S3: %v (%+v)", err, md)
		}
		a.mark("checkpoint _metadata read from S3")

		before := a.count("counter grows", func(c FixtureCount) bool { return c.Counted > 0 })
		trigger, err := a.fc.StopWithSavepoint(a.ctx, a.jobID, flink.StopRequest{TargetDirectory: savepoints})
		if err != nil {
			t.Fatal(err)
		}
		sp, err := flink.WaitForSavepoint(a.ctx, a.fc, a.jobID, trigger)
		if err != nil {
			t.Fatalf("%v\n%s", err, a.pods())
		}
		a.mark("stop-with-savepoint to S3 completed")
		if !strings.HasPrefix(sp, savepoints+"/savepoint-") {
			t.Fatalf("savepoint at %q, want it under %s", sp, savepoints)
		}
		if err := st.Verify(a.ctx, sp); err != nil {
			t.Fatalf("the provider's store does not find the savepoint Flink reports: %v", err)
		}
		if size, err := st.Size(a.ctx, sp); err != nil || size == 0 {
			t.Fatalf("savepoint size %d, %v", size, err)
		}
		md, err := st.ReadMetadata(a.ctx, sp)
		if err != nil || len(md.Operators) == 0 {
			t.Fatalf("reading the savepoint's _metadata from S3: %v (%+v)", err, md)
		}
		a.mark(fmt.Sprintf("savepoint _metadata read from S3 (%d operators)", len(md.Operators)))
		a.job("job FINISHED", func(j flink.JobDetails) bool { return j.State == flink.JobFinished })
		t.Logf("checkpoint %s, savepoint %s", chk, sp)

		// Flink reads the savepoint back from S3.
		a.deploy(onS3("v2"), sp, false)
		a.healthy()
		after := a.count("counter after restore from S3", func(c FixtureCount) bool { return c.Counted > 0 })
		if after.Restored < before.Counted {
			t.Fatalf("restored job: %+v, want restored >= %d (counted before the savepoint): state was not restored from S3", after, before.Counted)
		}
		a.mark("total")
	})
}
