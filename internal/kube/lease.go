package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// DefaultLockDuration is the lease duration when LockOptions.Duration is zero.
const DefaultLockDuration = 60 * time.Second

// ErrLocked is the errors.Is target of the error AcquireLock returns when another holder
// has the application's lease (a *LockedError).
var ErrLocked = errors.New("application is locked")

// ErrLockLost is the errors.Is target of Lock.Err and of Release when the lease was taken
// over by someone else (or deleted, or could not be renewed in time) while we held it.
var ErrLockLost = errors.New("application lock lost")

// LeaseHolder identifies who holds an application's lease and why.
type LeaseHolder struct {
	// Identity should be unique per process (see NewLeaseIdentity). Re-acquiring one's own
	// lease succeeds, so two processes (or two Clients) sharing an identity are not
	// mutually exclusive; within one Client, AcquireLock is exclusive whatever the identity.
	Identity string
	// Operation says what the holder is doing, e.g. "savepoint_redeploy v1->v2"; it is
	// stored in the AnnotationLockOperation annotation and shown to whoever waits.
	Operation string
}

// NewLeaseIdentity returns a holder identity "<host>/<pid>/<8 random hex>".
func NewLeaseIdentity() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), randomHex(4))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go >= 1.24)
	return hex.EncodeToString(b)
}

// LockOptions tune AcquireLock.
type LockOptions struct {
	// Duration of the lease; DefaultLockDuration (60s) when zero. The lease is renewed
	// every Duration/3. leaseDurationSeconds on the Lease is Duration rounded up to whole
	// seconds.
	Duration time.Duration
	// Wait, when the lease is held by someone else, polls with backoff (100ms growing to
	// 5s) until it is released or abandoned, or ctx ends, instead of failing at once.
	Wait bool
	// Now is the clock (time.Now when nil) for the acquire/renew timestamps written to the
	// Lease and for whether another holder's lease looks expired (renewTime +
	// leaseDurationSeconds before Now), which only decides between failing at once and
	// watching it. Taking a lease over, the renewal interval and Lock.Check run on this
	// process's monotonic clock.
	Now func() time.Time
	// OnWait, when set and Wait is true, is called whenever AcquireLock starts waiting
	// for a (new) holder, so the caller can tell the user who it is waiting for.
	OnWait func(*LockedError)
	// OnConfirm, when set, is called when AcquireLock starts watching a lease that looks
	// expired before taking it over (once per holder and acquire time), so the caller can
	// tell the user why the operation pauses; Confirming.String says it in words.
	OnConfirm func(Confirming)
}

// Confirming describes a lease held by someone else that looks expired and that AcquireLock
// watches before taking it over: it is taken over only if it stays unchanged for Within.
type Confirming struct {
	*LockedError
	Within time.Duration
}

func (c Confirming) String() string {
	return fmt.Sprintf("confirming that the lock of %s/%s held by %s (%s) since %s is abandoned; taking it over if it is not renewed within %s",
		c.Namespace, c.Application, c.Holder.Identity, orUnrecorded(c.Holder.Operation), fmtLockTime(c.Since), c.Within.Round(time.Second))
}

// LockedError is returned (by AcquireLock) when another holder has the lease. It matches
// errors.Is(err, ErrLocked).
type LockedError struct {
	Namespace, Application string
	Holder                 LeaseHolder
	// Since is the holder's acquire time; ExpiresAt is renewTime + leaseDurationSeconds.
	Since, ExpiresAt time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("application %s/%s is locked by %s (%s) since %s; it expires at %s unless renewed. "+
		"Another apply is running; wait for it, or if that process died, retry after the expiry",
		e.Namespace, e.Application, e.Holder.Identity, orUnrecorded(e.Holder.Operation), fmtLockTime(e.Since), fmtLockTime(e.ExpiresAt))
}

