package lifecycle

// Shared test harness: a client-go fake clientset (server-side apply included) standing in
// for the API server, a tiny "kubelet" that reacts to applied Deployments by rolling them
// out and starting an emulated Flink JobManager, and the flinktest emulator served over a
// real httptest.Server, reached through a RoundTripper that keeps the in-cluster Host so
// the emulator routes by it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube/kubetest"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

const (
	testNS  = "payments"
	testApp = "fraud"
)

var (
	deploymentsGVR = appsv1.SchemeGroupVersion.WithResource("deployments")
	configMapsGVR  = corev1.SchemeGroupVersion.WithResource("configmaps")
)

// testVersion is a small valid version of the test application: parallelism 2 on
// TaskManagers with one slot each, so the renderer asks for two TaskManagers.
func testVersion(label string) spec.Version {
	return spec.Version{
		Namespace:    testNS,
		Application:  testApp,
		Label:        label,
		Description:  "fraud detector " + label,
		Image:        "registry.example.com/fraud:1.4.0",
		JarURI:       "local:///opt/flink/usrlib/fraud.jar",
		EntryClass:   "com.example.fraud.Job",
		Args:         []string{"--input", "kafka://payments"},
		FlinkVersion: "1.20",
		Parallelism:  2,
		FlinkConfiguration: map[string]string{
			"pipeline.name": "fraud",
		},
		JobManager:  spec.JobManager{CPU: 0.5, Memory: "1024m"},
		TaskManager: spec.TaskManager{CPU: 1, Memory: "2048m", TaskSlots: 1},
	}
}

// desiredFor is an application with upgrade_mode stateless (the operations these tests
// cover) and the default restore strategy (latest snapshot: none exists, so empty state).
func desiredFor(v spec.Version, state string) Desired {
	return Desired{Namespace: testNS, Name: testApp, Version: v, State: state, UpgradeMode: UpgradeStateless}
}

// classify is Classify worded the way PlanChange words it for the plan.
func classify(current *Current, desired Desired) Plan {
	desired = desired.withDefaults()
	plan := Classify(current, desired)
	plan.Summary = describe(plan, current, desired)
	return plan
}

// fastTimings make emulated jobs start and cancel within microseconds, so that most tests
// do not wait for the lifecycle's 100ms polling backoff; tests that exercise the waiting
// itself set flinktest.DefaultTimings.
var fastTimings = flinktest.Timings{
	Initializing: time.Microsecond, Created: time.Microsecond, Deploying: time.Microsecond,
	Cancelling: time.Microsecond, Savepoint: time.Millisecond, Disposal: time.Millisecond,
}

// testTransientBackoff retries a transient API error five times within ~30ms.
var testTransientBackoff = wait.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 5}

// harness is one isolated platform: its own fake API server, emulator and HTTP server.
type harness struct {
	t       *testing.T
	fake    *fake.Clientset
	emu     *flinktest.Emulator
	srv     *httptest.Server
	p       *Platform
	kubelet *kubelet
	// rt is the Flink transport; tests may observe the requests it sends (setHook).
	rt *hostKeepingTransport
	// flinkDown makes every Flink request fail with "connection refused" before it is sent.
	flinkDown atomic.Bool
	// flinkRequests counts requests that reached the transport.
	flinkRequests atomic.Int64

	mu       sync.Mutex
	progress []string
	logs     []string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, fake: fake.NewClientset(), emu: flinktest.New()}
	h.srv = httptest.NewServer(h.emu)
	target, err := url.Parse(h.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	base := &http.Transport{}
	rt := &hostKeepingTransport{target: target, base: base, down: &h.flinkDown, count: &h.flinkRequests}
	h.rt = rt
	httpClient := &http.Client{Transport: rt, Timeout: 5 * time.Second}
	t.Cleanup(func() {
		base.CloseIdleConnections()
		h.srv.Close()
		h.emu.Close()
	})

	h.kubelet = &kubelet{emu: h.emu, tracker: h.fake.Tracker(), registerTaskManagers: true, timings: fastTimings}
	h.installAPIServerBehaviour()

	h.p = &Platform{
		Kube: &kube.Client{
			// The provider's calls are authorized against the Role the RBAC guide documents.
			Kube:         ctxHonouringClientset{kubetest.AsIdentity(h.fake, kube.ProviderRules(true))},
			FieldManager: kube.FieldManager,
			// Transient API errors are retried as in production, only faster.
			TransientBackoff: testTransientBackoff,
			Logf: func(format string, args ...any) {
				h.mu.Lock()
				defer h.mu.Unlock()
				h.logs = append(h.logs, fmt.Sprintf(format, args...))
			},
		},
		Flink: func(namespace, application string) *flink.Client {
			return flink.New(namespace+"/"+application, kube.RestURL(application, namespace), httpClient)
		},
		RestURL:          func(namespace, application string) string { return kube.RestURL(application, namespace) },
		DefaultNamespace: testNS,
	}
	return h
}

