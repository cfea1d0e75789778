// Command terraform-provider-flink serves the flink provider to Terraform and OpenTofu.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/flinkplatform/terraform-provider-flink/internal/provider"
)

// Run "go generate" (make docs) to write the RBAC examples from internal/kube/rbac.go, format
// examples and regenerate docs/ with tfplugindocs.
//go:generate go run ./tools/rbacgen -dir examples/rbac
//go:generate terraform fmt -recursive ./examples/
//go:generate sh -c "cd tools/docs && go run github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs generate --provider-dir ../.. --provider-name flink"

// version is set by goreleaser.
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run with support for debuggers like delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/flinkplatform/flink",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}
