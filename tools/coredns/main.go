// Command coredns is the cluster DNS of the test stack's real node (FLINK_RUNTIME=node):
// CoreDNS with only the plugins the node's Corefile uses (internal/acctest/node.go), so it
// builds in about a minute instead of pulling every cloud provider's SDK.
package main

import (
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
