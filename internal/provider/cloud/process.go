package cloud

import (
	"errors"
	"io"
	"sync"
)

// Proc is a provider.Process fed by a vendor's output stream: the provider writes what
// the API delivers to StdoutWriter/StderrWriter and calls Exit once.
type Proc struct {
	stdout, stderr *stream
	stdin          io.WriteCloser
	signal         func(kill bool) error

	once sync.Once
	done chan struct{}
	code int
	err  error
}

// NewProc returns a Proc with the given stdin and signal function (nil: signals are
// unsupported).
func NewProc(stdin io.WriteCloser, signal func(kill bool) error) *Proc {
	return &Proc{stdin: stdin, signal: signal, done: make(chan struct{}), stdout: newStream(), stderr: newStream()}
}

// StdoutWriter and StderrWriter are where the provider writes the process's output.
// Writes never block: output is buffered until read, so a caller that reads only stdout
// cannot stall the vendor's stream by leaving stderr unread.
func (p *Proc) StdoutWriter() io.Writer { return p.stdout }
func (p *Proc) StderrWriter() io.Writer { return p.stderr }

// Exit records the exit code (err when it could not be obtained) and ends the output
// streams: readers see EOF after the buffered output, or err when the stream broke.
func (p *Proc) Exit(code int, err error) {
	p.once.Do(func() {
		p.code, p.err = code, err
		p.stdout.close(err)
		p.stderr.close(err)
		close(p.done)
	})
}

// Done is closed once Exit was called.
func (p *Proc) Done() <-chan struct{} { return p.done }

func (p *Proc) Stdin() io.WriteCloser { return p.stdin }
func (p *Proc) Stdout() io.Reader     { return p.stdout }
func (p *Proc) Stderr() io.Reader     { return p.stderr }

func (p *Proc) Signal(kill bool) error {
	if p.signal == nil {
		return errors.ErrUnsupported
	}
	select {
	case <-p.done:
		return nil
	default:
	}
	return p.signal(kill)
}

// Wait waits for Exit.
func (p *Proc) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}

// stream is an unbounded pipe: Write appends, Read blocks until data or close.
type stream struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	closed bool
	err    error
}

func newStream() *stream {
	s := &stream{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *stream) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, io.ErrClosedPipe
	}
	s.buf = append(s.buf, b...)
	s.cond.Broadcast()
	return len(b), nil
}

func (s *stream) Read(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.buf) == 0 && !s.closed {
		s.cond.Wait()
	}
	if len(s.buf) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		return 0, io.EOF
	}
	n := copy(b, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func (s *stream) close(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed, s.err = true, err
	s.cond.Broadcast()
}

// StdinFunc adapts a vendor's send-input and close-input calls to an io.WriteCloser.
type StdinFunc struct {
	mu     sync.Mutex
	closed bool
	Send   func(b []byte) error
	CloseF func() error
}

func (s *StdinFunc) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, io.ErrClosedPipe
	}
	if len(b) == 0 {
		return 0, nil
	}
	if err := s.Send(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (s *StdinFunc) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.CloseF == nil {
		return nil
	}
	return s.CloseF()
}

// BufferedStdin collects stdin until Close, then hands it to OnClose: for vendor APIs
// that take a command's input up front (provider.Capabilities.BufferedStdin).
type BufferedStdin struct {
	mu      sync.Mutex
	buf     []byte
	closed  bool
	OnClose func(data []byte)
}

func (s *BufferedStdin) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, io.ErrClosedPipe
	}
	s.buf = append(s.buf, b...)
	return len(b), nil
}

func (s *BufferedStdin) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	data := s.buf
	s.buf = nil
	s.mu.Unlock()
	s.OnClose(data)
	return nil
}
