package acctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// What the agent does, as a kubelet, before it starts a Flink pod's container:
//
//   - environment variables from secretKeyRef and configMapKeyRef are read through the API
//     server; a missing Secret, ConfigMap or key (not optional) keeps the container waiting in
//     CreateContainerConfigError. The runtime gets a copy of the pod with those values set
//     (never written back to the API server);
//   - the pod's configMap, secret and emptyDir volumes are made as directories under
//     <Dir>/pods/<namespace>/<pod>-<uid>/volumes/<volume> (other volume types are left out);
//   - init containers run in order as local processes: their command and args, with every
//     mount path (an argument or env value that is, or starts with, one) replaced by the
//     volume's directory. One that fails is reported in initContainerStatuses (the pod stays
//     Pending, not initialized) and runs again after the crash-loop back-off;
//   - the Flink configuration is read from what is mounted at /opt/flink/conf: the ConfigMap,
//     or a volume directory the init containers filled.
//
// A pod without init containers whose configuration is a ConfigMap needs no directory.

// errConfig is a container configuration the kubelet cannot resolve yet.
type errConfig struct{ msg string }

func (e *errConfig) Error() string { return e.msg }

// setUpPod prepares pod (see above). run is the pod the runtime starts; conf its Flink
// configuration file's settings. An init container failure is reported here and returns
// errRetry, as does a wait for its back-off.
func (a *NodeAgent) setUpPod(ctx context.Context, key string, pod *corev1.Pod) (run *corev1.Pod, conf map[string]string, err error) {
	run = pod.DeepCopy()
	c := FlinkContainer(run)
	if err := a.resolveEnv(ctx, pod.Namespace, c.Env); err != nil {
		return nil, nil, a.configError(ctx, pod, err)
	}
	if len(pod.Spec.InitContainers) == 0 {
		if _, ok := confVolume(pod, c); !ok {
			conf, err := a.readConfig(ctx, pod, c)
			return run, conf, err
		}
	}
	if wait := a.initWait(key, pod); wait > 0 {
		return nil, nil, errRetry
	}
	dir := a.podDir(pod)
	vols, err := a.makeVolumes(ctx, pod, filepath.Join(dir, "volumes"))
	if err != nil {
		return nil, nil, a.configError(ctx, pod, err)
	}
	for i := range pod.Spec.InitContainers {
		ic := pod.Spec.InitContainers[i].DeepCopy()
		if err := a.resolveEnv(ctx, pod.Namespace, ic.Env); err != nil {
			return nil, nil, a.configError(ctx, pod, err)
		}
		if e := runInitContainer(ctx, ic, vols, dir); e != nil {
			a.log.Printf("%s: init container %s exited with code %d", key, ic.Name, e.code)
			return nil, nil, a.initFailed(ctx, key, pod, ic.Name, *e)
		}
	}
	a.initSucceeded(key)
	if name, ok := confVolume(pod, c); ok {
		if d, made := vols[name]; made {
			conf, _, err := SelectConfigFile(FlinkVersionOf(c), readDir(d))
			return run, conf, err
		}
	}
	conf, err = a.readConfig(ctx, pod, c)
	return run, conf, err
}

// confVolume is the volume mounted at /opt/flink/conf when it is not a ConfigMap.
func confVolume(pod *corev1.Pod, c *corev1.Container) (string, bool) {
	for _, m := range c.VolumeMounts {
		if strings.TrimSuffix(m.MountPath, "/") != FlinkConfDir || m.SubPath != "" {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.Name == m.Name && v.ConfigMap == nil {
				return v.Name, true
			}
		}
	}
	return "", false
}

// resolveEnv replaces secretKeyRef and configMapKeyRef values by the values they name.
func (a *NodeAgent) resolveEnv(ctx context.Context, ns string, env []corev1.EnvVar) error {
	for i := range env {
		e := &env[i]
		if e.ValueFrom == nil {
			continue
		}
		var value string
		var found bool
		switch {
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, err := a.kube.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("%w: %v", errRetry, err)
			}
			if err == nil {
				var b []byte
				b, found = s.Data[ref.Key]
				value = string(b)
				if !found && (ref.Optional == nil || !*ref.Optional) {
					return &errConfig{fmt.Sprintf("couldn't find key %s in Secret %s/%s", ref.Key, ns, ref.Name)}
				}
			} else if ref.Optional == nil || !*ref.Optional {
				return &errConfig{fmt.Sprintf("secret %q not found", ref.Name)}
			}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, err := a.kube.CoreV1().ConfigMaps(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("%w: %v", errRetry, err)
			}
			if err == nil {
				value, found = cm.Data[ref.Key]
				if !found && (ref.Optional == nil || !*ref.Optional) {
					return &errConfig{fmt.Sprintf("couldn't find key %s in ConfigMap %s/%s", ref.Key, ns, ref.Name)}
				}
			} else if ref.Optional == nil || !*ref.Optional {
				return &errConfig{fmt.Sprintf("configmap %q not found", ref.Name)}
			}
		default:
			continue // fieldRef, resourceFieldRef: the runtime's business
		}
		if found {
			e.Value, e.ValueFrom = value, nil
		}
	}
	return nil
}

