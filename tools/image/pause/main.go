// Command pause is the test node's pod sandbox process: it holds the pod's namespaces open
// and exits on SIGTERM or SIGINT, as the pause container of a Kubernetes node does.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
