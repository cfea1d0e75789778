package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// forbidden builds a Forbidden error the way kube-apiserver 1.35 does: the authorization
// filter and the create check of a server-side apply (responsewriters.ForbiddenStatusError),
// and admission plugins (admission.NewForbidden).
func forbidden(group, resource, name, reason string) error {
	return apierrors.NewForbidden(schema.GroupResource{Group: group, Resource: resource}, name, errors.New(reason))
}

func TestExplainForbidden(t *testing.T) {
	const user = `User "system:serviceaccount:streams:terraform-provider-flink"`
	for _, tc := range []struct {
		name string
		err  error
		want string // the line the hint adds
	}{{
		name: "server-side apply of a missing Deployment",
		err:  forbidden("apps", "deployments", "orders-jobmanager", user+` cannot create resource "deployments" in API group "apps" in the namespace "streams"`),
		want: "The provider's Kubernetes identity lacks permission to create deployments.apps in namespace streams: give it the Role in docs/guides/rbac.md.",
	}, {
		name: "lease read",
		err:  forbidden("coordination.k8s.io", "leases", "orders-flink-lock", user+` cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "streams"`),
		want: "The provider's Kubernetes identity lacks permission to get leases.coordination.k8s.io in namespace streams: give it the Role in docs/guides/rbac.md.",
	}, {
		name: "core subresource",
		err:  forbidden("", "services", "orders-rest:rest", user+` cannot patch resource "services/proxy" in API group "" in the namespace "streams"`),
		want: "The provider's Kubernetes identity lacks permission to patch services/proxy in namespace streams: give it the Role in docs/guides/rbac.md.",
	}, {
		name: "OwnerReferencesPermissionEnforcement",
		err:  forbidden("", "services", "orders-rest", "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: , <nil>"),
		want: "The provider's Kubernetes identity lacks permission to update configmaps/finalizers in namespace streams: give it the Role in docs/guides/rbac.md.",
	}, {
		name: "escalation check",
		err:  forbidden("rbac.authorization.k8s.io", "roles", "orders-jobmanager", `user "x" (groups=[]) is attempting to grant RBAC permissions not currently held`),
		want: "The provider's Kubernetes identity lacks a permission on roles.rbac.authorization.k8s.io in namespace streams: give it the Role in docs/guides/rbac.md.",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			wrapped := fmt.Errorf("apply: %w", tc.err)
			got := explainForbidden(wrapped, "streams")
			var pe *PermissionError
			if !errors.As(got, &pe) {
				t.Fatalf("not a *PermissionError: %v", got)
			}
			if !apierrors.IsForbidden(got) || !errors.Is(got, tc.err) {
				t.Errorf("the API server's error is no longer found in %v", got)
			}
			first, hint, _ := strings.Cut(got.Error(), "\n")
			if first != wrapped.Error() {
				t.Errorf("first line %q, want the error as it was: %q", first, wrapped.Error())
			}
			if hint != tc.want {
				t.Errorf("hint\n got %q\nwant %q", hint, tc.want)
			}
			if again := explainForbidden(fmt.Errorf("outer: %w", got), "streams"); strings.Count(again.Error(), RBACGuide) != 1 {
				t.Errorf("explained twice: %v", again)
			}
		})
	}
	for _, err := range []error{nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, "x"), errors.New("forbidden")} {
		if got := explainForbidden(err, "streams"); got != err {
			t.Errorf("explainForbidden(%v) = %v, want it unchanged", err, got)
		}
	}
}

// Every exported call explains a Forbidden answer, e.g. Apply when the identity may not
// create the JobManager Deployment.
func TestApplyExplainsForbidden(t *testing.T) {
	cs := fake.NewClientset()
	denied := forbidden("apps", "deployments", "orders-jobmanager",
		`User "system:serviceaccount:streams:terraform-provider-flink" cannot create resource "deployments" in API group "apps" in the namespace "streams"`)
	cs.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, denied })
	c := &Client{Kube: cs}
	err := c.Apply(context.Background(), mustRender(t, testDeployment(), nil))
	var pe *PermissionError
	if !errors.As(err, &pe) || pe.Verb != "create" || pe.qualifiedResource() != "deployments.apps" || pe.Namespace != "streams" {
		t.Fatalf("Apply: %v (%#v)", err, pe)
	}
	if !strings.HasPrefix(err.Error(), "apply Deployment streams/orders-jobmanager: ") || !strings.Contains(err.Error(), RBACGuide) {
		t.Errorf("Apply: %v", err)
	}
}