// configError reports err: an unresolvable container configuration as a kubelet does
// (CreateContainerConfigError, retried), anything else as is.
func (a *NodeAgent) configError(ctx context.Context, pod *corev1.Pod, err error) error {
	var ce *errConfig
	if !errors.As(err, &ce) {
		return err
	}
	a.log.Printf("%s/%s: CreateContainerConfigError: %s", pod.Namespace, pod.Name, ce.msg)
	p := pod.DeepCopy()
	p.Status.Phase = corev1.PodPending
	p.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: ce.msg}}})
	}
	if _, uerr := a.kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); uerr != nil && !apierrors.IsNotFound(uerr) {
		return uerr
	}
	return errRetry
}

// makeVolumes makes the pod's configMap, secret and emptyDir volumes under dir: volume
// name → directory.
func (a *NodeAgent) makeVolumes(ctx context.Context, pod *corev1.Pod, dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		d := filepath.Join(dir, v.Name)
		var data map[string][]byte
		var items []corev1.KeyToPath
		switch {
		case v.EmptyDir != nil:
			// Kept across container restarts in the pod, as a kubelet keeps an emptyDir.
		case v.Secret != nil:
			s, err := a.kube.CoreV1().Secrets(pod.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err) && v.Secret.Optional != nil && *v.Secret.Optional:
			case apierrors.IsNotFound(err):
				return nil, &errConfig{fmt.Sprintf("MountVolume.SetUp failed for volume %q: secret %q not found", v.Name, v.Secret.SecretName)}
			case err != nil:
				return nil, fmt.Errorf("%w: %v", errRetry, err)
			default:
				data = s.Data
			}
			items = v.Secret.Items
		case v.ConfigMap != nil:
			cm, err := a.kube.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err) && v.ConfigMap.Optional != nil && *v.ConfigMap.Optional:
			case apierrors.IsNotFound(err):
				return nil, &errConfig{fmt.Sprintf("MountVolume.SetUp failed for volume %q: configmap %q not found", v.Name, v.ConfigMap.Name)}
			case err != nil:
				return nil, fmt.Errorf("%w: %v", errRetry, err)
			default:
				data = map[string][]byte{}
				for k, s := range cm.Data {
					data[k] = []byte(s)
				}
				for k, b := range cm.BinaryData {
					data[k] = b
				}
			}
			items = v.ConfigMap.Items
		default:
			continue
		}
		if v.EmptyDir == nil {
			// Secret and ConfigMap volumes are rewritten whole, like the kubelet's atomic writer.
			if err := os.RemoveAll(d); err != nil {
				return nil, err
			}
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		files := map[string][]byte{}
		if len(items) == 0 {
			for k, b := range data {
				files[k] = b
			}
		}
		for _, it := range items {
			b, ok := data[it.Key]
			if !ok {
				if data != nil {
					return nil, &errConfig{fmt.Sprintf("MountVolume.SetUp failed for volume %q: key %q not found", v.Name, it.Key)}
				}
				continue
			}
			files[it.Path] = b
		}
		for name, b := range files {
			p := filepath.Join(d, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return nil, err
			}
		}
		out[v.Name] = d
	}
	return out, nil
}

// runInitContainer runs c as a local process with its mount paths translated to vols; nil
// when it exited with code 0.
func runInitContainer(ctx context.Context, c *corev1.Container, vols map[string]string, dir string) *podExit {
	fail := func(code int, msg string) *podExit {
		return &podExit{code: code, reason: exitReason(code), message: msg}
	}
	// Each mount is a symlink at <dir>/rootfs/<container>/<mount path>, so a path keeps its
	// last element (the script names a Secret by its directory).
	type mount struct{ path, local string }
	var mounts []mount
	for _, m := range c.VolumeMounts {
		vol, ok := vols[m.Name]
		if !ok {
			continue
		}
		mp := strings.TrimSuffix(m.MountPath, "/")
		link := filepath.Join(dir, "rootfs", c.Name, filepath.FromSlash(mp))
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return fail(128, err.Error())
		}
		_ = os.Remove(link)
		if err := os.Symlink(filepath.Join(vol, m.SubPath), link); err != nil {
			return fail(128, err.Error())
		}
		mounts = append(mounts, mount{mp, link})
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].path) > len(mounts[j].path) })
	translate := func(s string) string {
		for _, m := range mounts {
			if s == m.path || strings.HasPrefix(s, m.path+"/") {
				return m.local + strings.TrimPrefix(s, m.path)
			}
		}
		return s
	}
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(c.Command) == 0 {
		return fail(128, fmt.Sprintf("init container %s: the test node runs init containers by their command (it has no image entrypoint)", c.Name))
	}
	for i := range argv {
		argv[i] = translate(argv[i])
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env = append(env, e.Name+"="+translate(e.Value))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = childProcAttr()
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(lastLines(string(out), 5))
	if msg == "" {
		msg = err.Error()
	}
	return fail(exitCodeOf(err), msg)
}

