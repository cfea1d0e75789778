// Package providertest wires the provider into terraform-plugin-testing for the acceptance
// tests of every resource package.
package providertest

import (
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/flinkplatform/terraform-provider-flink/internal/provider"
)

// Factories serves the provider in-process to the terraform (or tofu) CLI under test.
var Factories = map[string]func() (tfprotov6.ProviderServer, error){
	"flink": providerserver.NewProtocol6WithError(provider.New("test")()),
}

// SecondCluster is the local name of a second, separate provider server (see
// TwoClusterFactories).
const SecondCluster = "flinksecond"

// TwoClusterFactories serves two separate provider servers: "flink" and SecondCluster. The CLI
// under test reattaches to an in-process provider, so every configuration of one provider
// name talks to the same server, and the last ConfigureProvider would win for all of them
// (a CLI that launches the plugin starts a process per configuration instead). A test of two
// clusters configures the second as `provider "flinksecond"` and puts
// `provider = flinksecond` on its resources, as the AWS provider's tests do for a second
// region.
var TwoClusterFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"flink":       Factories["flink"],
	SecondCluster: providerserver.NewProtocol6WithError(provider.New("test")()),
}
