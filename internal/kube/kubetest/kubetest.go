// Package kubetest adds to client-go's fake clientset what the API server does and the fake
// does not, for tests of code that relies on it.
package kubetest

import (
	"errors"
	"fmt"
	"sync/atomic"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/component-helpers/auth/rbac/validation"
)

// EmulateResourceVersions makes the fake behave like the API server for the named resources
// (e.g. "configmaps", "leases"): created objects get a UID (when they have none) and a
// resourceVersion, every update gets a new resourceVersion, an update that carries a
// resourceVersion other than the stored one is a Conflict, and a delete whose preconditions
// do not match is a Conflict. The fake runs reactors one at a time, so each check-and-set is
// atomic. Reactors prepended later (e.g. injected failures) run before these.
func EmulateResourceVersions(cs *fake.Clientset, resources ...string) {
	var rv atomic.Int64
	next := func() string { return fmt.Sprint(rv.Add(1)) }
	for _, resource := range resources {
		cs.PrependReactor("create", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			m, err := meta.Accessor(a.(k8stesting.CreateAction).GetObject())
			if err != nil {
				return true, nil, err
			}
			m.SetResourceVersion(next())
			if m.GetUID() == "" {
				m.SetUID(types.UID("uid-" + next()))
			}
			return false, nil, nil // the default reactor stores it
		})
		cs.PrependReactor("update", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			m, err := meta.Accessor(a.(k8stesting.UpdateAction).GetObject())
			if err != nil {
				return true, nil, err
			}
			cur, err := cs.Tracker().Get(a.GetResource(), a.GetNamespace(), m.GetName())
			if err != nil {
				return true, nil, err
			}
			cm, _ := meta.Accessor(cur)
			// An update without a resourceVersion is unconditional, as on the API server.
			if rv := m.GetResourceVersion(); rv != "" && rv != cm.GetResourceVersion() {
				return true, nil, apierrors.NewConflict(a.GetResource().GroupResource(), m.GetName(),
					errors.New("the object has been modified; please apply your changes to the latest version and try again"))
			}
			m.SetUID(cm.GetUID())
			m.SetResourceVersion(next())
			return false, nil, nil
		})
		cs.PrependReactor("delete", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			da := a.(k8stesting.DeleteAction)
			pre := da.GetDeleteOptions().Preconditions
			if pre == nil {
				return false, nil, nil
			}
			cur, err := cs.Tracker().Get(a.GetResource(), a.GetNamespace(), da.GetName())
			if err != nil {
				return true, nil, err
			}
			cm, _ := meta.Accessor(cur)
			if (pre.ResourceVersion != nil && *pre.ResourceVersion != cm.GetResourceVersion()) || (pre.UID != nil && *pre.UID != cm.GetUID()) {
				return true, nil, apierrors.NewConflict(a.GetResource().GroupResource(), da.GetName(), errors.New("precondition failed"))
			}
			return false, nil, nil
		})
	}
}

// AsIdentity returns a clientset that sees the objects of cs, through cs's reactors (so
// injected faults and emulated behaviour apply), but answers Forbidden, as the API server's
// RBAC authorizer does, to every request rules do not allow. Tests run the code under test
// with it and keep cs for their own setup: every call the code makes is then checked
// against the Role it documents.
func AsIdentity(cs *fake.Clientset, rules []rbacv1.PolicyRule) *fake.Clientset {
	view := &fake.Clientset{}
	view.AddReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if err := authorize(a, rules); err != nil {
			return true, nil, err
		}
		obj, err := cs.Invokes(a, nil)
		return true, obj, err
	})
	view.AddWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		if err := authorize(a, rules); err != nil {
			return true, nil, err
		}
		w, err := cs.InvokesWatch(a)
		return true, w, err
	})
	return view
}

// authorize is RBAC's decision on a, worded as the API server words a denial.
func authorize(a k8stesting.Action, rules []rbacv1.PolicyRule) error {
	verb := a.GetVerb()
	if verb == "delete-collection" { // the fake's name for it
		verb = "deletecollection"
	}
	gr := a.GetResource().GroupResource()
	resource := gr.Resource
	if sub := a.GetSubresource(); sub != "" {
		resource += "/" + sub
	}
	want := rbacv1.PolicyRule{APIGroups: []string{gr.Group}, Resources: []string{resource}, Verbs: []string{verb}}
	if ok, _ := validation.Covers(rules, []rbacv1.PolicyRule{want}); ok {
		return nil
	}
	return apierrors.NewForbidden(gr, "", fmt.Errorf("User %q cannot %s resource %q in API group %q in the namespace %q",
		"system:serviceaccount:test:provider", verb, resource, gr.Group, a.GetNamespace()))
}
