package flinkconf

import (
	"strings"
	"testing"
)

func TestParseMemory(t *testing.T) {
	ok := []struct {
		in   string
		want int64
	}{
		{"1024m", 1 << 30},
		{"2g", 2 << 30},
		{"1536mb", 1536 << 20},
		{"1gb", 1 << 30},
		{"512k", 512 << 10},
		{"512kb", 512 << 10},
		{"1073741824", 1 << 30},
		{"100b", 100},
		{"100bytes", 100},
		{"1t", 1 << 40},
		{"1TB", 1 << 40},
		{"2G", 2 << 30},
		{"1024M", 1 << 30},
		{"1024 m", 1 << 30},
		{" 2g ", 2 << 30},
		{"3mebibytes", 3 << 20},
		{"1gibibytes", 1 << 30},
		{"4kibibytes", 4 << 10},
		{"1", 1},
	}
	for _, c := range ok {
		got, err := ParseMemory(c.in)
		if err != nil {
			t.Errorf("ParseMemory(%q): unexpected error %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseMemory(%q) = %d, want %d", c.in, got, c.want)
		}
	}
	bad := []struct{ in, msg string }{
		{"", "empty"},
		{"0", "greater than zero"},
		{"0m", "greater than zero"},
		{"-1g", "positive"},
		{"1.5g", "fractions"},
		{"0.5", "fractions"},
		{"1Gi", "Kubernetes-style"},
		{"512Mi", "unknown unit"},
		{"10x", "unknown unit \"x\""},
		{"g", "whole number"},
		{"abc", "whole number"},
		{"99999999999999999999", "too large"},
		{"9999999999t", "too large"},
	}
	for _, c := range bad {
		_, err := ParseMemory(c.in)
		if err == nil {
			t.Errorf("ParseMemory(%q): expected an error", c.in)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseMemory(%q) error %q does not mention %q", c.in, err, c.msg)
		}
	}
}
