package acctest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// DefaultNodeName is the node the agent registers.
const DefaultNodeName = "flink-test-node"

// NodeAgent plays scheduler and kubelet for a one-node test cluster: it registers a Ready
// node, binds every pending pod to it, starts Flink pods through a Runtime, reports pods
// Running and Ready (podIP 127.0.0.1), and finally deletes pods once they are marked for
// deletion, as a kubelet does after their containers stop.
type NodeAgent struct {
	kube     kubernetes.Interface
	runtime  Runtime
	nodeName string
	workers  int
	log      *log.Logger
	api      *APIServer // nil: pods get no API server address or token
	dir      string     // pod volumes, service-account tokens, init container files

	queue     workqueue.TypedRateLimitingInterface[string]
	factory   informers.SharedInformerFactory
	podLister corelisters.PodLister

	mu      sync.Mutex
	running map[string]*corev1.Pod // pod key → the pod as started in the runtime
	exited  map[types.UID]podExit  // pods whose process ended on its own (PodExitNotifier)
	// restarts are the restarts of crashed containers, per pod key (agent_exit.go).
	restarts map[string]*restarts
	// killed are pods a test killed (KillPod): their restart gets no crash-loop back-off.
	killed map[types.UID]bool
	// renewals stop the token renewal of running pods (agent_podenv.go).
	renewals map[types.UID]context.CancelFunc
	// inits is the back-off of failing init containers, per pod key (agent_pods.go).
	inits map[string]*initRestarts

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NodeAgentOptions configures a NodeAgent.
type NodeAgentOptions struct {
	NodeName string    // default DefaultNodeName
	Log      io.Writer // default io.Discard
	Workers  int       // default 4
	// APIServer is what pods are told about the API server (KUBERNETES_SERVICE_HOST/PORT, the
	// CA of their service-account token mount). Nil: nothing.
	APIServer *APIServer
	// Dir holds pod volumes (service-account tokens included) and init container files.
	// Default: a new temporary directory.
	Dir string
}

// NewNodeAgent returns an agent that runs Flink pods with rt (nil: no Flink pod can start, all
// others still run).
func NewNodeAgent(kube kubernetes.Interface, rt Runtime, opts NodeAgentOptions) *NodeAgent {
	if opts.NodeName == "" {
		opts.NodeName = DefaultNodeName
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Dir == "" {
		if d, err := os.MkdirTemp("", "flink-node-agent-"); err == nil {
			opts.Dir = d
		}
	}
	return &NodeAgent{
		kube:     kube,
		runtime:  rt,
		nodeName: opts.NodeName,
		workers:  opts.Workers,
		api:      opts.APIServer,
		dir:      opts.Dir,
		log:      log.New(opts.Log, "agent: ", log.Ltime|log.Lmicroseconds),
		running:  map[string]*corev1.Pod{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "acctest-node-agent"}),
	}
}

// NodeName is the name of the node the agent registers.
func (a *NodeAgent) NodeName() string { return a.nodeName }

// Start registers the node, starts the pod informer, and returns once its cache has synced.
func (a *NodeAgent) Start(ctx context.Context) error {
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	workers := a.workers
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.factory = informers.NewSharedInformerFactory(a.kube, 0)
	podInformer := a.factory.Core().V1().Pods()
	a.podLister = podInformer.Lister()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			a.queue.Add(key)
		}
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		cancel()
		return err
	}
	a.installExitHandler()
	a.factory.Start(runCtx.Done())
	synced := make(chan bool, 1)
	go func() { synced <- cache.WaitForCacheSync(runCtx.Done(), podInformer.Informer().HasSynced) }()
	select {
	case ok := <-synced:
		if !ok {
			cancel()
			return errors.New("node agent: pod informer did not sync")
		}
	case <-ctx.Done():
		cancel()
		return ctx.Err()
	}
	for range workers {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for a.processNext(runCtx) {
			}
		}()
	}
	a.log.Printf("node %s ready, %d workers", a.nodeName, workers)
	return nil
}

