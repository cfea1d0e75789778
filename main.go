// Command terraform-provider-flink serves the flink provider to Terraform and OpenTofu.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/flinkplatform/terraform-provider-flink/internal/provider"
)

// Run "go generate" (make docs) to write the RBAC examples from internal/kube/rbac.go, format
// examples and regenerate docs/ with tfplugindocs.
//go:generate go run ./tools/rbacgen -dir examples/rbac
//go:generate tools/docs/generate.sh

// version is set by goreleaser.
var version = "dev"

func main() {
	var debuggable bool
	flag.BoolVar(&debuggable, "debug", false, "run with support for debuggers like delve")
	flag.Parse()
	if err := provider.Serve(context.Background(), provider.New(version), debuggable); err != nil {
		log.Fatal(err.Error())
	}
}
