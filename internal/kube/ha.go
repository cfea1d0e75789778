package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Flink's Kubernetes HA services keep their data in ConfigMaps named after the cluster id
// ("<cluster-id>-cluster-config-map" for leader election and the job graphs or, from 2.0,
// execution plans; "<cluster-id>-<job-id>-config-map" for a job's checkpoints), labelled
// app=<cluster-id>, type=flink-native-kubernetes. Flink leaves them behind when the cluster
// stops without cleaning up (a scale to zero), so the lifecycle deletes a generation's once
// they can no longer be needed.

// haSelector matches the HA ConfigMaps of clusterID.
func haSelector(clusterID string) string {
	return labels.SelectorFromSet(labels.Set{FlinkLabelApp: clusterID, FlinkLabelType: FlinkLabelTypeNative}).String()
}

// HAGenerations lists the generations of app that have HA ConfigMaps in ns, oldest first.
func (c *Client) HAGenerations(ctx context.Context, ns, app string) ([]int64, error) {
	list, err := c.Kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: FlinkLabelType + "=" + FlinkLabelTypeNative})
	if err != nil {
		return nil, fmt.Errorf("list HA ConfigMaps of %s/%s: %w", ns, app, err)
	}
	seen := map[int64]bool{}
	var gens []int64
	for _, cm := range list.Items {
		gen, ok := ParseHAClusterID(app, cm.Labels[FlinkLabelApp])
		if ok && !seen[gen] && strings.HasPrefix(cm.Name, cm.Labels[FlinkLabelApp]+"-") {
			seen[gen] = true
			gens = append(gens, gen)
		}
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
	return gens, nil
}

// DeleteHAConfigMaps deletes the HA ConfigMaps Flink wrote for clusterID (only those named
// after it). ConfigMaps already gone are fine. Never call it for a cluster that may still run.
func (c *Client) DeleteHAConfigMaps(ctx context.Context, ns, clusterID string) error {
	list, err := c.Kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: haSelector(clusterID)})
	if err != nil {
		return fmt.Errorf("list HA ConfigMaps of %s in %s: %w", clusterID, ns, err)
	}
	var errs []error
	for _, cm := range list.Items {
		if !strings.HasPrefix(cm.Name, clusterID+"-") {
			continue
		}
		err := c.RetryTransient(ctx, func() error {
			return c.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, cm.Name, metav1.DeleteOptions{})
		})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete HA ConfigMap %s/%s: %w", ns, cm.Name, err))
		}
	}
	return errors.Join(errs...)
}

// WaitJobManagersGone waits until no JobManager pod of app is left, terminating ones included,
// but those running keepJobID ("" keeps none), or ctx ends. A JobManager that is still
// shutting down may write its HA ConfigMaps again (releasing its leadership), so a
// generation's HA data is deleted only once its JobManagers are gone.
func (c *Client) WaitJobManagersGone(ctx context.Context, ns, app, keepJobID string) error {
	sel := labels.SelectorFromSet(ComponentSelectorLabels(app, ComponentJobManager)).String()
	left, err := wait.Conf[[]string]{
		Pending:     []string{"PRESENT"},
		Target:      []string{"GONE"},
		Retryable:   func(error) bool { return true }, // transient or not: retried until ctx ends
		MaxInterval: pollMax,
		Refresh: func(ctx context.Context) ([]string, string, error) {
			pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				return nil, "", err
			}
			var names []string
			for i := range pods.Items {
				if keepJobID == "" || !runsJob(&pods.Items[i], keepJobID) {
					names = append(names, pods.Items[i].Name)
				}
			}
			if len(names) == 0 {
				return names, "GONE", nil
			}
			return names, "PRESENT", nil
		},
	}.Wait(ctx)
	if err != nil {
		return fmt.Errorf("JobManager pods of %s/%s still there: %s: %w", ns, app, strings.Join(left, ", "), err)
	}
	return nil
}
