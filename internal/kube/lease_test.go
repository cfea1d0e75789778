package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	coordv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube/kubetest"
)

var leaseGVR = coordinationv1.SchemeGroupVersion.WithResource("leases")

// testClock is an injectable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// emulateResourceVersions makes the fake behave like the API server for Leases (UIDs,
// resourceVersions, conflicts).
func emulateResourceVersions(cs *fake.Clientset) { kubetest.EmulateResourceVersions(cs, "leases") }

// gatedKube holds the first n Lease writes (create or update) until all n have been made,
// so n acquirers all decide to write on the same state before any of them writes: a
// guaranteed race.
type gatedKube struct {
	kubernetes.Interface
	g *gate
}

type gate struct {
	n        int32
	arrived  atomic.Int32
	open     chan struct{}
	timedOut atomic.Bool
}

func newGate(n int) *gate { return &gate{n: int32(n), open: make(chan struct{})} }

func (g *gate) pass() {
	k := g.arrived.Add(1)
	if k > g.n {
		return
	}
	if k == g.n {
		close(g.open)
	}
	select {
	case <-g.open:
	case <-time.After(5 * time.Second):
		g.timedOut.Store(true)
	}
}

type gatedCoordination struct {
	coordv1client.CoordinationV1Interface
	g *gate
}

type gatedLeases struct {
	coordv1client.LeaseInterface
	g *gate
}

func (k gatedKube) CoordinationV1() coordv1client.CoordinationV1Interface {
	return gatedCoordination{k.Interface.CoordinationV1(), k.g}
}

func (c gatedCoordination) Leases(ns string) coordv1client.LeaseInterface {
	return gatedLeases{c.CoordinationV1Interface.Leases(ns), c.g}
}

func (l gatedLeases) Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error) {
	l.g.pass()
	return l.LeaseInterface.Create(ctx, lease, opts)
}

func (l gatedLeases) Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	l.g.pass()
	return l.LeaseInterface.Update(ctx, lease, opts)
}

func getLease(t *testing.T, cs kubernetes.Interface) *coordinationv1.Lease {
	t.Helper()
	l, err := cs.CoordinationV1().Leases("streams").Get(context.Background(), "orders-flink-lock", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get lease: %v", err)
	}
	return l
}

