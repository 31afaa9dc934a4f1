//go:build !linux

package loadtest

import "syscall"

// childAttr returns nil: outside Linux, children are stopped only by Cluster.Close.
func childAttr() *syscall.SysProcAttr { return nil }
