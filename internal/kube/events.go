package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EventSource is the source component of the provider's Events.
const EventSource = "terraform-provider-flink"

// maxEventMessage keeps Event messages to a size kubectl shows comfortably.
const maxEventMessage = 1024

// Event emits a core/v1 Event about application app, on its application record ConfigMap
// (kubectl describe configmap <app>-flink-application shows them) and, while there is one, on
// its JobManager Deployment (kubectl describe deployment <app>-jobmanager). warning selects
// type Warning instead of Normal. Emitting is best effort: failures are logged, never
// returned, so an operation never fails because its Event could not be written.
func (c *Client) Event(ctx context.Context, ns, app, reason, message string, warning bool) {
	record := corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: ns, Name: AppRecordName(app)}
	if cm, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, record.Name, metav1.GetOptions{}); err == nil {
		record.UID, record.ResourceVersion = cm.UID, cm.ResourceVersion
	}
	c.emit(ctx, app, record, reason, message, warning)
	jm, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, JobManagerDeploymentName(app), metav1.GetOptions{})
	if err == nil {
		c.emit(ctx, app, corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: jm.Name,
			UID: jm.UID, ResourceVersion: jm.ResourceVersion}, reason, message, warning)
	}
}

func (c *Client) emit(ctx context.Context, app string, ref corev1.ObjectReference, reason, message string, warning bool) {
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	now := time.Now()
	ts := metav1.NewTime(now)
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			// Unique per emission, the way client-go's recorder names Events.
			Name:      fmt.Sprintf("%s.%x", ref.Name, now.UnixNano()),
			Namespace: ref.Namespace,
			Labels:    AppLabels(app),
		},
		InvolvedObject: ref,
		Reason:         reason,
		Message:        truncate(message, maxEventMessage),
		Type:           typ,
		Source:         corev1.EventSource{Component: EventSource},
		FirstTimestamp: ts,
		LastTimestamp:  ts,
		Count:          1,
	}
	if _, err := c.Kube.CoreV1().Events(ref.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		c.logf("[WARN] could not record event %s %q on %s %s/%s: %v", typ, reason, ref.Kind, ref.Namespace, ref.Name, explainForbidden(err, ref.Namespace))
	}
}