func orUnrecorded(op string) string {
	if op == "" {
		return "operation not recorded"
	}
	return op
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

func fmtLockTime(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.UTC().Format(time.RFC3339)
}

// Lock is a held application lease. It is renewed in the background until Release.
type Lock struct {
	c             *Client
	ns, app, name string
	holder        LeaseHolder
	duration      time.Duration
	now           func() time.Time

	slot *lockSlot

	mu        sync.Mutex
	acquired  time.Time // acquireTime of the lease
	lastRenew time.Time // renewTime of the last successful acquire/renew, by now()
	// renewedAt is when the last successful acquire/renew was sent, by time.Now
	// (monotonic): the lease is surely ours until renewedAt + duration.
	renewedAt time.Time
	err       error // why the lock was lost

	lost     chan struct{}
	lostOnce sync.Once
	cancel   context.CancelFunc // stops the renewer
	done     chan struct{}      // closed when the renewer has returned
}

// Holder returns the holder this lock was acquired as.
func (l *Lock) Holder() LeaseHolder { return l.holder }

// Lost returns a channel that is closed when renewal finds the lease taken over by someone
// else or deleted, or when renewing has failed for longer than the lease duration. Err
// then says why. An operation holding the lock should stop at the next safe point.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Err returns why the lock was lost (wrapping ErrLockLost), or nil while it is held.
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *Lock) markLost(err error) {
	l.lostOnce.Do(func() {
		l.mu.Lock()
		l.err = explainForbidden(err, l.ns)
		l.mu.Unlock()
		l.leaveSlot()
		close(l.lost)
	})
}

// The in-process registry of held locks. The Lease protocol lets a holder re-acquire its
// own lease (so that a retry after a lost response succeeds); two goroutines of one process
// that share an identity would therefore both "acquire" it. The registry makes them
// exclusive too: per (Client, namespace, application) at most one acquisition attempt runs
// at a time, and while a Lock is held in this process another AcquireLock sees it as held.
type lockKey struct {
	c       *Client
	ns, app string
}

type lockSlot struct {
	attempt sync.Mutex // serialises acquisition attempts
	refs    int        // guarded by lockSlotsMu: attempts in progress, +1 while held
	held    *Lock      // guarded by lockSlotsMu
}

var (
	lockSlotsMu sync.Mutex
	lockSlots   = map[lockKey]*lockSlot{}
)

func enterSlot(k lockKey) *lockSlot {
	lockSlotsMu.Lock()
	defer lockSlotsMu.Unlock()
	s := lockSlots[k]
	if s == nil {
		s = &lockSlot{}
		lockSlots[k] = s
	}
	s.refs++
	return s
}

func exitSlot(k lockKey, s *lockSlot) {
	lockSlotsMu.Lock()
	defer lockSlotsMu.Unlock()
	s.refs--
	if s.refs == 0 && lockSlots[k] == s {
		delete(lockSlots, k)
	}
}

// leaveSlot unregisters l (once it is released or lost).
func (l *Lock) leaveSlot() {
	k := lockKey{l.c, l.ns, l.app}
	lockSlotsMu.Lock()
	held := l.slot.held == l
	if held {
		l.slot.held = nil
	}
	lockSlotsMu.Unlock()
	if held {
		exitSlot(k, l.slot)
	}
}

// acquireOnce makes one acquisition attempt, exclusive within this process.
func (c *Client) acquireOnce(ctx context.Context, ns, app string, holder LeaseHolder, dur time.Duration, now func() time.Time, w *leaseWatch) (*Lock, *LockedError, error) {
	k := lockKey{c, ns, app}
	s := enterSlot(k)
	defer exitSlot(k, s)
	s.attempt.Lock()
	defer s.attempt.Unlock()

	lockSlotsMu.Lock()
	h := s.held
	lockSlotsMu.Unlock()
	if h != nil {
		w.confirming = false // held in this process, so alive
		h.mu.Lock()
		defer h.mu.Unlock()
		return nil, &LockedError{Namespace: ns, Application: app, Holder: h.holder, Since: h.acquired, ExpiresAt: h.lastRenew.Add(h.duration)}, nil
	}
	// The lease is ours from the moment we send the write at the latest: timing it from
	// before the read errs on the safe side.
	started := time.Now()
	lease, locked, err := c.tryAcquire(ctx, ns, app, holder, dur, now, w)
	if err != nil || locked != nil {
		return nil, locked, err
	}
	l := c.startLock(ctx, ns, app, holder, dur, now, lease, s, started)
	return l, nil, nil
}