func heldLease(holder, op string, renewed time.Time, seconds int32) *coordinationv1.Lease {
	mt := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: "orders-flink-lock", Namespace: "streams",
			Labels:      RecordLabels("orders", RecordLock),
			Annotations: map[string]string{AnnotationLockOperation: op},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, AcquireTime: &mt, RenewTime: &mt, LeaseDurationSeconds: &seconds},
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestLockAcquireRelease(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := &Client{Kube: cs}
	clock := newTestClock(t0)
	opts := LockOptions{Now: clock.Now}
	a := LeaseHolder{Identity: "ci-a/101/aaaa", Operation: "savepoint_redeploy v1->v2"}

	if LockName("orders") != "orders-flink-lock" {
		t.Fatalf("LockName = %q", LockName("orders"))
	}
	lock, err := c.AcquireLock(ctx, "streams", "orders", a, opts)
	if err != nil {
		t.Fatalf("AcquireLock: %v", err)
	}
	lease := getLease(t, cs)
	if got := *lease.Spec.HolderIdentity; got != a.Identity {
		t.Errorf("holderIdentity %q", got)
	}
	if got := lease.Annotations[AnnotationLockOperation]; got != a.Operation {
		t.Errorf("operation annotation %q", got)
	}
	if got := *lease.Spec.LeaseDurationSeconds; got != 60 {
		t.Errorf("leaseDurationSeconds %d, want 60", got)
	}
	if !lease.Spec.AcquireTime.Time.Equal(t0) || !lease.Spec.RenewTime.Time.Equal(t0) {
		t.Errorf("acquire/renew time %v/%v, want %v", lease.Spec.AcquireTime, lease.Spec.RenewTime, t0)
	}
	for k, v := range map[string]string{LabelManagedBy: ManagedByValue, LabelName: "orders", LabelRecord: RecordLock} {
		if lease.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, lease.Labels[k], v)
		}
	}
	if len(lease.OwnerReferences) != 0 {
		t.Errorf("owner references %v", lease.OwnerReferences)
	}

	// Someone else: ErrLocked, naming the holder, the operation, since and expiry.
	clock.Set(t0.Add(10 * time.Second))
	b := LeaseHolder{Identity: "ci-b/202/bbbb", Operation: "suspend"}
	_, err = c.AcquireLock(ctx, "streams", "orders", b, opts)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second AcquireLock: %v, want ErrLocked", err)
	}
	var le *LockedError
	if !errors.As(err, &le) || le.Holder != a || !le.Since.Equal(t0) || !le.ExpiresAt.Equal(t0.Add(60*time.Second)) {
		t.Errorf("LockedError %+v", le)
	}
	want := "application streams/orders is locked by ci-a/101/aaaa (savepoint_redeploy v1->v2) since 2026-03-01T12:00:00Z; " +
		"it expires at 2026-03-01T12:01:00Z unless renewed. Another apply is running; wait for it, or if that process died, retry after the expiry"
	if err.Error() != want {
		t.Errorf("error text:\n got %s\nwant %s", err, want)
	}

	// In this process the lock is held: the same identity does not get it twice.
	if _, err := c.AcquireLock(ctx, "streams", "orders", a, opts); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "locked by ci-a/101/aaaa") {
		t.Errorf("second AcquireLock with the same identity in-process: %v, want ErrLocked", err)
	}
	// The same identity re-acquires where no Lock of this Client holds it (e.g. a retry
	// after the response of a successful create was lost): acquireTime is kept.
	again, err := (&Client{Kube: cs}).AcquireLock(ctx, "streams", "orders", a, opts)
	if err != nil {
		t.Fatalf("re-acquire by the holder: %v", err)
	}
	if l := getLease(t, cs); !l.Spec.AcquireTime.Time.Equal(t0) || !l.Spec.RenewTime.Time.Equal(t0.Add(10*time.Second)) {
		t.Errorf("after re-acquire acquire/renew %v/%v", l.Spec.AcquireTime, l.Spec.RenewTime)
	}
	if err := again.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}

	if err := lock.Release(ctx); err != nil {
		t.Fatalf("Release (already released): %v", err)
	}
	if _, err := cs.CoordinationV1().Leases("streams").Get(ctx, "orders-flink-lock", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lease after release: %v, want NotFound", err)
	}
	select {
	case <-lock.Lost():
		t.Errorf("Lost() closed after a normal release: %v", lock.Err())
	default:
	}

	// Now b gets it.
	lb, err := c.AcquireLock(ctx, "streams", "orders", b, opts)
	if err != nil {
		t.Fatalf("AcquireLock after release: %v", err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatalf("Release b: %v", err)
	}
}

func TestLockValidation(t *testing.T) {
	c := &Client{Kube: fake.NewClientset()}
	ctx := context.Background()
	for name, f := range map[string]func() error{
		"no identity": func() error {
			_, err := c.AcquireLock(ctx, "streams", "orders", LeaseHolder{}, LockOptions{})
			return err
		},
		"bad app": func() error {
			_, err := c.AcquireLock(ctx, "streams", "Orders", LeaseHolder{Identity: "x"}, LockOptions{})
			return err
		},
		"neg duration": func() error {
			_, err := c.AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "x"}, LockOptions{Duration: -1})
			return err
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A foreign Lease of the same name is not taken over.
	cs := fake.NewClientset(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "orders-flink-lock", Namespace: "streams"}})
	c = &Client{Kube: cs}
	if _, err := c.AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "x"}, LockOptions{}); err == nil || !strings.Contains(err.Error(), "is not the lock") {
		t.Errorf("foreign lease: %v", err)
	}
}

