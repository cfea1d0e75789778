package flinkconf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Flink memory units (org.apache.flink.configuration.MemorySize): binary multiples, units
// case-insensitive, optional whitespace between number and unit.
var memoryUnits = map[string]int64{
	"":          1,
	"b":         1,
	"bytes":     1,
	"k":         1 << 10,
	"kb":        1 << 10,
	"kibibytes": 1 << 10,
	"m":         1 << 20,
	"mb":        1 << 20,
	"mebibytes": 1 << 20,
	"g":         1 << 30,
	"gb":        1 << 30,
	"gibibytes": 1 << 30,
	"t":         1 << 40,
	"tb":        1 << 40,
	"tebibytes": 1 << 40,
}

const memoryUnitHelp = "use a whole number with an optional Flink unit: b, k/kb, m/mb, g/gb, t/tb (binary: 1g = 1024m), e.g. \"1024m\" or \"2g\""

// ParseMemory parses a Flink memory size such as "1024m", "2g", "1536mb", "1gb", "512k" or
// "1073741824" (bytes) and returns the number of bytes. Units are case-insensitive. Zero,
// negative and fractional sizes and unknown units are rejected.
func ParseMemory(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("memory size must not be empty: %s", memoryUnitHelp)
	}
	if t[0] == '-' {
		return 0, fmt.Errorf("invalid memory size %q: must be positive", s)
	}
	if t[0] == '+' {
		t = t[1:]
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid memory size %q: %s", s, memoryUnitHelp)
	}
	digits, rest := t[:i], strings.TrimSpace(t[i:])
	if strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, ",") {
		return 0, fmt.Errorf("invalid memory size %q: fractions are not allowed; use a whole number with a smaller unit (e.g. \"1536m\" instead of \"1.5g\")", s)
	}
	mult, ok := memoryUnits[rest]
	if !ok {
		hint := ""
		switch rest {
		case "ki", "mi", "gi", "ti", "kib", "mib", "gib", "tib":
			hint = " (Kubernetes-style units are not Flink sizes)"
		}
		return 0, fmt.Errorf("invalid memory size %q: unknown unit %q%s; %s", s, rest, hint, memoryUnitHelp)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid memory size %q: number too large", s)
	}
	if n == 0 {
		return 0, fmt.Errorf("invalid memory size %q: must be greater than zero", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid memory size %q: too large", s)
	}
	return n * mult, nil
}

// FormatMemory renders bytes as a Flink memory size in the largest of m, k or b that
// represents it exactly ("2048m", "512k", "1000b").
func FormatMemory(bytes int64) string {
	switch {
	case bytes != 0 && bytes%(1<<20) == 0:
		return strconv.FormatInt(bytes/(1<<20), 10) + "m"
	case bytes != 0 && bytes%(1<<10) == 0:
		return strconv.FormatInt(bytes/(1<<10), 10) + "k"
	default:
		return strconv.FormatInt(bytes, 10) + "b"
	}
}