// AcquireLock takes the Lease LockName(app) in ns for holder: it creates the Lease, or
// updates it when it has no holder, is already held by holder.Identity, or is abandoned.
// Every write is guarded by the API server (create fails when the Lease exists; update
// carries the resourceVersion that was read), so of two racing acquirers exactly one wins;
// the loser re-reads and sees the lease held.
//
// A lease held by someone else is abandoned only once this process has seen it unchanged
// (holder, times, resourceVersion) for its whole leaseDurationSeconds, timed on this
// process's monotonic clock, as client-go's leader election does: the holder's renewTime
// is never compared with our clock to take a lease, since clocks of two machines differ.
// So when the lease looks fresh (renewTime + leaseDurationSeconds is after opts.Now),
// AcquireLock returns a *LockedError (errors.Is ErrLocked) naming the holder at once. When
// it looks expired, AcquireLock watches it, polling with backoff, tells opts.OnConfirm, and
// takes it over once it has stayed unchanged for its duration; if it changes meanwhile
// (the holder renewed it, or someone else took it) AcquireLock returns a *LockedError.
// With opts.Wait it instead keeps polling until it can take the lease or ctx ends (the
// error then wraps both the last LockedError and ctx.Err()).
//
// Within one process, per Client, the lock is also exclusive between goroutines that share
// an identity: while a Lock of this Client is held, AcquireLock reports it as held.
//
// The returned Lock is renewed every Duration/3 in the background until Release; renewal
// does not depend on ctx.
func (c *Client) AcquireLock(ctx context.Context, ns, app string, holder LeaseHolder, opts LockOptions) (_ *Lock, err error) {
	defer withPermissionHint(&err, ns)
	dur, err := checkLockRequest(ns, app, holder, opts)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}

	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 1.5, Jitter: 0.1, Cap: 5 * time.Second, Steps: math.MaxInt32}
	const maxImmediateRetries = 5
	var (
		watch       leaseWatch
		lastLocked  *LockedError
		lastErr     error
		waitingFor  string
		confirming  string // holder and acquire time last reported to OnConfirm
		conflicts   int
		waitStarted bool
	)
	for {
		lock, locked, err := c.acquireOnce(ctx, ns, app, holder, dur, now, &watch)
		switch {
		case err == nil && locked == nil:
			return lock, nil
		case locked != nil && watch.confirming:
			conflicts = 0
			lastLocked, lastErr = locked, nil
			if key := locked.Holder.Identity + "@" + locked.Since.String(); key != confirming {
				confirming = key
				if opts.OnConfirm != nil {
					opts.OnConfirm(Confirming{LockedError: locked, Within: watch.remaining()})
				}
			}
		case locked != nil:
			conflicts = 0
			lastLocked, lastErr = locked, nil
			if !opts.Wait {
				return nil, locked
			}
			if opts.OnWait != nil && (!waitStarted || locked.Holder.Identity != waitingFor) {
				opts.OnWait(locked)
			}
			waitStarted, waitingFor = true, locked.Holder.Identity
		case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
			// Someone wrote the lease between our read and our write: read it again at once.
			conflicts++
			if conflicts <= maxImmediateRetries {
				continue
			}
			if !opts.Wait {
				return nil, fmt.Errorf("lock %s/%s: gave up after %d write conflicts on Lease %s: %w", ns, app, conflicts, LockName(app), err)
			}
			conflicts, lastErr = 0, err
		case (opts.Wait || watch.confirming) && isTransient(err):
			lastErr = err
		default:
			return nil, err
		}

		delay := backoff.Step()
		if watch.confirming {
			delay = min(delay, watch.remaining()) // look again as soon as it may be taken over
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, gaveUpWaiting(ctx, ns, app, lastLocked, lastErr)
		case <-t.C:
		}
	}
}