func TestLockRenews(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := &Client{Kube: cs}
	var now atomic.Int64
	now.Store(t0.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Add(int64(time.Second))).UTC() } // every reading is one second later
	lock, err := c.AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "a"}, LockOptions{Duration: 150 * time.Millisecond, Now: clock})
	if err != nil {
		t.Fatalf("AcquireLock: %v", err)
	}
	acquired := getLease(t, cs)
	if *acquired.Spec.LeaseDurationSeconds != 1 {
		t.Errorf("leaseDurationSeconds %d, want 1 (rounded up)", *acquired.Spec.LeaseDurationSeconds)
	}
	deadline := time.Now().Add(5 * time.Second)
	renewals := 0
	last := acquired.Spec.RenewTime.Time
	for time.Now().Before(deadline) && renewals < 2 {
		time.Sleep(20 * time.Millisecond)
		l := getLease(t, cs)
		if l.Spec.RenewTime.Time.After(last) {
			renewals++
			last = l.Spec.RenewTime.Time
			if !l.Spec.AcquireTime.Time.Equal(acquired.Spec.AcquireTime.Time) {
				t.Errorf("renewal changed acquireTime")
			}
		}
	}
	if renewals < 2 {
		t.Fatalf("lease renewed %d times in 5s, want >= 2", renewals)
	}
	select {
	case <-lock.Lost():
		t.Fatalf("lost: %v", lock.Err())
	default:
	}
	if err := lock.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	// No renewal after release: the lease stays gone.
	time.Sleep(200 * time.Millisecond)
	if _, err := cs.CoordinationV1().Leases("streams").Get(ctx, "orders-flink-lock", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lease after release: %v, want NotFound", err)
	}
}

func TestLockWaitsForRelease(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := &Client{Kube: cs}
	a := LeaseHolder{Identity: "ci-a", Operation: "savepoint_redeploy v1->v2"}
	b := LeaseHolder{Identity: "ci-b", Operation: "rescale"}
	la, err := c.AcquireLock(ctx, "streams", "orders", a, LockOptions{})
	if err != nil {
		t.Fatalf("AcquireLock a: %v", err)
	}

	var waitedFor []string
	var mu sync.Mutex
	type result struct {
		lock *Lock
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		l, err := c.AcquireLock(ctx, "streams", "orders", b, LockOptions{Wait: true, OnWait: func(e *LockedError) {
			mu.Lock()
			waitedFor = append(waitedFor, e.Holder.Identity+" "+e.Holder.Operation)
			mu.Unlock()
		}})
		ch <- result{l, err}
	}()
	select {
	case r := <-ch:
		t.Fatalf("waiting acquirer returned while the lock was held: %v, %v", r.lock, r.err)
	case <-time.After(400 * time.Millisecond):
	}
	go func() {
		if err := la.Release(ctx); err != nil {
			t.Errorf("Release a: %v", err)
		}
	}()
	var r result
	select {
	case r = <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("waiting acquirer did not get the lock after release")
	}
	if r.err != nil {
		t.Fatalf("waiting AcquireLock: %v", r.err)
	}
	if got := *getLease(t, cs).Spec.HolderIdentity; got != "ci-b" {
		t.Errorf("holder %q, want ci-b", got)
	}
	mu.Lock()
	if len(waitedFor) != 1 || waitedFor[0] != "ci-a savepoint_redeploy v1->v2" {
		t.Errorf("OnWait calls %q", waitedFor)
	}
	mu.Unlock()

	// Waiting ends with ctx: the error says who held it and that we gave up.
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = c.AcquireLock(tctx, "streams", "orders", a, LockOptions{Wait: true})
	if !errors.Is(err, ErrLocked) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "locked by ci-b (rescale)") {
		t.Errorf("AcquireLock with expiring ctx: %v", err)
	}
	if err := r.lock.Release(ctx); err != nil {
		t.Fatalf("Release b: %v", err)
	}
}

