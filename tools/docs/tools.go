//go:build tools

// Package docs pins tfplugindocs, which generates docs/ from the provider schema, templates/
// and examples/. It is a module of its own to keep its dependencies out of the provider's.
package docs

import _ "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs"
