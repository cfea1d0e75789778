//go:build tools

// Package tofu pins the OpenTofu CLI that the acceptance suite runs a second time with.
package tofu

import _ "github.com/opentofu/opentofu/cmd/tofu"
