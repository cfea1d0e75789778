// Package wait is the provider's one waiter: it polls an object until it reaches a target
// state, in the manner of the Terraform SDK's StateChangeConf. Each kind of object brings a
// status function (a Refresh) that reads it once and names its state; wait functions per
// object (in internal/flink, internal/kube) say which states are pending and which are the
// target.
package wait

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	k8swait "k8s.io/apimachinery/pkg/util/wait"
)

// Refresh reads the object once and returns it with its current state. An error is
// returned as is, unless Conf.Retryable says the next poll may do better.
type Refresh[T any] func(ctx context.Context) (obj T, state string, err error)

// Default pacing: the first pause is 100ms, each following one 1.5 times longer, up to 2s.
const (
	DefaultInterval    = 100 * time.Millisecond
	DefaultMaxInterval = 2 * time.Second
)

// Conf says what to wait for.
type Conf[T any] struct {
	// Pending are the states that keep the wait going. Any other state that is not a
	// target ends it with an *UnexpectedStateError; when Pending is empty, every state
	// that is not a target keeps the wait going.
	Pending []string
	// Target are the states that end the wait successfully.
	Target []string
	// Refresh reads the object.
	Refresh Refresh[T]
	// Retryable reports refresh errors that do not end the wait (a server that is still
	// starting, a timeout). nil: every error ends it.
	Retryable func(error) bool
	// Interval is the first pause between refreshes (default DefaultInterval); pauses grow
	// by half each time up to MaxInterval (default DefaultMaxInterval).
	Interval, MaxInterval time.Duration
}

// Wait refreshes the object at once and then after each pause until its state is a target,
// and returns it. It stops early with Refresh's error (unless retryable), with an
// *UnexpectedStateError for a state that is neither pending nor a target, or with a
// *TimeoutError when ctx ends. It always returns the last object it read.
func (c Conf[T]) Wait(ctx context.Context) (T, error) {
	pause := c.pacing()
	var last T
	lastState := ""
	var lastErr error
	for {
		obj, state, err := c.Refresh(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			// A refresh cut short by ctx says only that; the error before it says more.
			if !errors.Is(err, ctx.Err()) {
				lastErr = err
			}
			return last, c.timeout(ctx, lastState, lastErr)
		case err != nil && (c.Retryable == nil || !c.Retryable(err)):
			return last, err
		case err != nil:
			lastErr = err
		default:
			last, lastState, lastErr = obj, state, nil
			if slices.Contains(c.Target, state) {
				return last, nil
			}
			if len(c.Pending) > 0 && !slices.Contains(c.Pending, state) {
				return last, &UnexpectedStateError{State: state, Target: c.Target}
			}
		}
		timer := time.NewTimer(pause.Step())
		select {
		case <-ctx.Done():
			timer.Stop()
			return last, c.timeout(ctx, lastState, lastErr)
		case <-timer.C:
		}
	}
}

func (c Conf[T]) pacing() *k8swait.Backoff {
	b := &k8swait.Backoff{Duration: c.Interval, Factor: 1.5, Cap: c.MaxInterval, Steps: math.MaxInt32}
	if b.Duration <= 0 {
		b.Duration = DefaultInterval
	}
	if b.Cap <= 0 {
		b.Cap = DefaultMaxInterval
	}
	b.Cap = max(b.Cap, b.Duration)
	return b
}

func (c Conf[T]) timeout(ctx context.Context, lastState string, lastErr error) error {
	return &TimeoutError{Err: ctx.Err(), LastState: lastState, LastError: lastErr, Target: c.Target}
}

// UnexpectedStateError is a state that is neither pending nor a target: waiting longer
// would not help.
type UnexpectedStateError struct {
	State  string
	Target []string
}

func (e *UnexpectedStateError) Error() string {
	return fmt.Sprintf("unexpected state %s while waiting for %s", e.State, strings.Join(e.Target, " or "))
}

// TimeoutError is a wait whose context ended first. errors.Is finds both the context's
// error and LastError in it.
type TimeoutError struct {
	// Err is the context's error (context.DeadlineExceeded or context.Canceled).
	Err error
	// LastState is the state last read; "" when no refresh succeeded.
	LastState string
	// LastError is the retryable error of the last refresh; nil when it succeeded.
	LastError error
	Target    []string
}

func (e *TimeoutError) Error() string {
	msg := e.Err.Error()
	if e.LastState != "" {
		msg += fmt.Sprintf(" while in state %s, waiting for %s", e.LastState, strings.Join(e.Target, " or "))
	}
	if e.LastError != nil {
		msg += " (last error: " + e.LastError.Error() + ")"
	}
	return msg
}

func (e *TimeoutError) Unwrap() []error {
	if e.LastError == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.LastError}
}

// Until polls done until it reports true: a Conf for a check that is only a yes or a no.
// Errors end the wait unless retryable (which may be nil) says otherwise.
func Until(ctx context.Context, done func(ctx context.Context) (bool, error), retryable func(error) bool) error {
	_, err := Conf[struct{}]{
		Pending:   []string{"not yet"},
		Target:    []string{"done"},
		Retryable: retryable,
		Refresh: func(ctx context.Context) (struct{}, string, error) {
			ok, err := done(ctx)
			if ok && err == nil {
				return struct{}{}, "done", nil
			}
			return struct{}{}, "not yet", err
		},
	}.Wait(ctx)
	var timeout *TimeoutError
	if errors.As(err, &timeout) {
		timeout.LastState = "" // "not yet" says nothing
	}
	return err
}