// Stop stops the workers and the informer, then stops every pod still running in the runtime.
func (a *NodeAgent) Stop() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.queue.ShutDown()
	a.wg.Wait()
	a.factory.Shutdown()
	a.mu.Lock()
	pods := a.running
	a.running = map[string]*corev1.Pod{}
	a.mu.Unlock()
	for _, p := range pods {
		if a.runtime != nil {
			a.runtime.StopPod(p)
		}
	}
}

func (a *NodeAgent) registerNode(ctx context.Context) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("64"),
		corev1.ResourceMemory:           resource.MustParse("256Gi"),
		corev1.ResourcePods:             resource.MustParse("1000"),
		corev1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	status := corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady"),
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: a.nodeName},
		},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion:          "v1.35.4",
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
			ContainerRuntimeVersion: "acctest://" + fmt.Sprintf("%T", a.runtime),
		},
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.nodeName,
			Labels: map[string]string{
				"kubernetes.io/hostname": a.nodeName,
				"kubernetes.io/os":       runtime.GOOS,
				"kubernetes.io/arch":     runtime.GOARCH,
			},
		},
		Status: status,
	}
	created, err := a.kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = a.kube.CoreV1().Nodes().Get(ctx, a.nodeName, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("node agent: register node: %w", err)
	}
	if !nodeReady(created) {
		created.Status = status
		if _, err := a.kube.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("node agent: node status: %w", err)
		}
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (a *NodeAgent) processNext(ctx context.Context) bool {
	key, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(key)
	err := a.sync(ctx, key)
	switch {
	case err == nil:
		a.queue.Forget(key)
	case ctx.Err() != nil:
		// shutting down
	default:
		if !errors.Is(err, errRetry) && !apierrors.IsConflict(err) {
			a.log.Printf("%s: %v (retrying)", key, err)
		}
		a.queue.AddRateLimited(key)
	}
	return true
}

// errRetry asks for the key to be synced again later without logging.
var errRetry = errors.New("retry")

func (a *NodeAgent) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := a.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		a.stopRunning(key, "")
		a.forgetRestarts(key)
		a.removePodDirs(key)
		return nil
	}
	if err != nil {
		return err
	}
	// A pod recreated under the same name is a new pod.
	a.stopRunning(key, pod.UID)

	if pod.Spec.NodeName != "" && pod.Spec.NodeName != a.nodeName {
		return nil // another node's pod
	}
	if pod.DeletionTimestamp != nil {
		return a.finishDeletion(ctx, key, pod)
	}
	if pod.Spec.NodeName == "" {
		return a.bind(ctx, pod)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	if handled, err := a.syncExited(ctx, key, pod); handled {
		return err
	}
	a.mu.Lock()
	_, started := a.running[key]
	a.mu.Unlock()
	if !started {
		if wait := a.crashBackoff(ctx, key, pod); wait > 0 {
			a.queue.AddAfter(key, wait)
			return nil
		}
		failure, crash, err := a.start(ctx, key, pod)
		switch {
		case err != nil:
			return err
		case failure != "":
			return a.markFailed(ctx, pod, failure)
		case crash != nil:
			return a.containerExited(ctx, key, pod, *crash)
		}
	}
	return a.markRunning(ctx, key, pod)
}

// stopRunning stops the runtime pod under key unless it is the pod with uid keep.
func (a *NodeAgent) stopRunning(key string, keep types.UID) {
	a.mu.Lock()
	p, ok := a.running[key]
	if ok && p.UID != keep {
		delete(a.running, key)
	}
	a.mu.Unlock()
	if ok && p.UID != keep && a.runtime != nil {
		a.log.Printf("%s: stopping (uid %s)", key, p.UID)
		a.runtime.StopPod(p)
	}
	if ok && p.UID != keep {
		a.stopRenewing(p.UID)
	}
}

