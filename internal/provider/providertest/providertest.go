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
