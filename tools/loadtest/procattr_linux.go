package loadtest

import "syscall"

// childAttr makes a child process die with SIGKILL if this process dies first.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