// checkLockRequest validates an AcquireLock request and returns the lease duration.
func checkLockRequest(ns, app string, holder LeaseHolder, opts LockOptions) (time.Duration, error) {
	if err := ValidateNamespace(ns); err != nil {
		return 0, err
	}
	if err := ValidateApplicationName(app); err != nil {
		return 0, err
	}
	if holder.Identity == "" {
		return 0, fmt.Errorf("lock %s/%s: holder identity must not be empty", ns, app)
	}
	switch dur := opts.Duration; {
	case dur == 0:
		return DefaultLockDuration, nil
	case dur < 0:
		return 0, fmt.Errorf("lock %s/%s: negative lease duration %s", ns, app, dur)
	default:
		return dur, nil
	}
}

// gaveUpWaiting is AcquireLock's error when ctx ends while it waits: the holder it waited
// for, or the last error, and ctx's.
func gaveUpWaiting(ctx context.Context, ns, app string, lastLocked *LockedError, lastErr error) error {
	if lastLocked != nil {
		return fmt.Errorf("gave up waiting for the lock: %w: %w", lastLocked, ctx.Err())
	}
	if lastErr != nil {
		return fmt.Errorf("lock %s/%s: gave up waiting: %v: %w", ns, app, lastErr, ctx.Err())
	}
	return fmt.Errorf("lock %s/%s: %w", ns, app, ctx.Err())
}

// leaseWatch is what one AcquireLock call has seen of a lease held by someone else.
type leaseWatch struct {
	seen  string        // holder, acquire and expiry times, resourceVersion
	since time.Time     // when seen was first seen, by time.Now (monotonic)
	dur   time.Duration // the lease's duration
	// confirming: the lease looks expired by the Now clock and has not changed since it
	// first did, so it is being watched before a takeover.
	confirming bool
}

// abandoned notes cur (held as described by held, for dur) and reports whether it has
// stayed unchanged for dur since this process first saw it so.
func (w *leaseWatch) abandoned(cur *coordinationv1.Lease, held *LockedError, dur time.Duration, now time.Time) bool {
	seen := fmt.Sprint(held.Holder.Identity, " ", held.Since.UnixNano(), " ", held.ExpiresAt.UnixNano(), " ", cur.ResourceVersion)
	changed := seen != w.seen
	if changed {
		w.seen, w.since = seen, time.Now()
	}
	w.dur = dur
	if time.Since(w.since) >= w.dur {
		return true
	}
	// A lease that changes while we confirm it has been renewed: its holder is alive.
	w.confirming = now.After(held.ExpiresAt) && !(changed && w.confirming)
	return false
}

// remaining is how much longer the lease must stay unchanged to be abandoned.
func (w *leaseWatch) remaining() time.Duration { return w.dur - time.Since(w.since) }