// installAPIServerBehaviour adds what a real API server does and the fake does not: UIDs on
// created ConfigMaps (owner references point at them), resourceVersions on ConfigMaps (the
// application record is written conditionally on them), generations on Deployments, and the
// kubelet reacting to applied Deployments.
func (h *harness) installAPIServerBehaviour() {
	kubetest.EmulateResourceVersions(h.fake, "configmaps")
	var uids atomic.Int64
	h.fake.PrependReactor("create", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if cm, ok := a.(k8stesting.CreateAction).GetObject().(*corev1.ConfigMap); ok && cm.UID == "" {
			cm.UID = types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", uids.Add(1)))
		}
		return false, nil, nil
	})
	h.fake.PrependReactor("patch", "deployments", h.kubelet.react)
	h.fake.PrependReactor("delete-collection", "pods", h.kubelet.replacePods)
}

func (h *harness) progressFn() Progress {
	return func(msg string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.progress = append(h.progress, msg)
	}
}

func (h *harness) progressLines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.progress...)
}

// apply runs Platform.Apply with a generous deadline.
func (h *harness) apply(desired Desired, planned Operation) (Result, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.p.Apply(ctx, desired, planned, h.progressFn())
}

// mustApply applies and fails the test on error.
func (h *harness) mustApply(desired Desired, planned Operation) Result {
	h.t.Helper()
	res, err := h.apply(desired, planned)
	if err != nil {
		h.t.Fatalf("Apply(%s, planned %q): %v", desired.Version.Label, planned, err)
	}
	return res
}

// deploy brings the application up running version v (generation 1).
func (h *harness) deploy(v spec.Version) Result {
	h.t.Helper()
	res := h.mustApply(desiredFor(v, StateRunning), OpDeploy)
	if res.JobID != JobIDFor(testNS, testApp, 1) {
		h.t.Fatalf("initial deploy job id %q, want generation 1's %q", res.JobID, JobIDFor(testNS, testApp, 1))
	}
	return res
}

func (h *harness) record() records.AppRecord {
	h.t.Helper()
	rec, _, err := h.p.Records().GetAppRecord(context.Background(), testNS, testApp)
	if err != nil {
		h.t.Fatalf("GetAppRecord: %v", err)
	}
	return rec
}

func (h *harness) recordConfigMap() *corev1.ConfigMap {
	h.t.Helper()
	_, cm, err := h.p.Records().GetAppRecord(context.Background(), testNS, testApp)
	if err != nil {
		h.t.Fatalf("GetAppRecord: %v", err)
	}
	return cm
}

func (h *harness) deployment(name string) *appsv1.Deployment {
	h.t.Helper()
	d, err := h.fake.AppsV1().Deployments(testNS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatalf("get Deployment %s: %v", name, err)
	}
	return d
}

func (h *harness) host() string { return kube.RestHost(testApp, testNS) }

// cluster returns the emulated JobManager currently serving the application.
func (h *harness) cluster() *flinktest.Cluster {
	h.t.Helper()
	c := h.emu.Cluster(h.host())
	if c == nil {
		h.t.Fatalf("no emulated Flink cluster serves %s", h.host())
	}
	return c
}

// events returns "Type/Reason: message" of every Event recorded on the application.
func (h *harness) events() []string {
	h.t.Helper()
	list, err := h.fake.CoreV1().Events(testNS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Type+"/"+e.Reason+": "+e.Message)
	}
	return out
}