// A lease that looks expired is taken over only after this process has watched it stay
// unchanged for its whole duration, and the user is told why the apply pauses.
func TestLockAbandonedLeaseIsTakenOverAfterWatchingItForItsDuration(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(heldLease("dead-host/7/dead", "suspend", t0, 1))
	emulateResourceVersions(cs)
	c := &Client{Kube: cs}
	clock := newTestClock(t0.Add(time.Second)) // renewTime + duration == now: not yet expired
	var confirms []string
	opts := LockOptions{Now: clock.Now, OnConfirm: func(c Confirming) { confirms = append(confirms, c.String()) }}
	me := LeaseHolder{Identity: "me", Operation: "resume"}

	start := time.Now()
	_, err := c.AcquireLock(ctx, "streams", "orders", me, opts)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "dead-host/7/dead (suspend)") || !strings.Contains(err.Error(), "expires at 2026-03-01T12:00:01Z") {
		t.Fatalf("AcquireLock before expiry: %v", err)
	}
	if waited := time.Since(start); waited > 500*time.Millisecond || len(confirms) != 0 {
		t.Errorf("a fresh-looking lease was watched (%s, %q) instead of refused at once", waited, confirms)
	}

	clock.Set(t0.Add(2 * time.Second))
	start = time.Now()
	lock, err := c.AcquireLock(ctx, "streams", "orders", me, opts)
	if err != nil {
		t.Fatalf("AcquireLock after expiry: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("took the lease over after watching it for %s, less than its duration 1s", waited)
	}
	want := "confirming that the lock of streams/orders held by dead-host/7/dead (suspend) since 2026-03-01T12:00:00Z is abandoned; " +
		"taking it over if it is not renewed within 1s"
	if len(confirms) != 1 || confirms[0] != want {
		t.Errorf("OnConfirm calls %q, want [%q]", confirms, want)
	}
	l := getLease(t, cs)
	if *l.Spec.HolderIdentity != "me" || l.Annotations[AnnotationLockOperation] != "resume" {
		t.Errorf("holder %q op %q", *l.Spec.HolderIdentity, l.Annotations[AnnotationLockOperation])
	}
	if !l.Spec.AcquireTime.Time.Equal(t0.Add(2*time.Second)) || !l.Spec.RenewTime.Time.Equal(t0.Add(2*time.Second)) {
		t.Errorf("acquire/renew %v/%v", l.Spec.AcquireTime, l.Spec.RenewTime)
	}
	if l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions != 1 {
		t.Errorf("leaseTransitions %v, want 1", l.Spec.LeaseTransitions)
	}
	if err := lock.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

// release releases lock, failing the test if that fails (for defer).
func release(ctx context.Context, t *testing.T, lock *Lock) {
	t.Helper()
	if err := lock.Release(ctx); err != nil {
		t.Errorf("Release: %v", err)
	}
}

// The reliability review's reproduction: a taker whose clock runs a minute ahead sees a lease
// renewed just now as expired. It must not take it: the holder renews it while the taker
// watches, so the taker reports it locked.
func TestLockNotTakenFromLiveHolderWhoseClockDiffers(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	emulateResourceVersions(cs)
	c := &Client{Kube: cs}
	a, err := c.AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "runner-a", Operation: "savepoint_redeploy"}, LockOptions{Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer release(ctx, t, a)

	c2 := &Client{Kube: cs} // another process
	skewed := func() time.Time { return time.Now().Add(61 * time.Second) }
	var confirms atomic.Int32
	b, err := c2.AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "runner-b", Operation: "destroy"},
		LockOptions{Now: skewed, OnConfirm: func(Confirming) { confirms.Add(1) }})
	if err == nil {
		_ = b.Release(ctx) // the test fails either way
		t.Fatalf("runner-b took the lease runner-a is renewing")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "locked by runner-a (savepoint_redeploy)") {
		t.Errorf("AcquireLock by runner-b: %v, want ErrLocked naming runner-a", err)
	}
	if confirms.Load() != 1 {
		t.Errorf("OnConfirm called %d times, want once (the lease looked expired to runner-b)", confirms.Load())
	}
	if got := *getLease(t, cs).Spec.HolderIdentity; got != "runner-a" {
		t.Errorf("holder %q, want runner-a", got)
	}
	if err := a.Check(ctx); err != nil {
		t.Errorf("runner-a's Check: %v", err)
	}
}

