//go:build !linux

package local

import "syscall"

// sysProcAttr: the provider only runs on Linux; New refuses other systems.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}