// failRecordWrites makes the next n writes (verb "create" or "update") of the application
// record answer err, as a concurrent writer would make the API server answer.
func (h *harness) failRecordWrites(verb string, n int, err func() error) *atomic.Int64 {
	var hits atomic.Int64
	h.fake.PrependReactor(verb, "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		var name string
		if a, ok := a.(objectAction); ok {
			name = a.GetObject().(*corev1.ConfigMap).Name
		}
		if name != kube.AppRecordName(testApp) || hits.Load() >= int64(n) {
			return false, nil, nil
		}
		hits.Add(1)
		return true, nil, err()
	})
	return &hits
}

func conflictErr() error {
	return apierrors.NewConflict(corev1.Resource("configmaps"), kube.AppRecordName(testApp),
		errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

// ---- kubelet ----

// start is one start of an emulated JobManager: its job id and the state the job of the
// JobManager it replaced was in at that moment ("" when none was running).
type start struct {
	JobID         string
	RestorePath   string
	PreviousJobID string
	PreviousState string
	// PreviousHealthy is true when the replaced job ran with all its tasks running.
	PreviousHealthy bool
}

// previous describes the JobManager c that a start or stop replaces.
func previous(c *flinktest.Cluster) start {
	healthy := c.JobState() == flink.JobRunning
	for _, st := range c.VertexStates() {
		healthy = healthy && st == flink.TaskRunning
	}
	return start{PreviousJobID: c.JobID(), PreviousState: c.JobState(), PreviousHealthy: healthy}
}

// kubelet plays Deployment controller and kubelet. When a Deployment is applied it bumps
// the generation if the spec changed and marks it rolled out (all replicas updated and
// available). When the JobManager's pod template changed (or no JobManager runs) it
// "restarts the pod": starts a new emulated cluster at the REST host with the job id from
// the container's --job-id, with no TaskManagers yet. Applying the TaskManager Deployment
// registers its replicas with the JobManager. A JobManager scaled to 0 stops serving.
type kubelet struct {
	emu     *flinktest.Emulator
	tracker k8stesting.ObjectTracker

	mu                   sync.Mutex
	registerTaskManagers bool
	flinkVersion         string // full Flink version the emulated JobManagers report ("" = emulator default)
	timings              flinktest.Timings
	onStart              func(*flinktest.Cluster)
	starts               []start
	stops                []start // JobID empty; Previous* = the JobManager scaled away
	// clusters are all JobManagers ever started, oldest first (replaced ones included).
	clusters []*flinktest.Cluster
	// failVersions fails, at start, the job of every JobManager whose Deployment carries
	// this version label, with the given root cause.
	failVersions map[string]string
	// onSavepoint, when set, is installed as OnSavepoint hook of every new JobManager (e.g.
	// to write the savepoint's files into a test bucket).
	onSavepoint func(path string) error
	// onCheckpoint, when set, is installed as OnCheckpoint hook of every new JobManager.
	onCheckpoint func(path string)
	// note, when set, receives a line for every JobManager start and stop.
	note func(string)
	// restoreFrom, when set, replaces the restore path a JobManager starts with (a Flink that
	// ignores or mixes up execution.savepoint.path).
	restoreFrom func(configured string) string
	// neverReady is a version label whose pods never become available and whose
	// TaskManagers never register (an image that cannot start, a crash loop).
	neverReady string
	// running is the version label of the JobManager each REST host serves now.
	running map[string]string
}

// setNeverReady makes the pods of version label never become available ("" = none).
func (k *kubelet) setNeverReady(label string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.neverReady = label
}

// setFailVersion makes JobManagers of version label fail at start with reason ("" = no
// longer).
func (k *kubelet) setFailVersion(label, reason string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failVersions == nil {
		k.failVersions = map[string]string{}
	}
	if reason == "" {
		delete(k.failVersions, label)
		return
	}
	k.failVersions[label] = reason
}

// clustersSoFar returns every JobManager started so far, oldest first.
func (k *kubelet) clustersSoFar() []*flinktest.Cluster {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]*flinktest.Cluster(nil), k.clusters...)
}

func (k *kubelet) setRegisterTaskManagers(v bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.registerTaskManagers = v
}

// setOnStart registers a hook run on every newly started JobManager (fault injection).
func (k *kubelet) setOnStart(fn func(*flinktest.Cluster)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.onStart = fn
}

func (k *kubelet) startsSoFar() []start {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]start(nil), k.starts...)
}

func (k *kubelet) stopsSoFar() []start {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]start(nil), k.stops...)
}

