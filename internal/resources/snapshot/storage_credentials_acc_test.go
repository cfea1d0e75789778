package snapshot_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
)

// TestAccSnapshot_storageCredentialsFromSecret: with snapshot_storage_credentials_secret the
// provider signs its requests to a real S3 server with the keys of that Kubernetes Secret
// (under Flink's names: the Secret a version hands to Flink), whatever the environment holds
// (wrong keys here). It verifies and measures an adopted savepoint there, and destroy with
// deletion_policy = "delete" removes its objects. A Secret without the keys is refused with
// an error naming the Secret and the attribute; keys the server refuses, with a hint that
// names the Secret.
func TestAccSnapshot_storageCredentialsFromSecret(t *testing.T) {
	ns := acctest.Namespace(t)
	ctx := context.Background()
	s3, err := acctest.StartS3(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s3.Stop(); err != nil {
			t.Errorf("stop the S3 server: %v", err)
		}
	})
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "wrong-access-key", "AWS_SECRET_ACCESS_KEY": "wrong-secret-key", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": ""} {
		t.Setenv(k, v)
	}
	for name, data := range map[string]map[string]string{
		"flink-s3": {"s3.access-key": s3.AccessKey, "s3.secret-key": s3.SecretKey},
		"no-keys":  {"s3.endpoint": s3.Endpoint},
		"wrong":    {"AWS_ACCESS_KEY_ID": "not-the-key", "AWS_SECRET_ACCESS_KEY": "not-the-secret"},
	} {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data}
		if _, err := acctest.Kube(t).CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	store, err := snapshots.OpenWithCredentials(ctx, s3.BlobURL(ns), snapshots.S3Credentials{AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	path := store.FlinkPath("external/savepoint-0a1b2c-5e6f7a8b9c0d")
	files := map[string][]byte{"op-state-1": []byte("operator state\n"), "_metadata": []byte("savepoint metadata\n")}
	if err := store.WriteSavepoint(ctx, path, files); err != nil {
		t.Fatal(err)
	}
	metadataObject := s3.ObjectPath(ns + "/external/savepoint-0a1b2c-5e6f7a8b9c0d/_metadata")

	config := func(storageURL, secret string) string {
		return providerWithStorageCredentials(t, storageURL, secret) + adoptHCL(ns, path, `deletion_policy = "delete"`)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy: func(*terraform.State) error {
			if _, err := os.Stat(metadataObject); !os.IsNotExist(err) {
				return fmt.Errorf("the adopted savepoint's _metadata is still on the S3 server after destroy (err=%v)", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:      config("file://"+acctest.SnapshotDir(t), ns+"/flink-s3"),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`Storage credentials need s3:// storage`),
			},
			{
				Config:      config(s3.BlobURL(ns), ns+"/no-keys"),
				ExpectError: regexp.MustCompile(`Secret\s+` + ns + `/no-keys\s+\(snapshot_storage_credentials_secret\):(.|\n)*it\s+has\s+no\s+access\s+key`),
			},
			{
				// Keys the server refuses: the hint points at the Secret, not at the environment.
				Config:      config(s3.BlobURL(ns), ns+"/wrong"),
				ExpectError: regexp.MustCompile(`check\s+the\s+keys\s+in\s+Secret\s+` + ns + `/wrong`),
			},
			{
				Config: config(s3.BlobURL(ns), ns+"/flink-s3"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("flink_snapshot.adopted", tfjsonpath.New("origin"), knownvalue.StringExact("imported")),
					statecheck.ExpectKnownValue("flink_snapshot.adopted", tfjsonpath.New("size_bytes"),
						knownvalue.Int64Exact(int64(len(files["op-state-1"])+len(files["_metadata"])))),
				},
				Check: func(*terraform.State) error {
					_, err := os.Stat(metadataObject)
					return err
				},
			},
		},
	})
}

// providerWithStorageCredentials is the provider block of the acceptance tests with
// snapshot storage at storageURL signed with the keys of Secret secret.
func providerWithStorageCredentials(t *testing.T, storageURL, secret string) string {
	return fmt.Sprintf(`
provider "flink" {
  snapshot_storage_url                = %q
  snapshot_storage_credentials_secret = %q
  kubernetes {
    config_path = %q
  }
  flink_access {
    mode = "direct"
  }
}
`, storageURL, secret, acctest.KubeconfigPath(t))
}
