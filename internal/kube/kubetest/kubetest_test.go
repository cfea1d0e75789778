package kubetest

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// AsIdentity lets through what the rules allow, to the objects and reactors of the backing
// clientset, and answers everything else Forbidden in the API server's words.
func TestAsIdentityAuthorizesEveryCall(t *testing.T) {
	ctx := context.Background()
	backing := fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tm", Namespace: "ns", Labels: map[string]string{"c": "tm"}}})
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}}
	view := AsIdentity(backing, rules)

	pods, err := view.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("allowed list: %v, %v; want the backing clientset's pod", pods, err)
	}
	err = view.CoreV1().Pods("ns").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "c=tm"})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `cannot deletecollection resource "pods" in API group "" in the namespace "ns"`) {
		t.Errorf("deletecollection without the verb: %v; want Forbidden naming it", err)
	}
	if _, err := view.CoreV1().Secrets("ns").Get(ctx, "s", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("get secrets without a rule: %v; want Forbidden", err)
	}
	if _, err := backing.CoreV1().Pods("ns").Get(ctx, "tm", metav1.GetOptions{}); err != nil {
		t.Errorf("the pod a denied delete must not touch: %v", err)
	}
}
