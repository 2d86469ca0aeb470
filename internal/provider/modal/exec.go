package modal

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
	"github.com/hangar-dev/hangar/internal/provider/modal/modalpb"
)

// execution is one ContainerExec: its output is pulled by two ContainerExecGetOutput
// streams (stdout and stderr, raw bytes), its stdin pushed by ContainerExecPutInput.
type execution struct {
	s    *Sandbox
	id   string
	base context.Context // the caller's context without its cancellation
	ctx  context.Context // the streams' context: ends when the process has exited
	stop context.CancelFunc
	proc *cloud.Proc

	mu    sync.Mutex
	index uint64 // of the last stdin message sent
}

// maxInput is the largest stdin chunk one ContainerExecPutInput carries.
const maxInput = 1 << 20

// start execs argv in dir ("" = the image's) of the sandbox's container.
func (s *Sandbox) start(ctx context.Context, argv []string, dir string) (*execution, error) {
	s.mu.Lock()
	task := s.taskID
	s.mu.Unlock()
	req := &modalpb.ContainerExecRequest{TaskId: task, Command: argv,
		StdoutOutput: modalpb.ExecOutputOption_EXEC_OUTPUT_OPTION_PIPE, StderrOutput: modalpb.ExecOutputOption_EXEC_OUTPUT_OPTION_PIPE}
	if dir != "" {
		req.Workdir = &dir
	}
	resp, err := s.p.api.ContainerExec(ctx, req)
	if err != nil {
		err = grpcError("exec "+argv[0], err)
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, &hangar.Error{Kind: hangar.KindNotFound, Message: "modal sandbox " + s.h.ID + " not found", Err: err}
		}
		return nil, err
	}
	base := context.WithoutCancel(ctx)
	sctx, stop := context.WithCancel(base)
	return &execution{s: s, id: resp.ExecId, base: base, ctx: sctx, stop: stop}, nil
}

// stdin sends writes as numbered input messages and Close as the eof message.
func (e *execution) stdin() io.WriteCloser {
	return &cloud.StdinFunc{
		Send: func(b []byte) error {
			for len(b) > 0 {
				n := min(len(b), maxInput)
				if err := e.put(b[:n], false); err != nil {
					return err
				}
				b = b[n:]
			}
			return nil
		},
		CloseF: func() error { return e.put(nil, true) },
	}
}

func (e *execution) put(b []byte, eof bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.proc.Done():
		if eof {
			return nil // closing the stdin of an exited command is a no-op
		}
		return io.ErrClosedPipe
	default:
	}
	e.index++
	ctx, cancel := context.WithTimeout(e.base, stopTimeout)
	defer cancel()
	_, err := e.s.p.api.ContainerExecPutInput(ctx, &modalpb.ContainerExecPutInputRequest{ExecId: e.id,
		Input: &modalpb.RuntimeInputMessage{Message: b, MessageIndex: e.index, Eof: eof}})
	if err == nil {
		return nil
	}
	select {
	case <-e.proc.Done():
		// The command exited meanwhile (one that reads no stdin may end first): as with
		// a pipe, its input is dropped.
		if eof {
			return nil
		}
		return io.ErrClosedPipe
	default:
	}
	if eof && status.Code(err) == codes.NotFound {
		return nil
	}
	return grpcError("exec input", err)
}

// pump relays both output streams into the Proc and exits it once both ended, with the
// exit code of the final batch (or ContainerExecWait's when no batch carried one).
func (e *execution) pump() {
	type result struct {
		code *int32
		err  error
	}
	res := make(chan result, 2)
	for _, fd := range []modalpb.FileDescriptor{modalpb.FileDescriptor_FILE_DESCRIPTOR_STDOUT, modalpb.FileDescriptor_FILE_DESCRIPTOR_STDERR} {
		w := e.proc.StdoutWriter()
		if fd == modalpb.FileDescriptor_FILE_DESCRIPTOR_STDERR {
			w = e.proc.StderrWriter()
		}
		go func() {
			code, err := e.output(fd, w)
			res <- result{code, err}
		}()
	}
	go func() {
		defer e.stop()
		var code *int32
		var firstErr error
		for range 2 {
			r := <-res
			if r.err != nil && firstErr == nil {
				firstErr = r.err
			}
			if r.code != nil {
				code = r.code
			}
		}
		if firstErr != nil {
			e.proc.Exit(-1, firstErr)
			return
		}
		if code == nil {
			c, err := e.wait()
			if err != nil {
				e.proc.Exit(-1, err)
				return
			}
			c32 := int32(c)
			code = &c32
		}
		e.proc.Exit(int(*code), nil)
	}()
}

// output reads one file descriptor's batches until the one carrying the exit code,
// joining the stream again (from the last batch seen) when a long poll ends first.
func (e *execution) output(fd modalpb.FileDescriptor, w io.Writer) (*int32, error) {
	var last uint64
	for {
		stream, err := e.s.p.api.ContainerExecGetOutput(e.ctx, &modalpb.ContainerExecGetOutputRequest{ExecId: e.id,
			Timeout: pollTimeout, LastBatchIndex: last, FileDescriptor: fd, GetRawBytes: true})
		if err != nil {
			return nil, grpcError("exec output", err)
		}
		for {
			b, err := stream.Recv()
			if isEOF(err) {
				break
			}
			if err != nil {
				return nil, grpcError("exec output", err)
			}
			for _, it := range b.Items {
				if it.MessageBytes != nil {
					w.Write(it.MessageBytes)
				} else {
					w.Write([]byte(it.Message))
				}
			}
			last = b.BatchIndex
			if b.ExitCode != nil {
				return b.ExitCode, nil
			}
		}
	}
}

// wait long-polls ContainerExecWait until the command has completed.
func (e *execution) wait() (int, error) {
	for {
		resp, err := e.s.p.api.ContainerExecWait(e.ctx, &modalpb.ContainerExecWaitRequest{ExecId: e.id, Timeout: pollTimeout})
		if err != nil {
			return -1, grpcError("exec wait", err)
		}
		if resp.Completed {
			return int(resp.GetExitCode()), nil
		}
	}
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
