package acctest

import (
	"os"
	"syscall"
)

// flinkProcAttr puts a Flink JVM in its own process group (so StopPod signals it and anything it
// started) and kills it when the test binary dies.
func flinkProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends SIGTERM (SIGKILL with kill) to the process group led by p.
func signalGroup(p *os.Process, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig)
	}
}
