// Package kubetest adds to client-go's fake clientset what the API server does and the fake
// does not, for tests of code that relies on it.
package kubetest

import (
	"errors"
	"fmt"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
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
