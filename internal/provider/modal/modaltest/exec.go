package modaltest

import (
	"context"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/modal/modalpb"
)

// execution is one ContainerExec: a real process in the sandbox's box whose output is
// kept as numbered batches per file descriptor (1, 2, ...), the last one of each carrying
// the exit code, for ContainerExecGetOutput to serve from any index.
type execution struct {
	cmd *cloudtest.Cmd

	mu      sync.Mutex
	batches map[modalpb.FileDescriptor][][]byte
	exit    *int32        // once the process has exited and both fds ended
	changed chan struct{} // closed and replaced on every change
	input   uint64        // index of the last stdin message applied
	inputMu sync.Mutex    // serializes stdin writes
}

// ContainerExec starts command in the sandbox's task, in workdir.
func (s *Server) ContainerExec(ctx context.Context, req *modalpb.ContainerExecRequest) (*modalpb.ContainerExecResponse, error) {
	if len(req.Command) == 0 {
		return nil, status.Error(codes.InvalidArgument, "empty command")
	}
	s.mu.Lock()
	sb, ok := s.tasks[req.TaskId]
	s.mu.Unlock()
	if !ok {
		return nil, errNotFound("task", req.TaskId)
	}
	cmd, err := sb.box.StartIn(req.Command, req.GetWorkdir(), nil)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "exec: %v", err)
	}
	e := &execution{cmd: cmd, batches: map[modalpb.FileDescriptor][][]byte{},
		changed: make(chan struct{})}
	var wg sync.WaitGroup
	for fd, r := range map[modalpb.FileDescriptor]io.Reader{modalpb.FileDescriptor_FILE_DESCRIPTOR_STDOUT: cmd.Stdout,
		modalpb.FileDescriptor_FILE_DESCRIPTOR_STDERR: cmd.Stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.read(fd, r)
		}()
	}
	go func() {
		wg.Wait()
		code := int32(cmd.ExitCode())
		e.update(func() { e.exit = &code })
	}()
	s.mu.Lock()
	id := s.nextID("ex")
	s.execs[id] = e
	s.mu.Unlock()
	return &modalpb.ContainerExecResponse{ExecId: id}, nil
}

// read turns one fd's output into batches, one per read (at most 64 KiB).
func (e *execution) read(fd modalpb.FileDescriptor, r io.Reader) {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			b := append([]byte(nil), buf[:n]...)
			e.update(func() { e.batches[fd] = append(e.batches[fd], b) })
		}
		if err != nil {
			return
		}
	}
}

func (e *execution) update(f func()) {
	e.mu.Lock()
	f()
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

func (s *Server) execution(id string) (*execution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.execs[id]
	if !ok {
		return nil, errNotFound("exec", id)
	}
	return e, nil
}

// ContainerExecGetOutput streams the batches of one file descriptor after
// last_batch_index, then, once the process has exited, a last batch with the exit code.
// It returns (ending the stream) after the exit batch, or when the long poll's timeout
// passes without one: the client joins again from the last index it saw.
func (s *Server) ContainerExecGetOutput(req *modalpb.ContainerExecGetOutputRequest, stream modalpb.ModalClient_ContainerExecGetOutputServer) error {
	e, err := s.execution(req.ExecId)
	if err != nil {
		return err
	}
	fd := req.FileDescriptor
	if fd != modalpb.FileDescriptor_FILE_DESCRIPTOR_STDOUT && fd != modalpb.FileDescriptor_FILE_DESCRIPTOR_STDERR {
		return status.Error(codes.InvalidArgument, "the fake serves stdout or stderr, one per stream")
	}
	deadline := time.NewTimer(s.window(req.Timeout))
	defer deadline.Stop()
	next := req.LastBatchIndex // batches are numbered from 1
	for {
		e.mu.Lock()
		pending := e.batches[fd][min(int(next), len(e.batches[fd])):]
		exit := e.exit
		changed := e.changed
		e.mu.Unlock()
		for _, b := range pending {
			next++
			item := &modalpb.RuntimeOutputMessage{FileDescriptor: fd}
			if req.GetRawBytes {
				item.MessageBytes = b
			} else {
				// Old clients get text: the string field must be UTF-8.
				item.Message = strings.ToValidUTF8(string(b), "\uFFFD")
			}
			if err := stream.Send(&modalpb.RuntimeOutputBatch{Items: []*modalpb.RuntimeOutputMessage{item}, BatchIndex: next}); err != nil {
				return err
			}
		}
		if exit != nil && len(pending) == 0 {
			return stream.Send(&modalpb.RuntimeOutputBatch{BatchIndex: next + 1, ExitCode: exit})
		}
		if len(pending) > 0 {
			continue
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		}
	}
}

// ContainerExecPutInput applies stdin messages in index order: one already applied (a
// retry) is ignored, one out of order refused; eof closes the process's stdin.
func (s *Server) ContainerExecPutInput(ctx context.Context, req *modalpb.ContainerExecPutInputRequest) (*emptypb.Empty, error) {
	e, err := s.execution(req.ExecId)
	if err != nil {
		return nil, err
	}
	in := req.GetInput()
	if in == nil {
		return nil, status.Error(codes.InvalidArgument, "no input")
	}
	e.inputMu.Lock()
	defer e.inputMu.Unlock()
	switch {
	case in.MessageIndex <= e.input:
		return &emptypb.Empty{}, nil
	case in.MessageIndex != e.input+1:
		return nil, status.Errorf(codes.InvalidArgument, "input message %d after %d", in.MessageIndex, e.input)
	}
	e.input = in.MessageIndex
	if len(in.Message) > 0 {
		// A process that exited or closed its stdin drops the input, as a pipe would.
		e.cmd.Stdin.Write(in.Message)
	}
	if in.Eof {
		e.cmd.Stdin.Close()
	}
	return &emptypb.Empty{}, nil
}

// ContainerExecWait waits up to timeout for the exec to complete.
func (s *Server) ContainerExecWait(ctx context.Context, req *modalpb.ContainerExecWaitRequest) (*modalpb.ContainerExecWaitResponse, error) {
	e, err := s.execution(req.ExecId)
	if err != nil {
		return nil, err
	}
	deadline := time.NewTimer(s.window(req.Timeout))
	defer deadline.Stop()
	for {
		e.mu.Lock()
		exit, changed := e.exit, e.changed
		e.mu.Unlock()
		if exit != nil {
			return &modalpb.ContainerExecWaitResponse{ExitCode: exit, Completed: true}, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return &modalpb.ContainerExecWaitResponse{}, nil
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}
