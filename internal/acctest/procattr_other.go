//go:build !linux

package acctest

import "syscall"

func childProcAttr() *syscall.SysProcAttr { return nil }