// readDir reads the regular files of dir (a made volume), by name.
func readDir(dir string) map[string]string {
	files := map[string]string{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
				files[e.Name()] = string(b)
			}
		}
	}
	return files
}

// podDir is the pod's directory, made on first use.
func (a *NodeAgent) podDir(pod *corev1.Pod) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dir == "" {
		d, err := os.MkdirTemp("", "flink-test-node-")
		if err != nil {
			d = filepath.Join(os.TempDir(), "flink-test-node")
		}
		a.dir = d
	}
	return filepath.Join(a.dir, "pods", pod.Namespace, pod.Name+"-"+string(pod.UID))
}

// removePodDirs removes the directories of every pod under key (it is gone), emptyDirs with
// merged secrets included.
func (a *NodeAgent) removePodDirs(key string) {
	a.mu.Lock()
	base := a.dir
	delete(a.inits, key)
	a.mu.Unlock()
	if base == "" {
		return
	}
	ns, name, _ := strings.Cut(key, "/")
	dirs, _ := filepath.Glob(filepath.Join(base, "pods", ns, name+"-*"))
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}

// initRestarts is the crash-loop back-off of one pod's failing init container.
type initRestarts struct {
	uid     types.UID
	crashes int
	until   time.Time
	last    *corev1.ContainerStateTerminated
	name    string
}

// initWait is how long the pod's failed init container must still wait before it runs again.
func (a *NodeAgent) initWait(key string, pod *corev1.Pod) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.inits[key]; r != nil && r.uid == pod.UID {
		return max(time.Until(r.until), 0)
	}
	return 0
}

func (a *NodeAgent) initSucceeded(key string) {
	a.mu.Lock()
	delete(a.inits, key)
	a.mu.Unlock()
}

// initFailed reports the init container name of pod as failed with e, as a kubelet does for
// restartPolicy Always: the pod Pending and not initialized, the init container waiting in
// CrashLoopBackOff (its last termination e), the other containers PodInitializing. It runs
// again after the back-off.
func (a *NodeAgent) initFailed(ctx context.Context, key string, pod *corev1.Pod, name string, e podExit) error {
	now := time.Now()
	a.mu.Lock()
	if a.inits == nil {
		a.inits = map[string]*initRestarts{}
	}
	r := a.inits[key]
	if r == nil || r.uid != pod.UID {
		r = &initRestarts{uid: pod.UID}
		a.inits[key] = r
	}
	r.crashes++
	wait := max(crashBackoffAfter(r.crashes), time.Second)
	r.until, r.name = now.Add(wait), name
	r.last = &corev1.ContainerStateTerminated{ExitCode: int32(e.code), Reason: e.reason, Message: truncate(e.message, 2000),
		StartedAt: metav1.NewTime(now), FinishedAt: metav1.NewTime(now), ContainerID: containerID(pod, name)}
	crashes := r.crashes
	a.mu.Unlock()

	mt := metav1.NewTime(now)
	p := pod.DeepCopy()
	p.Status.Phase = corev1.PodPending
	p.Status.HostIP = "127.0.0.1"
	p.Status.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
	if p.Status.StartTime == nil {
		p.Status.StartTime = &mt
	}
	msg := fmt.Sprintf("containers with incomplete status: [%s]", name)
	setPodCondition(&p.Status, corev1.PodScheduled, corev1.ConditionTrue, "", "", mt)
	setPodCondition(&p.Status, corev1.PodInitialized, corev1.ConditionFalse, "ContainersNotInitialized", msg, mt)
	setPodCondition(&p.Status, corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "", mt)
	setPodCondition(&p.Status, corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "", mt)
	p.Status.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: containerID(pod, c.Name)}
		if c.Name == name {
			cs.RestartCount = int32(crashes - 1)
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container %s in pod %s", wait.Round(time.Second), name, pod.Name)}}
			cs.LastTerminationState.Terminated = r.last
		} else {
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}
		}
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, cs)
	}
	p.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}})
	}
	if _, err := a.kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	a.queue.AddAfter(key, wait)
	return errRetry
}