// A waiting acquirer takes over a lease that stops changing even when it never looks
// expired (the dead holder's clock ran ahead).
func TestLockWaiterTakesOverADeadLeaseThatLooksFresh(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(heldLease("ahead", "suspend", time.Now().Add(time.Hour), 1))
	emulateResourceVersions(cs)
	c := &Client{Kube: cs}
	var waits atomic.Int32
	start := time.Now()
	lock, err := c.AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "me"},
		LockOptions{Wait: true, OnWait: func(*LockedError) { waits.Add(1) }})
	if err != nil {
		t.Fatalf("AcquireLock: %v", err)
	}
	defer release(ctx, t, lock)
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("took the lease over after %s, less than its duration 1s", waited)
	}
	if waits.Load() != 1 {
		t.Errorf("OnWait called %d times, want 1", waits.Load())
	}
	if got := *getLease(t, cs).Spec.HolderIdentity; got != "me" {
		t.Errorf("holder %q", got)
	}
}

func TestLockRacingAcquirersExactlyOneWins(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initial []runtime.Object
	}{
		{"no lease yet", nil},
		{"expired lease", []runtime.Object{heldLease("dead", "suspend", t0.Add(-time.Hour), 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 4
			ctx := context.Background()
			cs := fake.NewClientset(tc.initial...)
			emulateResourceVersions(cs)
			if len(tc.initial) > 0 {
				// give the seeded lease a resourceVersion
				obj, _ := cs.Tracker().Get(leaseGVR, "streams", "orders-flink-lock")
				l := obj.(*coordinationv1.Lease).DeepCopy()
				l.ResourceVersion = "1000"
				if err := cs.Tracker().Update(leaseGVR, l, "streams"); err != nil {
					t.Fatal(err)
				}
			}
			// One Client per racer: they stand for separate provider processes.
			kube := gatedKube{Interface: cs, g: newGate(n)}
			clock := newTestClock(t0)

			var wg sync.WaitGroup
			locks := make([]*Lock, n)
			errs := make([]error, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					c := &Client{Kube: kube}
					locks[i], errs[i] = c.AcquireLock(ctx, "streams", "orders",
						LeaseHolder{Identity: fmt.Sprintf("racer-%d", i), Operation: "op"}, LockOptions{Now: clock.Now})
				}(i)
			}
			wg.Wait()
			if kube.g.timedOut.Load() {
				t.Errorf("the racers did not all decide to write before one wrote: no race was tested")
			}
			winner := -1
			for i := 0; i < n; i++ {
				switch {
				case errs[i] == nil:
					if winner >= 0 {
						t.Fatalf("both racer-%d and racer-%d acquired the lock", winner, i)
					}
					winner = i
				case !errors.Is(errs[i], ErrLocked):
					t.Errorf("racer-%d: %v, want ErrLocked", i, errs[i])
				}
			}
			if winner < 0 {
				t.Fatalf("nobody won: %v", errs)
			}
			for i := 0; i < n; i++ {
				if i != winner && !strings.Contains(errs[i].Error(), fmt.Sprintf("locked by racer-%d (op)", winner)) {
					t.Errorf("racer-%d error does not name the winner: %v", i, errs[i])
				}
			}
			if got := *getLease(t, cs).Spec.HolderIdentity; got != fmt.Sprintf("racer-%d", winner) {
				t.Errorf("lease holder %q, winner racer-%d", got, winner)
			}
			if err := locks[winner].Release(ctx); err != nil {
				t.Fatalf("Release: %v", err)
			}
		})
	}
}

