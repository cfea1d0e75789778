package kube

import (
	"testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
)

func TestFormatMemoryAndQuantities(t *testing.T) {
	for in, want := range map[int64]string{1 << 30: "1024m", 1536 << 20: "1536m", 512 << 10: "512k", 1000: "1000b"} {
		if got := flinkconf.FormatMemory(in); got != want {
			t.Errorf("flinkconf.FormatMemory(%d) = %q, want %q", in, got, want)
		}
		// round trip
		if b, err := flinkconf.ParseMemory(flinkconf.FormatMemory(in)); err != nil || b != in {
			t.Errorf("flinkconf.ParseMemory(flinkconf.FormatMemory(%d)) = %d, %v", in, b, err)
		}
	}
	if q := ToQuantity(1 << 30); q.String() != "1Gi" {
		t.Errorf("ToQuantity(1Gi) = %s", q.String())
	}
	if q, err := MemoryQuantity("1536m"); err != nil || q.String() != "1536Mi" {
		t.Errorf("MemoryQuantity(1536m) = %s, %v", q.String(), err)
	}
	for in, want := range map[float64]string{0.5: "500m", 2: "2", 1.25: "1250m", 0.001: "1m"} {
		q, err := CPUQuantity(in)
		if err != nil || q.String() != want {
			t.Errorf("CPUQuantity(%v) = %s, %v; want %s", in, q.String(), err, want)
		}
	}
	for _, in := range []float64{0, -1, 0.0001} {
		if _, err := CPUQuantity(in); err == nil {
			t.Errorf("CPUQuantity(%v): expected an error", in)
		}
	}
}