func (a *NodeAgent) bind(ctx context.Context, pod *corev1.Pod) error {
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: a.nodeName},
	}
	err := a.kube.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if apierrors.IsConflict(err) {
		// Already bound (the informer will tell us where) or gone.
		return nil
	}
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	a.log.Printf("%s/%s: bound to %s", pod.Namespace, pod.Name, a.nodeName)
	return nil
}

// finishDeletion stops the pod's containers and removes the pod (grace period 0), as a kubelet
// does once the deletion grace period has been honoured.
func (a *NodeAgent) finishDeletion(ctx context.Context, key string, pod *corev1.Pod) error {
	a.stopRunning(key, "")
	a.forgetRestarts(key)
	a.removePodDirs(key)
	zero := int64(0)
	uid := pod.UID
	err := a.kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	a.log.Printf("%s: deleted", key)
	return nil
}

// start starts the pod's containers. failure set means the pod cannot start and must be
// reported Failed (as for arguments Flink would reject); crash set means its container was
// started and exited, or did not come up (it restarts by the pod's restart policy); err means
// try again later (e.g. its ConfigMap does not exist yet).
func (a *NodeAgent) start(ctx context.Context, key string, pod *corev1.Pod) (failure string, crash *podExit, err error) {
	role := PodRole(pod)
	if role == RoleNone {
		a.setRunning(key, pod)
		return "", nil, nil
	}
	if role == roleSession {
		return "session-mode JobManagers (args \"jobmanager\") are not supported by the test node; use standalone-job", nil, nil
	}
	if a.runtime == nil {
		return "the test node has no Flink runtime", nil, nil
	}
	// run is the pod as the runtime starts it, never written back: its env resolved from
	// Secrets and ConfigMaps and its volumes made (agent_pods.go), then the downward API and
	// $(VAR)s resolved and its service-account token mounted (agent_podenv.go).
	run, conf, err := a.setUpPod(ctx, key, pod)
	var saDir string
	if err == nil {
		run, saDir, err = a.podEnvironment(ctx, run)
	}
	if errors.Is(err, errRetry) {
		return "", nil, err
	}
	if err != nil {
		return err.Error(), nil, nil
	}
	switch role {
	case RoleJobManager:
		jm, err := BuildJobManagerLaunch(run, conf)
		if err != nil {
			return err.Error(), nil, nil
		}
		jm.ServiceAccountDir = saDir
		a.noteStart(key, pod)
		if err := a.runtime.StartJobManager(ctx, run, jm); err != nil {
			e := startCrash(fmt.Errorf("start JobManager: %w", err))
			return "", &e, nil
		}
		a.log.Printf("%s: JobManager started: %s job %s class %s flink %s restore %q", key, jm.RestHost, jm.JobID, jm.EntryClass, jm.FlinkVersion, jm.RestorePath)
	case RoleTaskManager:
		tm, err := BuildTaskManagerLaunch(run, conf)
		if err != nil {
			return err.Error(), nil, nil
		}
		tm.ServiceAccountDir = saDir
		a.noteStart(key, pod)
		if err := a.runtime.StartTaskManager(ctx, run, tm); err != nil {
			e := startCrash(fmt.Errorf("start TaskManager: %w", err))
			return "", &e, nil
		}
		a.log.Printf("%s: TaskManager started for %s (%d slots)", key, tm.RestHost, tm.Slots)
	}
	a.setRunning(key, pod)
	return "", nil, nil
}

func (a *NodeAgent) setRunning(key string, pod *corev1.Pod) {
	a.mu.Lock()
	a.running[key] = pod.DeepCopy()
	a.mu.Unlock()
}