func (k *kubelet) react(a k8stesting.Action) (bool, runtime.Object, error) {
	pa, ok := a.(k8stesting.PatchAction)
	if !ok || pa.GetPatchType() != types.ApplyPatchType {
		return false, nil, nil
	}
	ns, name := pa.GetNamespace(), pa.GetName()
	var before *appsv1.Deployment
	if obj, err := k.tracker.Get(deploymentsGVR, ns, name, metav1.GetOptions{}); err == nil {
		before = obj.(*appsv1.Deployment).DeepCopy()
	}
	handled, obj, err := k8stesting.ObjectReaction(k.tracker)(a)
	if err != nil || !handled {
		return handled, obj, err
	}
	d := obj.(*appsv1.Deployment).DeepCopy()
	templateChanged := before == nil || !equality.Semantic.DeepEqual(before.Spec.Template, d.Spec.Template)
	gen := int64(1)
	if before != nil {
		gen = before.Generation
		if !equality.Semantic.DeepEqual(before.Spec, d.Spec) {
			gen++
		}
	}
	d.Generation = gen
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	available := replicas
	k.mu.Lock()
	if k.neverReady != "" && d.Labels[kube.LabelVersion] == k.neverReady {
		available = 0
	}
	k.mu.Unlock()
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: gen, Replicas: replicas, UpdatedReplicas: replicas,
		ReadyReplicas: available, AvailableReplicas: available,
	}
	if err := k.tracker.Update(deploymentsGVR, d, ns, metav1.UpdateOptions{FieldManager: "kube-controller-manager"}); err != nil {
		return true, nil, fmt.Errorf("test kubelet: roll out %s/%s: %w", ns, name, err)
	}
	app := d.Labels[kube.LabelName]
	switch name {
	case kube.JobManagerDeploymentName(app):
		k.jobManager(ns, app, d, replicas, templateChanged)
	case kube.TaskManagerDeploymentName(app):
		k.taskManagers(ns, app, replicas)
	}
	stored, err := k.tracker.Get(deploymentsGVR, ns, name, metav1.GetOptions{})
	return true, stored, err
}

func (k *kubelet) jobManager(ns, app string, d *appsv1.Deployment, replicas int32, templateChanged bool) {
	host := kube.RestHost(app, ns)
	if replicas == 0 {
		old := k.emu.Cluster(host)
		if old == nil {
			return
		}
		st := previous(old)
		k.emu.Stop(host)
		k.mu.Lock()
		k.stops = append(k.stops, st)
		note := k.note
		k.mu.Unlock()
		if note != nil {
			note(fmt.Sprintf("jobmanager stop job=%s state=%s", st.PreviousJobID, st.PreviousState))
		}
		return
	}
	old := k.emu.Cluster(host)
	if old != nil && !templateChanged {
		return // same pod keeps running
	}
	cfg := k.flinkConfig(ns, app)
	k.mu.Lock()
	fv, timings := k.flinkVersion, k.timings
	k.mu.Unlock()
	js := flinktest.JobSpec{JobID: jobIDArg(d), Config: cfg, FlinkVersion: fv}
	// The rendered configuration names the snapshot to restore (Flink 1.x or 2.x keys).
	for _, keys := range [][2]string{
		{flinkconf.KeySavepointPath, flinkconf.KeySavepointIgnoreState},
		{flinkconf.KeyStateRecoveryPath, flinkconf.KeyStateRecoveryIgnoreState},
	} {
		if p := cfg[keys[0]]; p != "" {
			js.RestorePath, js.AllowNonRestoredState = p, cfg[keys[1]] == "true"
		}
	}
	k.mu.Lock()
	if k.restoreFrom != nil {
		js.RestorePath = k.restoreFrom(js.RestorePath)
	}
	k.mu.Unlock()
	var st start
	if old != nil {
		st = previous(old)
	}
	st.JobID, st.RestorePath = js.JobID, js.RestorePath
	c := k.emu.Start(host, js)
	// No TaskManager has registered yet: they do when their Deployment is applied. (Set
	// while the job still initializes, so the emulator records no lost TaskManager.)
	c.SetTaskManagers(0, 0)
	c.SetTimings(timings)
	version := d.Labels[kube.LabelVersion]
	k.mu.Lock()
	if k.running == nil {
		k.running = map[string]string{}
	}
	k.running[host] = version
	k.starts = append(k.starts, st)
	k.clusters = append(k.clusters, c)
	hook, onSavepoint, onCheckpoint, note, failure := k.onStart, k.onSavepoint, k.onCheckpoint, k.note, k.failVersions[version]
	k.mu.Unlock()
	if onSavepoint != nil {
		c.OnSavepoint(onSavepoint)
	}
	if onCheckpoint != nil {
		c.OnCheckpoint(onCheckpoint)
	}
	if note != nil {
		note(fmt.Sprintf("jobmanager start job=%s version=%s restore=%s", js.JobID, version, js.RestorePath))
	}
	if failure != "" {
		c.Fail(failure)
	}
	if hook != nil {
		hook(c)
	}
}

