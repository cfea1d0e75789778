package lifecycle

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

func TestObserve(t *testing.T) {
	t.Parallel()
	otherJob := strings.Repeat("ab", 16)
	cases := []struct {
		name string
		// change acts on the deployed application (job jobGen1 RUNNING) out of band.
		change     func(h *harness, desired Desired)
		wantState  string
		wantStatus string
		// wantNoFlink: Observe must not ask Flink at all.
		wantNoFlink bool
	}{
		{name: "running", change: func(*harness, Desired) {}, wantState: StateRunning, wantStatus: flink.JobRunning},
		{name: "cancelled in the Flink UI (drift)", change: func(h *harness, _ Desired) { h.cluster().Cancel() },
			wantState: StateCancelled, wantStatus: flink.JobCanceled},
		{name: "failed for good (drift)", change: func(h *harness, _ Desired) { h.cluster().Fail("out of memory") },
			wantState: StateCancelled, wantStatus: flink.JobFailed},
		{name: "JobManager replaced, job unknown", change: func(h *harness, _ Desired) {
			h.emu.Start(h.host(), flinktest.JobSpec{JobID: otherJob})
		}, wantState: StateCancelled, wantStatus: "NOT_FOUND"},
		{name: "unreachable: connection refused", change: func(h *harness, _ Desired) { h.flinkDown.Store(true) },
			wantState: StateRunning, wantStatus: StatusUnreachable},
		{name: "unreachable: no JobManager behind the service (502)", change: func(h *harness, _ Desired) { h.emu.Stop(h.host()) },
			wantState: StateRunning, wantStatus: StatusUnreachable},
		{name: "unreachable: leader election (503)", change: func(h *harness, _ Desired) {
			h.cluster().Faults().FailNext(http.MethodGet, "/jobs/", http.StatusServiceUnavailable, 1)
		}, wantState: StateRunning, wantStatus: StatusUnreachable},
		{name: "cancelled by Terraform", change: func(h *harness, d Desired) {
			d.State = StateCancelled
			h.mustApply(d, OpCancel)
		}, wantState: StateCancelled, wantStatus: StatusStopped, wantNoFlink: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			desired := desiredFor(testVersion("v1"), StateRunning)
			desired.Labels = map[string]string{"team": "risk"}
			desired.Annotations = map[string]string{"owner": "risk@example.com"}
			h.mustApply(desired, OpDeploy)
			tc.change(h, desired)
			recBefore := h.record()
			requests := h.flinkRequests.Load()

			obs, err := h.p.Observe(context.Background(), testNS, testApp)
			if err != nil {
				t.Fatalf("Observe: %v", err)
			}
			if obs == nil {
				t.Fatal("Observe = nil for an existing application")
			}
			if obs.State != tc.wantState || obs.Status != tc.wantStatus {
				t.Errorf("Observe state=%q status=%q, want %q %q", obs.State, obs.Status, tc.wantState, tc.wantStatus)
			}
			if obs.JobID != jobGen1 || !reflect.DeepEqual(obs.Version, testVersion("v1")) {
				t.Errorf("Observe job=%q version=%+v", obs.JobID, obs.Version)
			}
			if obs.Labels["team"] != "risk" || obs.Annotations["owner"] != "risk@example.com" {
				t.Errorf("Observe labels %v annotations %v", obs.Labels, obs.Annotations)
			}
			if n := h.flinkRequests.Load() - requests; tc.wantNoFlink && n != 0 {
				t.Errorf("Observe of a stopped application made %d Flink requests", n)
			}
			// Observing writes nothing.
			if after := h.record(); !reflect.DeepEqual(after, recBefore) {
				t.Errorf("Observe changed the record:\n%+v\nwas\n%+v", after, recBefore)
			}

			// The next plan follows from what was observed.
			plan, err := h.p.PlanChange(context.Background(), desired)
			if err != nil {
				t.Fatalf("PlanChange: %v", err)
			}
			wantOp := OpNone
			if tc.wantState == StateCancelled {
				wantOp = OpDeploy // drift: start it again
			}
			if plan.Operation != wantOp {
				t.Errorf("PlanChange = %s (%s), want %s", plan.Operation, plan.Summary, wantOp)
			}
			if wantOp == OpDeploy {
				wantContains(t, "drift plan summary", plan.Summary, "start version v1", "with empty state")
			}
		})
	}
}

func TestObserveWithoutRecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	obs, err := h.p.Observe(context.Background(), testNS, testApp)
	if err != nil || obs != nil {
		t.Fatalf("Observe without a record = %+v, %v; want nil, nil", obs, err)
	}
	if n := h.flinkRequests.Load(); n != 0 {
		t.Errorf("Observe without a record made %d Flink requests", n)
	}
	plan, err := h.p.PlanChange(context.Background(), desiredFor(testVersion("v1"), StateRunning))
	if err != nil || plan.Operation != OpDeploy {
		t.Errorf("PlanChange without a record = %+v, %v; want deploy", plan, err)
	}
}

func TestObserveRefusesForeignConfigMap(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A ConfigMap with the record's name that this provider did not write.
	_, err := h.fake.CoreV1().ConfigMaps(testNS).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: kube.AppRecordName(testApp), Namespace: testNS},
		Data:       map[string]string{"record.json": `{"state":"running"}`},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obs, err := h.p.Observe(context.Background(), testNS, testApp)
	if err == nil {
		t.Fatalf("Observe of a foreign ConfigMap = %+v, want an error", obs)
	}
	wantContains(t, "error", err.Error(), kube.AppRecordName(testApp), "not the application record")
	// and Apply refuses to take it over
	if _, err := h.apply(desiredFor(testVersion("v1"), StateRunning), OpDeploy); err == nil {
		t.Errorf("Apply over a foreign ConfigMap succeeded")
	}
	if len(h.kubelet.startsSoFar()) != 0 {
		t.Errorf("a JobManager was started")
	}
}