// Goroutines of one process that share an identity (one provider process, two resources
// on the same application) are exclusive too, although the Lease alone lets a holder
// re-acquire its own lease.
func TestLockSameIdentityInProcessExactlyOneWins(t *testing.T) {
	const n = 4
	ctx := context.Background()
	cs := fake.NewClientset()
	c := &Client{Kube: cs}
	var wg sync.WaitGroup
	locks := make([]*Lock, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			locks[i], errs[i] = c.AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "provider-1", Operation: fmt.Sprint("op-", i)}, LockOptions{})
		}(i)
	}
	wg.Wait()
	winner := -1
	for i := 0; i < n; i++ {
		if errs[i] == nil {
			if winner >= 0 {
				t.Fatalf("goroutines %d and %d both acquired the lock", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("nobody won: %v", errs)
	}
	for i := 0; i < n; i++ {
		if i != winner && (!errors.Is(errs[i], ErrLocked) || !strings.Contains(errs[i].Error(), fmt.Sprintf("locked by provider-1 (op-%d)", winner))) {
			t.Errorf("goroutine %d: %v, want ErrLocked naming op-%d", i, errs[i], winner)
		}
	}
	// A waiter in the same process gets it after the release.
	done := make(chan error, 1)
	go func() {
		l, err := c.AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "provider-1", Operation: "next"}, LockOptions{Wait: true})
		if err == nil {
			err = l.Release(ctx)
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := locks[winner].Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("waiter: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("in-process waiter did not get the lock")
	}
	lockSlotsMu.Lock()
	left := len(lockSlots)
	lockSlotsMu.Unlock()
	if left != 0 {
		t.Errorf("%d lock slots left registered", left)
	}
}

// A Conflict on update (someone took the abandoned lease between our read and our write)
// makes the acquirer re-read and report the new holder.
func TestLockConflictOnUpdateRereads(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(heldLease("dead", "suspend", t0.Add(-time.Hour), 1))
	var injected atomic.Int32
	cs.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if injected.Add(1) > 1 {
			return false, nil, nil
		}
		// The other pipeline wins the race.
		if err := cs.Tracker().Update(leaseGVR, heldLease("pipeline-2", "savepoint_redeploy v2->v3", t0, 60), "streams"); err != nil {
			return true, nil, err
		}
		return true, nil, apierrors.NewConflict(leaseGVR.GroupResource(), "orders-flink-lock", errors.New("the object has been modified"))
	})
	c := &Client{Kube: cs}
	_, err := c.AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "pipeline-1", Operation: "suspend"}, LockOptions{Now: newTestClock(t0).Now})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "locked by pipeline-2 (savepoint_redeploy v2->v3)") {
		t.Fatalf("AcquireLock: %v, want ErrLocked by pipeline-2", err)
	}
	if got := *getLease(t, cs).Spec.HolderIdentity; got != "pipeline-2" {
		t.Errorf("holder %q", got)
	}
}

func TestLockLostWhenTakenOver(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := &Client{Kube: cs}
	lock, err := c.AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "a", Operation: "upgrade"}, LockOptions{Duration: 150 * time.Millisecond})
	if err != nil {
		t.Fatalf("AcquireLock: %v", err)
	}
	if lock.Err() != nil {
		t.Fatalf("Err() = %v while held", lock.Err())
	}
	// Someone else takes it (as if our renewals had stalled past the expiry).
	if err := cs.Tracker().Update(leaseGVR, heldLease("b", "suspend", time.Now(), 60), "streams"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lock.Lost():
	case <-time.After(5 * time.Second):
		t.Fatalf("Lost() not closed after the lease was taken over")
	}
	if err := lock.Err(); !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "now locked by b (suspend)") {
		t.Errorf("Err() = %v", err)
	}
	// Release leaves the other holder's lease alone.
	if err := lock.Release(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("Release: %v, want ErrLockLost", err)
	}
	if got := *getLease(t, cs).Spec.HolderIdentity; got != "b" {
		t.Errorf("holder after our Release %q, want b", got)
	}
}