// tryAcquire makes one attempt. It returns the written lease, or a LockedError when the
// lease is held by someone else and not abandoned (see w), or an error (API errors keep
// their type, so a Conflict or AlreadyExists can be told apart).
func (c *Client) tryAcquire(ctx context.Context, ns, app string, holder LeaseHolder, dur time.Duration, now func() time.Time, w *leaseWatch) (*coordinationv1.Lease, *LockedError, error) {
	leases := c.Kube.CoordinationV1().Leases(ns)
	name := LockName(app)
	cur, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		t := metav1.NewMicroTime(now())
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Namespace:   ns,
				Labels:      RecordLabels(app, RecordLock),
				Annotations: map[string]string{AnnotationLockOperation: holder.Operation},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       &holder.Identity,
				LeaseDurationSeconds: leaseSeconds(dur),
				AcquireTime:          &t,
				RenewTime:            &t,
			},
		}
		created, err := leases.Create(ctx, lease, metav1.CreateOptions{FieldManager: c.FieldManagerName()})
		if err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("create Lease %s/%s: %w", ns, name, err)
		}
		return created, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read Lease %s/%s: %w", ns, name, err)
	}
	if !isOurLease(cur, app) {
		return nil, nil, fmt.Errorf("Lease %s/%s exists and is not the lock of application %q managed by %s", ns, name, app, ManagedByValue)
	}
	t := now()
	info := leaseInfo(cur, ns, app, dur)
	sameHolder := info.Holder.Identity == holder.Identity
	if info.Holder.Identity != "" && !sameHolder && !w.abandoned(cur, info, leaseDuration(cur, dur), t) {
		return nil, info, nil
	}

	// The update carries the resourceVersion read, so it fails if the lease changed since.
	upd := cur.DeepCopy()
	mt := metav1.NewMicroTime(t)
	if !sameHolder || t.After(info.ExpiresAt) || upd.Spec.AcquireTime == nil {
		upd.Spec.AcquireTime = &mt
	}
	if !sameHolder && info.Holder.Identity != "" {
		n := int32(1)
		if upd.Spec.LeaseTransitions != nil {
			n = *upd.Spec.LeaseTransitions + 1
		}
		upd.Spec.LeaseTransitions = &n
	}
	upd.Spec.HolderIdentity = &holder.Identity
	upd.Spec.RenewTime = &mt
	upd.Spec.LeaseDurationSeconds = leaseSeconds(dur)
	if upd.Annotations == nil {
		upd.Annotations = map[string]string{}
	}
	upd.Annotations[AnnotationLockOperation] = holder.Operation
	for k, v := range RecordLabels(app, RecordLock) {
		upd.Labels[k] = v
	}
	updated, err := leases.Update(ctx, upd, metav1.UpdateOptions{FieldManager: c.FieldManagerName()})
	if err != nil {
		if apierrors.IsConflict(err) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("update Lease %s/%s: %w", ns, name, err)
	}
	return updated, nil, nil
}

func (c *Client) startLock(ctx context.Context, ns, app string, holder LeaseHolder, dur time.Duration, now func() time.Time, lease *coordinationv1.Lease, s *lockSlot, started time.Time) *Lock {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &Lock{
		c: c, ns: ns, app: app, name: LockName(app),
		holder: holder, duration: dur, now: now, slot: s,
		lastRenew: now(),
		renewedAt: started,
		lost:      make(chan struct{}),
		cancel:    cancel,
		done:      make(chan struct{}),
	}
	if lease.Spec.RenewTime != nil {
		l.lastRenew = lease.Spec.RenewTime.Time
	}
	l.acquired = l.lastRenew
	if lease.Spec.AcquireTime != nil {
		l.acquired = lease.Spec.AcquireTime.Time
	}
	// Register as held (one more reference on the slot, dropped by leaveSlot).
	lockSlotsMu.Lock()
	s.refs++
	s.held = l
	lockSlotsMu.Unlock()
	go l.renewLoop(rctx)
	return l
}

func (l *Lock) renewLoop(ctx context.Context) {
	defer close(l.done)
	interval := l.duration / 3
	if interval <= 0 {
		interval = time.Millisecond
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		rctx, cancel := context.WithTimeout(ctx, max(interval, time.Second))
		err := l.renew(rctx)
		cancel()
		if ctx.Err() != nil {
			return // released meanwhile
		}
		if err == nil {
			continue
		}
		if errors.Is(err, ErrLockLost) {
			l.markLost(err)
			return
		}
		l.mu.Lock()
		since := l.renewedAt
		l.mu.Unlock()
		if failing := time.Since(since); failing > l.duration {
			l.markLost(fmt.Errorf("%w: application %s/%s: could not renew Lease %s for %s (longer than its duration %s), so another apply may have taken it: %v",
				ErrLockLost, l.ns, l.app, l.name, failing.Round(time.Millisecond), l.duration, err))
			return
		}
		l.c.logf("[WARN] could not renew Lease %s/%s (will retry): %v", l.ns, l.name, err)
	}
}

