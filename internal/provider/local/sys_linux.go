package local

import "syscall"

// sysProcAttr puts bwrap in its own session (no controlling terminal, one process group to
// signal) and kills it if the server dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
}
