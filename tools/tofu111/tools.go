//go:build tools

// Package tofu111 pins the OpenTofu 1.11 CLI: the first release that keeps write-only
// arguments out of state, so the write-only acceptance tests run with it.
package tofu111

import _ "github.com/opentofu/opentofu/cmd/tofu"