// renew writes a new renewTime if the lease is still ours. It returns an error wrapping
// ErrLockLost when it is not.
func (l *Lock) renew(ctx context.Context) error {
	leases := l.c.Kube.CoordinationV1().Leases(l.ns)
	for attempt := 0; ; attempt++ {
		cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: application %s/%s: Lease %s was deleted", ErrLockLost, l.ns, l.app, l.name)
		}
		if err != nil {
			return err
		}
		if err := l.checkOurs(cur); err != nil {
			return err
		}
		sent := time.Now()
		t := l.now()
		upd := cur.DeepCopy()
		mt := metav1.NewMicroTime(t)
		upd.Spec.RenewTime = &mt
		upd.Spec.LeaseDurationSeconds = leaseSeconds(l.duration)
		_, err = leases.Update(ctx, upd, metav1.UpdateOptions{FieldManager: l.c.FieldManagerName()})
		if err == nil {
			l.mu.Lock()
			l.lastRenew, l.renewedAt = t, sent
			l.mu.Unlock()
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 2 {
			return err
		}
		// Conflict: someone wrote the lease; re-read to see whether it is still ours.
	}
}

func (l *Lock) checkOurs(cur *coordinationv1.Lease) error {
	info := leaseInfo(cur, l.ns, l.app, l.duration)
	if info.Holder.Identity == l.holder.Identity {
		return nil
	}
	if info.Holder.Identity == "" {
		return fmt.Errorf("%w: application %s/%s: Lease %s was released by someone else", ErrLockLost, l.ns, l.app, l.name)
	}
	return fmt.Errorf("%w: application %s/%s is now locked by %s (%s) since %s",
		ErrLockLost, l.ns, l.app, info.Holder.Identity, orUnrecorded(info.Holder.Operation), fmtLockTime(info.Since))
}

// Check returns nil while the lock is verifiably ours: it has not been lost, a read of the
// Lease now names us, and our last successful renewal was sent less than the lease
// duration ago on this process's monotonic clock (so nobody can have taken the lease over
// meanwhile, see AcquireLock). Otherwise it returns an error wrapping ErrLockLost that says
// why, naming the new holder when there is one; if the Lease cannot be read (after retrying
// transient errors) the error says so and does not wrap ErrLockLost. Call it before every
// step that changes the cluster.
func (l *Lock) Check(ctx context.Context) (err error) {
	defer withPermissionHint(&err, l.ns)
	if err := l.Err(); err != nil {
		return err
	}
	var cur *coordinationv1.Lease
	err = l.c.RetryTransient(ctx, func() error {
		var err error
		cur, err = l.c.Kube.CoordinationV1().Leases(l.ns).Get(ctx, l.name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: application %s/%s: Lease %s was deleted", ErrLockLost, l.ns, l.app, l.name)
	}
	if err != nil {
		return fmt.Errorf("cannot verify the lock of application %s/%s: read Lease %s: %w", l.ns, l.app, l.name, err)
	}
	if err := l.checkOurs(cur); err != nil {
		return err
	}
	// Checked after the read, so the verdict holds for at least the read's duration.
	l.mu.Lock()
	renewed := l.renewedAt
	l.mu.Unlock()
	if age := time.Since(renewed); age >= l.duration {
		return fmt.Errorf("%w: application %s/%s: Lease %s was last renewed %s ago, not within its duration %s, so another apply may take it over",
			ErrLockLost, l.ns, l.app, l.name, age.Round(time.Millisecond), l.duration)
	}
	return nil
}

// Release stops renewing and deletes the Lease if it is still ours (the delete is
// conditional on the UID and resourceVersion read, so a lease someone else has just taken
// is never deleted). A Lease already gone is not an error; a Lease now held by someone
// else is left alone and reported with an error wrapping ErrLockLost. Release may be
// called more than once.
func (l *Lock) Release(ctx context.Context) (err error) {
	defer withPermissionHint(&err, l.ns)
	l.cancel()
	<-l.done
	defer l.leaveSlot()
	leases := l.c.Kube.CoordinationV1().Leases(l.ns)
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("release lock of %s/%s: read Lease %s: %w", l.ns, l.app, l.name, err)
		}
		if err := l.checkOurs(cur); err != nil {
			return fmt.Errorf("release lock: %w", err)
		}
		uid, rv := cur.UID, cur.ResourceVersion
		pre := &metav1.Preconditions{}
		if uid != "" {
			pre.UID = &uid
		}
		if rv != "" {
			pre.ResourceVersion = &rv
		}
		err = leases.Delete(ctx, l.name, metav1.DeleteOptions{Preconditions: pre})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err):
			lastErr = err // changed since we read it: look again
		default:
			return fmt.Errorf("release lock of %s/%s: delete Lease %s: %w", l.ns, l.app, l.name, err)
		}
	}
	return fmt.Errorf("release lock of %s/%s: gave up after repeated conflicts: %w", l.ns, l.app, lastErr)
}

