package acctest

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OrdersVersionHCL is a flink_application_version resource, named name in the
// configuration, for version label of application in ns: the emulated orders job in image,
// parallelism 2 on one TaskManager with two slots. extra is more attributes, one a line,
// each ending in a newline.
func OrdersVersionHCL(name, ns, application, label, image, extra string) string {
	return fmt.Sprintf(`
resource "flink_application_version" %[1]q {
  application   = %[2]q
  namespace     = %[3]q
  version       = %[4]q
  image         = %[5]q
  jar_uri       = "local:///opt/flink/usrlib/orders.jar"
  entry_class   = "com.example.orders.OrdersJob"
  flink_version = "1.20"
  parallelism   = 2
  task_manager = {
    cpu        = 0.5
    memory     = "1g"
    replicas   = 1
    task_slots = 2
  }
%[6]s}
`, name, application, ns, label, image, extra)
}

// CreateSecret creates the Secret name in ns with data, as a user's existing Secret that a
// version reads from.
func CreateSecret(t testing.TB, ns, name string, data map[string]string) {
	t.Helper()
	if _, err := Kube(t).CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		StringData: data,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