// replacePods plays the ReplicaSet and kubelet when TaskManager pods are deleted: new ones
// start and register with the JobManager.
func (k *kubelet) replacePods(a k8stesting.Action) (bool, runtime.Object, error) {
	dc, ok := a.(k8stesting.DeleteCollectionAction)
	if !ok {
		return false, nil, nil
	}
	set, err := labels.ConvertSelectorToLabelsMap(dc.GetListRestrictions().Labels.String())
	if err != nil || set[kube.LabelComponent] != kube.ComponentTaskManager {
		return false, nil, nil
	}
	ns, app := dc.GetNamespace(), set[kube.LabelName]
	obj, err := k.tracker.Get(deploymentsGVR, ns, kube.TaskManagerDeploymentName(app), metav1.GetOptions{})
	if err != nil {
		return true, nil, err
	}
	replicas := int32(1)
	if r := obj.(*appsv1.Deployment).Spec.Replicas; r != nil {
		replicas = *r
	}
	k.taskManagers(ns, app, replicas)
	return true, nil, nil
}

func (k *kubelet) taskManagers(ns, app string, replicas int32) {
	c := k.emu.Cluster(kube.RestHost(app, ns))
	k.mu.Lock()
	register := k.registerTaskManagers && (k.neverReady == "" || k.running[kube.RestHost(app, ns)] != k.neverReady)
	k.mu.Unlock()
	if c == nil || !register {
		return
	}
	slots := 1
	if s := k.flinkConfig(ns, app)[flinkconf.KeyTaskSlots]; s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			slots = n
		}
	}
	c.SetTaskManagers(int(replicas), slots)
}

// flinkConfig reads the rendered Flink configuration (config.yaml: flat key: value lines)
// from the application's ConfigMap, applied before the Deployments.
func (k *kubelet) flinkConfig(ns, app string) map[string]string {
	obj, err := k.tracker.Get(configMapsGVR, ns, kube.ConfigMapName(app), metav1.GetOptions{})
	if err != nil {
		return nil
	}
	raw := obj.(*corev1.ConfigMap).Data[flinkconf.ConfigFileYAML]
	var parsed map[string]any
	if err := yaml.Unmarshal([]byte(raw), &parsed); err != nil {
		return nil
	}
	out := map[string]string{}
	for key, v := range parsed {
		out[key] = fmt.Sprint(v)
	}
	return out
}

func jobIDArg(d *appsv1.Deployment) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		for i, a := range c.Args {
			if a == "--job-id" && i+1 < len(c.Args) {
				return c.Args[i+1]
			}
		}
	}
	return ""
}

// ---- Flink transport ----

// hostKeepingTransport sends every request to the test server but keeps the in-cluster
// host ("fraud-rest.payments.svc:8081") as the request's Host, which the emulator routes by.
type hostKeepingTransport struct {
	target *url.URL
	base   http.RoundTripper
	down   *atomic.Bool
	count  *atomic.Int64
	// hook, when set, sees every request answered (with its body) after the answer came.
	hook atomic.Pointer[flinkHook]
	// front, when set, answers a request before it reaches Flink when it returns non-nil:
	// what a proxy or ingress in front of the JobManager would say.
	front atomic.Pointer[func(*http.Request) *http.Response]
	// swallow, when set and true for a request, lets Flink handle it but loses the answer:
	// the client waits until its request times out (a request that never answers).
	swallow atomic.Pointer[func(*http.Request) bool]
}

// loseAnswers installs fn to pick the requests whose answers never arrive (nil: none).
func (t *hostKeepingTransport) loseAnswers(fn func(*http.Request) bool) {
	if fn == nil {
		t.swallow.Store(nil)
		return
	}
	t.swallow.Store(&fn)
}