// leaseInfo describes the holder of lease as a LockedError.
func leaseInfo(lease *coordinationv1.Lease, ns, app string, fallback time.Duration) *LockedError {
	e := &LockedError{Namespace: ns, Application: app}
	if lease.Spec.HolderIdentity != nil {
		e.Holder.Identity = *lease.Spec.HolderIdentity
	}
	e.Holder.Operation = lease.Annotations[AnnotationLockOperation]
	switch {
	case lease.Spec.AcquireTime != nil:
		e.Since = lease.Spec.AcquireTime.Time
	case lease.Spec.RenewTime != nil:
		e.Since = lease.Spec.RenewTime.Time
	default:
		e.Since = lease.CreationTimestamp.Time
	}
	renewed := e.Since
	if lease.Spec.RenewTime != nil {
		renewed = lease.Spec.RenewTime.Time
	}
	e.ExpiresAt = renewed.Add(leaseDuration(lease, fallback))
	return e
}

// leaseDuration is the lease's leaseDurationSeconds, or fallback when it has none.
func leaseDuration(lease *coordinationv1.Lease, fallback time.Duration) time.Duration {
	if s := lease.Spec.LeaseDurationSeconds; s != nil && *s > 0 {
		return time.Duration(*s) * time.Second
	}
	return fallback
}

func isOurLease(lease *coordinationv1.Lease, app string) bool {
	l := lease.Labels
	return l[LabelManagedBy] == ManagedByValue && l[LabelName] == app && l[LabelRecord] == RecordLock
}

// leaseSeconds is d rounded up to whole seconds, at least 1.
func leaseSeconds(d time.Duration) *int32 {
	s := int32(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return &s
}

// LockOperation returns the operation of whoever holds the application's Lease now ("" when
// nobody does or it expired).
func (c *Client) LockOperation(ctx context.Context, ns, app string) (_ string, err error) {
	defer withPermissionHint(&err, ns)
	lease, err := c.Kube.CoordinationV1().Leases(ns).Get(ctx, LockName(app), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if lease.Spec.RenewTime == nil || lease.Spec.LeaseDurationSeconds == nil ||
		time.Since(lease.Spec.RenewTime.Time) > time.Duration(*lease.Spec.LeaseDurationSeconds)*time.Second {
		return "", nil
	}
	return lease.Annotations[AnnotationLockOperation], nil
}
