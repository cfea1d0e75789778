package wait

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// states replays a sequence of states, one per refresh, repeating the last one.
func states(seq ...string) (Refresh[int], *int) {
	calls := 0
	return func(context.Context) (int, string, error) {
		calls++
		return calls, seq[min(calls, len(seq))-1], nil
	}, &calls
}

func TestWaitReachesTarget(t *testing.T) {
	refresh, calls := states("PENDING", "PENDING", "DONE")
	obj, err := Conf[int]{Pending: []string{"PENDING"}, Target: []string{"DONE"}, Refresh: refresh, Interval: time.Millisecond}.Wait(context.Background())
	if err != nil || obj != 3 || *calls != 3 {
		t.Errorf("Wait = %d, %v after %d refreshes; want object 3 after 3", obj, err, *calls)
	}
}

func TestWaitStopsOnUnexpectedState(t *testing.T) {
	refresh, calls := states("PENDING", "FAILED", "DONE")
	obj, err := Conf[int]{Pending: []string{"PENDING"}, Target: []string{"DONE"}, Refresh: refresh, Interval: time.Millisecond}.Wait(context.Background())
	var unexpected *UnexpectedStateError
	if !errors.As(err, &unexpected) || unexpected.State != "FAILED" || obj != 2 || *calls != 2 {
		t.Fatalf("Wait = %d, %v after %d refreshes; want an UnexpectedStateError for FAILED with object 2", obj, err, *calls)
	}
	if want := "unexpected state FAILED while waiting for DONE"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestWaitWithoutPendingWaitsThroughAnyState(t *testing.T) {
	refresh, _ := states("A", "B", "DONE")
	if _, err := (Conf[int]{Target: []string{"DONE"}, Refresh: refresh, Interval: time.Millisecond}).Wait(context.Background()); err != nil {
		t.Errorf("Wait without pending states: %v", err)
	}
}

func TestWaitTimeoutNamesLastState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	refresh, _ := states("IN_PROGRESS")
	start := time.Now()
	obj, err := Conf[int]{Pending: []string{"IN_PROGRESS"}, Target: []string{"COMPLETED"}, Refresh: refresh, Interval: 5 * time.Millisecond}.Wait(ctx)
	var timeout *TimeoutError
	if !errors.As(err, &timeout) || !errors.Is(err, context.DeadlineExceeded) || timeout.LastState != "IN_PROGRESS" || obj < 2 {
		t.Fatalf("Wait = %d, %v; want a TimeoutError in IN_PROGRESS with the last object", obj, err)
	}
	if want := "context deadline exceeded while in state IN_PROGRESS, waiting for COMPLETED"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Wait took %v for a 50ms context", elapsed)
	}
}

func TestWaitRetriesRetryableErrorsAndNamesTheLastOnTimeout(t *testing.T) {
	busy := errors.New("503 service unavailable")
	retryable := func(err error) bool { return errors.Is(err, busy) }
	calls := 0
	_, err := Conf[int]{Target: []string{"DONE"}, Retryable: retryable, Interval: time.Millisecond, Refresh: func(context.Context) (int, string, error) {
		calls++
		if calls < 3 {
			return 0, "", busy
		}
		return calls, "DONE", nil
	}}.Wait(context.Background())
	if err != nil || calls != 3 {
		t.Fatalf("Wait = %v after %d refreshes; want nil after 3", err, calls)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = Conf[int]{Target: []string{"DONE"}, Retryable: retryable, Interval: time.Millisecond, Refresh: func(context.Context) (int, string, error) {
		return 0, "", busy
	}}.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, busy) || err.Error() != "context deadline exceeded (last error: 503 service unavailable)" {
		t.Errorf("Wait with only retryable errors = %v", err)
	}
}

func TestWaitReturnsRefreshError(t *testing.T) {
	gone := errors.New("404 not found")
	calls := 0
	_, err := Conf[int]{Target: []string{"DONE"}, Retryable: func(error) bool { return false }, Refresh: func(context.Context) (int, string, error) {
		calls++
		return 0, "", gone
	}}.Wait(context.Background())
	if err != gone || calls != 1 {
		t.Errorf("Wait = %v after %d refreshes; want the refresh error itself after 1", err, calls)
	}
}

func TestWaitEndsAtOnceWhenCancelledMidRefresh(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := Conf[int]{Target: []string{"DONE"}, Refresh: func(ctx context.Context) (int, string, error) {
		<-ctx.Done()
		return 0, "", ctx.Err()
	}}.Wait(ctx)
	if !errors.Is(err, context.Canceled) || err.Error() != "context canceled" || time.Since(start) > time.Second {
		t.Errorf("Wait = %v after %v; want context.Canceled at once", err, time.Since(start))
	}
}

func TestUntil(t *testing.T) {
	calls := 0
	err := Until(context.Background(), func(context.Context) (bool, error) { calls++; return calls == 2, nil }, nil)
	if err != nil || calls != 2 {
		t.Errorf("Until = %v after %d calls, want nil after 2", err, calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = Until(ctx, func(context.Context) (bool, error) { return false, nil }, nil)
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "state") {
		t.Errorf("Until timeout = %v, want the context's error without a state", err)
	}
}