// answer installs fn as the front that answers requests before Flink does (nil removes it).
func (t *hostKeepingTransport) answer(fn func(*http.Request) *http.Response) {
	if fn == nil {
		t.front.Store(nil)
		return
	}
	t.front.Store(&fn)
}

// flinkHook observes one answered Flink request: its method, path, body and status.
type flinkHook func(method, path string, body []byte, status int)

// setHook installs fn as the transport's observer (nil removes it).
func (t *hostKeepingTransport) setHook(fn flinkHook) {
	if fn == nil {
		t.hook.Store(nil)
		return
	}
	t.hook.Store(&fn)
}

func (t *hostKeepingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.count.Add(1)
	if t.down.Load() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	if front := t.front.Load(); front != nil {
		if resp := (*front)(req); resp != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return resp, nil
		}
	}
	r := req.Clone(req.Context())
	r.Host = req.URL.Host
	r.URL.Scheme, r.URL.Host = t.target.Scheme, t.target.Host
	if swallow := t.swallow.Load(); swallow != nil && (*swallow)(req) {
		if resp, err := t.base.RoundTrip(r); err == nil {
			resp.Body.Close()
		}
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	hook := t.hook.Load()
	if hook == nil {
		return t.base.RoundTrip(r)
	}
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		(*hook)(req.Method, req.URL.Path, body, resp.StatusCode)
	}
	return resp, err
}

// ---- client-go behaviour the fake lacks ----

// ctxHonouringClientset makes ConfigMap and Event requests fail once their context has
// ended, as every request of a real client-go clientset does (the fake ignores contexts).
type ctxHonouringClientset struct{ *fake.Clientset }

var _ kubernetes.Interface = ctxHonouringClientset{}

func (c ctxHonouringClientset) CoreV1() typedcorev1.CoreV1Interface {
	return ctxCoreV1{c.Clientset.CoreV1()}
}

type ctxCoreV1 struct{ typedcorev1.CoreV1Interface }

func (c ctxCoreV1) ConfigMaps(ns string) typedcorev1.ConfigMapInterface {
	return ctxConfigMaps{c.CoreV1Interface.ConfigMaps(ns)}
}

func (c ctxCoreV1) Events(ns string) typedcorev1.EventInterface {
	return ctxEvents{c.CoreV1Interface.Events(ns)}
}

type ctxConfigMaps struct{ typedcorev1.ConfigMapInterface }

func (c ctxConfigMaps) Get(ctx context.Context, name string, o metav1.GetOptions) (*corev1.ConfigMap, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.ConfigMapInterface.Get(ctx, name, o)
}

func (c ctxConfigMaps) List(ctx context.Context, o metav1.ListOptions) (*corev1.ConfigMapList, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.ConfigMapInterface.List(ctx, o)
}

func (c ctxConfigMaps) Create(ctx context.Context, cm *corev1.ConfigMap, o metav1.CreateOptions) (*corev1.ConfigMap, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.ConfigMapInterface.Create(ctx, cm, o)
}

func (c ctxConfigMaps) Update(ctx context.Context, cm *corev1.ConfigMap, o metav1.UpdateOptions) (*corev1.ConfigMap, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.ConfigMapInterface.Update(ctx, cm, o)
}

func (c ctxConfigMaps) Apply(ctx context.Context, cm *corev1ac.ConfigMapApplyConfiguration, o metav1.ApplyOptions) (*corev1.ConfigMap, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.ConfigMapInterface.Apply(ctx, cm, o)
}

func (c ctxConfigMaps) Delete(ctx context.Context, name string, o metav1.DeleteOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.ConfigMapInterface.Delete(ctx, name, o)
}

type ctxEvents struct{ typedcorev1.EventInterface }

func (c ctxEvents) Create(ctx context.Context, e *corev1.Event, o metav1.CreateOptions) (*corev1.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.EventInterface.Create(ctx, e, o)
}

// ---- small assertions ----

func wantContains(t *testing.T, what, got string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(got, s) {
			t.Errorf("%s does not mention %q:\n%s", what, s, got)
		}
	}
}

// wantSetting checks that err is about setting, so that a caller can point at it.
func wantSetting(t *testing.T, err error, setting Setting) {
	t.Helper()
	var se *SettingError
	if !errors.As(err, &se) || se.Setting != setting {
		t.Errorf("error %v is not about the %s", err, setting)
	}
}

func isHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}
