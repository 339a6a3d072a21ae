package e2e

import "syscall"

// sysProcAttr makes a child die with the test binary (a test timeout skips cleanups).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