// readConfig reads the Flink configuration file from the ConfigMap mounted at /opt/flink/conf.
// A missing ConfigMap keeps the pod waiting (errRetry), as the kubelet's volume mount would.
func (a *NodeAgent) readConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (map[string]string, error) {
	src, ok := PodConfigSource(pod, c)
	if !ok {
		return map[string]string{}, nil
	}
	cm, err := a.kube.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, src.ConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if src.Optional {
			return map[string]string{}, nil
		}
		a.log.Printf("%s/%s: waiting for ConfigMap %s", pod.Namespace, pod.Name, src.ConfigMap)
		return nil, errRetry
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errRetry, err)
	}
	conf, file, err := SelectConfigFile(FlinkVersionOf(c), src.ConfigFiles(cm.Data))
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s: %w", src.ConfigMap, err)
	}
	if file == "" {
		a.log.Printf("%s/%s: ConfigMap %s has no configuration file Flink %s reads; starting with defaults", pod.Namespace, pod.Name, src.ConfigMap, FlinkVersionOf(c))
	}
	return conf, nil
}

func (a *NodeAgent) markRunning(ctx context.Context, key string, pod *corev1.Pod) error {
	// (A container restarted since the pod was last reported ready is reported again.)
	if cs := flinkContainerStatus(pod); podRunningReady(pod) && (cs == nil || cs.RestartCount == a.restartCount(key, pod)) {
		return nil
	}
	now := metav1.Now()
	p := pod.DeepCopy()
	p.Status.Phase = corev1.PodRunning
	p.Status.Reason, p.Status.Message = "", ""
	p.Status.HostIP = "127.0.0.1"
	p.Status.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
	p.Status.PodIP = "127.0.0.1"
	p.Status.PodIPs = []corev1.PodIP{{IP: "127.0.0.1"}}
	if p.Status.StartTime == nil {
		p.Status.StartTime = &now
	}
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		setPodCondition(&p.Status, t, corev1.ConditionTrue, "", "", now)
	}
	p.Status.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: containerID(pod, c.Name), Ready: true,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now, ContainerID: containerID(pod, c.Name),
			}},
		})
	}
	p.Status.ContainerStatuses = nil
	started := true
	for _, c := range pod.Spec.Containers {
		cs := a.containerStatus(key, pod, c, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}, now.Time)
		cs.Ready, cs.Started = true, &started
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, cs)
	}
	_, err := a.kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (a *NodeAgent) markFailed(ctx context.Context, pod *corev1.Pod, reason string) error {
	a.log.Printf("%s/%s: failed: %s", pod.Namespace, pod.Name, reason)
	now := metav1.Now()
	p := pod.DeepCopy()
	p.Status.Phase = corev1.PodFailed
	p.Status.Reason = "StartError"
	p.Status.Message = reason
	p.Status.HostIP = "127.0.0.1"
	p.Status.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
	if p.Status.StartTime == nil {
		p.Status.StartTime = &now
	}
	setPodCondition(&p.Status, corev1.PodScheduled, corev1.ConditionTrue, "", "", now)
	setPodCondition(&p.Status, corev1.PodInitialized, corev1.ConditionTrue, "", "", now)
	setPodCondition(&p.Status, corev1.ContainersReady, corev1.ConditionFalse, "PodFailed", reason, now)
	setPodCondition(&p.Status, corev1.PodReady, corev1.ConditionFalse, "PodFailed", reason, now)
	p.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: containerID(pod, c.Name),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", Message: reason, StartedAt: now, FinishedAt: now, ContainerID: containerID(pod, c.Name),
			}},
		})
	}
	_, err := a.kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func containerID(pod *corev1.Pod, name string) string {
	return "acctest://" + string(pod.UID) + "/" + name
}

func podRunningReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && len(pod.Status.ContainerStatuses) == len(pod.Spec.Containers)
		}
	}
	return false
}

func setPodCondition(s *corev1.PodStatus, t corev1.PodConditionType, status corev1.ConditionStatus, reason, msg string, now metav1.Time) {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			if s.Conditions[i].Status != status {
				s.Conditions[i].LastTransitionTime = now
			}
			s.Conditions[i].Status, s.Conditions[i].Reason, s.Conditions[i].Message = status, reason, msg
			return
		}
	}
	s.Conditions = append(s.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
}