// Renewal failures are retried while the last renewal is within the lease duration (on the
// monotonic clock); past it the lock is lost, since another process may then take it.
func TestLockLostWhenRenewalFailsTooLong(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	var failing atomic.Bool
	var attempts atomic.Int32
	cs.PrependReactor("*", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if failing.Load() {
			attempts.Add(1)
			return true, nil, apierrors.NewInternalError(errors.New("etcd unavailable"))
		}
		return false, nil, nil
	})
	var logs atomic.Int32
	c := &Client{Kube: cs, Logf: func(string, ...any) { logs.Add(1) }}
	dur := 1200 * time.Millisecond // renewed every 400ms
	lock, err := c.AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "a"}, LockOptions{Duration: dur})
	if err != nil {
		t.Fatalf("AcquireLock: %v", err)
	}
	failing.Store(true)
	failedFrom := time.Now()
	// The first failure, about 400ms in, is retried, not fatal.
	deadline := time.Now().Add(5 * time.Second)
	for attempts.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-lock.Lost():
		t.Fatalf("lost after failures within the duration: %v", lock.Err())
	default:
	}
	if logs.Load() == 0 {
		t.Errorf("renewal failures were not logged")
	}
	// Past the duration: lost.
	select {
	case <-lock.Lost():
	case <-time.After(5 * time.Second):
		t.Fatalf("Lost() not closed after renewal failed for longer than the duration")
	}
	if failed := time.Since(failedFrom); failed < dur-400*time.Millisecond {
		t.Errorf("lost after failing for %s, within the duration %s", failed, dur)
	}
	if err := lock.Err(); !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "etcd unavailable") {
		t.Errorf("Err() = %v", err)
	}
	if err := lock.Check(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("Check of a lost lock: %v, want ErrLockLost", err)
	}
	failing.Store(false)
	// The lease is still ours on the server, so Release deletes it.
	if err := lock.Release(ctx); err != nil {
		t.Errorf("Release: %v", err)
	}
	if _, err := cs.CoordinationV1().Leases("streams").Get(ctx, "orders-flink-lock", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lease after release: %v", err)
	}
}

// Check passes only while the lease is verifiably ours, so the lifecycle can stop before a
// step that changes the cluster.
func TestLockCheckFailsOnceTheLeaseIsNotVerifiablyOurs(t *testing.T) {
	ctx := context.Background()
	newLock := func(t *testing.T) (*fake.Clientset, *Lock) {
		cs := fake.NewClientset()
		lock, err := (&Client{Kube: cs, TransientBackoff: wait.Backoff{Duration: time.Millisecond, Steps: 2}}).
			AcquireLock(ctx, "streams", "orders", LeaseHolder{Identity: "a", Operation: "upgrade"}, LockOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = lock.Release(ctx) }) // the cases take the lease away: Release may fail
		if err := lock.Check(ctx); err != nil {
			t.Fatalf("Check while held: %v", err)
		}
		return cs, lock
	}
	t.Run("taken over", func(t *testing.T) {
		cs, lock := newLock(t)
		if err := cs.Tracker().Update(leaseGVR, heldLease("b", "suspend", t0, 60), "streams"); err != nil {
			t.Fatal(err)
		}
		if err := lock.Check(ctx); !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "now locked by b (suspend)") {
			t.Errorf("Check: %v, want ErrLockLost naming b", err)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		cs, lock := newLock(t)
		if err := cs.Tracker().Delete(leaseGVR, "streams", "orders-flink-lock"); err != nil {
			t.Fatal(err)
		}
		if err := lock.Check(ctx); !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "was deleted") {
			t.Errorf("Check: %v, want ErrLockLost", err)
		}
	})
	t.Run("not renewed within the duration", func(t *testing.T) {
		// The Lease still names us, but our last renewal is so old that another process
		// may have watched it unchanged for its duration and taken it over.
		_, lock := newLock(t)
		lock.mu.Lock()
		lock.renewedAt = time.Now().Add(-lock.duration)
		lock.mu.Unlock()
		if err := lock.Check(ctx); !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "not within its duration 1m0s") {
			t.Errorf("Check: %v, want ErrLockLost", err)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		cs, lock := newLock(t)
		cs.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewServiceUnavailable("apiserver restarting")
		})
		err := lock.Check(ctx)
		if err == nil || errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "cannot verify the lock") {
			t.Errorf("Check: %v, want an error that is not ErrLockLost", err)
		}
	})
}

func TestNewLeaseIdentity(t *testing.T) {
	a, b := NewLeaseIdentity(), NewLeaseIdentity()
	if a == b || strings.Count(a, "/") < 2 {
		t.Errorf("identities %q, %q", a, b)
	}
}
