package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The committed examples are what rbacgen writes now: a changed Role needs make docs.
func TestExamplesUpToDate(t *testing.T) {
	for name, want := range map[string]string{"role.yaml": YAML(), "main.tf": HCL()} {
		got, err := os.ReadFile(filepath.Join("..", "..", "examples", "rbac", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("examples/rbac/%s is stale: run make docs", name)
		}
	}
}
