package local

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"
)

// output is the parent's end of an Exec's stdout or stderr pipe.
//
// Once bwrap has exited, no process of the sandbox can write to the pipe any more: bwrap
// exits after the sandbox's pid namespace is torn down, or is SIGKILLed, which takes the
// namespace down with it (--die-with-parent). A process that escaped that teardown may
// still hold the write end open, though (bwrap's namespace init, orphaned when bwrap is
// killed before it armed --die-with-parent, i.e. during startup, goes on to run the
// payload), and a plain read would then block forever. So once bwrap has exited, reads
// only drain what the pipe holds and then report EOF: exit wakes a blocked Read with a
// past deadline, and later reads do not block.
type output struct {
	f      *os.File
	exited <-chan struct{} // closed when bwrap has exited
}

func (o *output) Read(b []byte) (int, error) {
	select {
	case <-o.exited:
		return o.drain(b)
	default:
	}
	n, err := o.f.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return o.drain(b)
	}
	return n, err
}

// drain reads what the pipe holds without waiting: EOF when it is empty, whether or not
// a writer is left. It reads the descriptor directly because the poller refuses reads
// after the deadline that woke the reader.
func (o *output) drain(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	rc, err := o.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			// The descriptor is non-blocking (the runtime poller set it so).
			n, rerr = syscall.Read(int(fd), b)
			if rerr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return 0, err
	}
	switch {
	case n > 0:
		return n, nil
	case rerr == nil, errors.Is(rerr, syscall.EAGAIN):
		return 0, io.EOF
	}
	return 0, &os.PathError{Op: "read", Path: o.f.Name(), Err: rerr}
}

// exit wakes the readers blocked on the pipe; exited must be closed first.
func (o *output) exit() {
	o.f.SetReadDeadline(time.Unix(1, 0))
}

func (o *output) Close() error { return o.f.Close() }
