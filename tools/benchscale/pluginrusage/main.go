// Command pluginrusage stands in for the provider binary while make bench-scale measures a
// plan: terraform starts it as the plugin, it runs the provider binary BENCH_PLUGIN_BINARY
// names (else the real provider: its own path + ".real") with the same arguments, environment and standard streams, and when the provider exits it
// appends the provider's CPU time and peak RSS, as the kernel counted them (wait4), to the
// file named by BENCH_PLUGIN_RUSAGE: one JSON line per plugin process.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	binary := os.Getenv("BENCH_PLUGIN_BINARY")
	if binary == "" {
		binary = os.Args[0] + ".real"
	}
	cmd := exec.Command(binary, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "pluginrusage:", err)
		os.Exit(1)
	}
	// terraform stops the plugin through its gRPC controller; a signal goes on to it.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for s := range signals {
			_ = cmd.Process.Signal(s)
		}
	}()
	_ = cmd.Wait()
	usage := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	line, _ := json.Marshal(map[string]int64{
		"pid":        int64(cmd.Process.Pid),
		"user_ns":    usage.Utime.Nano(),
		"system_ns":  usage.Stime.Nano(),
		"maxrss_kib": usage.Maxrss, // Linux reports kilobytes
		"wall_ns":    time.Since(start).Nanoseconds(),
	})
	if path := os.Getenv("BENCH_PLUGIN_RUSAGE"); path != "" {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_, _ = f.Write(append(line, '\n'))
			_ = f.Close()
		}
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
