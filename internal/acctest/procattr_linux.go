package acctest

import "syscall"

// childProcAttr makes child processes die with the test binary (SIGKILL on parent death), so a
// crashed or killed test run does not leave a kube-controller-manager behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
