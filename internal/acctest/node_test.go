package acctest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// requireNode skips unless the stack runs the real node.
func requireNode(t *testing.T) *Stack {
	t.Helper()
	s := stackFor(t)
	if s.Node() == nil {
		t.Skip("real-node test: run with FLINK_RUNTIME=node (make test-node)")
	}
	return s
}

func TestRealNode_IsReadyWithPodCIDR(t *testing.T) {
	s := requireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node, err := s.Kube().CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !nodeReady(node) {
		t.Fatalf("node %s is not Ready: %+v", NodeName, node.Status.Conditions)
	}
	ip, err := netip.ParseAddr(node.Status.Addresses[0].Address)
	if err != nil || ip.String() != NodeIP {
		t.Fatalf("node address %v, want %s", node.Status.Addresses, NodeIP)
	}
}
