package acctest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

// AppEvents lists the provider's Events about application app, oldest first, as
// "Type/Reason: message".
func AppEvents(t testing.TB, ns, app string) []string {
	t.Helper()
	list, err := Kube(t).CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{LabelSelector: kube.AppSelector(app)})
	if err != nil {
		t.Fatalf("acctest: events of %s/%s: %v", ns, app, err)
	}
	// Named <object>.<emission time in hex nanoseconds>: by name is in order, to the
	// nanosecond (timestamps keep seconds).
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	var out []string
	for _, e := range list.Items {
		if e.Source.Component == kube.EventSource && e.InvolvedObject.Kind == "ConfigMap" {
			out = append(out, e.Type+"/"+e.Reason+": "+e.Message)
		}
	}
	return out
}

// EventsInOrder returns an error unless the Events of application app have, in this order
// (others may come between), the reasons "Type/Reason" of want.
func EventsInOrder(t testing.TB, ns, app string, want ...string) error {
	t.Helper()
	events := AppEvents(t, ns, app)
	next := 0
	for _, e := range events {
		if next < len(want) && strings.HasPrefix(e, want[next]+": ") {
			next++
		}
	}
	if next < len(want) {
		return fmt.Errorf("Events of %s/%s lack %s after %q; they are:\n  %s", ns, app, want[next], want[:next], strings.Join(events, "\n  "))
	}
	return nil
}

// HasEvent returns an error unless application app has an Event "Type/Reason" whose message
// contains every one of words.
func HasEvent(t testing.TB, ns, app, typeReason string, words ...string) error {
	t.Helper()
	events := AppEvents(t, ns, app)
next:
	for _, e := range events {
		if !strings.HasPrefix(e, typeReason+": ") {
			continue
		}
		for _, w := range words {
			if !strings.Contains(e, w) {
				continue next
			}
		}
		return nil
	}
	return fmt.Errorf("no Event %s mentioning %q on %s/%s; its Events:\n  %s", typeReason, words, ns, app, strings.Join(events, "\n  "))
}
