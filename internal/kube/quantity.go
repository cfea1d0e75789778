package kube

import (
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
)

// ToQuantity converts a byte count (from flinkconf.ParseMemory) to a Kubernetes memory quantity in
// binary SI form ("1Gi", "1536Mi").
func ToQuantity(bytes int64) resource.Quantity {
	return *resource.NewQuantity(bytes, resource.BinarySI)
}

// MemoryQuantity parses a Flink memory size and returns it as a Kubernetes quantity.
func MemoryQuantity(s string) (resource.Quantity, error) {
	b, err := flinkconf.ParseMemory(s)
	if err != nil {
		return resource.Quantity{}, err
	}
	return ToQuantity(b), nil
}

// CPUQuantity converts cores (0.5, 2) to a Kubernetes CPU quantity, rounded to millicores.
func CPUQuantity(cores float64) (resource.Quantity, error) {
	if math.IsNaN(cores) || math.IsInf(cores, 0) {
		return resource.Quantity{}, fmt.Errorf("invalid cpu %v: must be a finite number of cores", cores)
	}
	if cores <= 0 {
		return resource.Quantity{}, fmt.Errorf("invalid cpu %v: must be greater than 0 cores", cores)
	}
	milli := math.Round(cores * 1000)
	if milli < 1 {
		return resource.Quantity{}, fmt.Errorf("invalid cpu %v: must be at least 0.001 cores", cores)
	}
	if milli > math.MaxInt64/2 {
		return resource.Quantity{}, fmt.Errorf("invalid cpu %v: too large", cores)
	}
	return *resource.NewMilliQuantity(int64(milli), resource.DecimalSI), nil
}
