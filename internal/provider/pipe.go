package provider

import (
	"io"
	"sync"
)

// Pipe is an unbounded in-memory pipe for a process's output: writes never block, so a
// reader that drains only stdout cannot stall the goroutine demultiplexing a provider's
// stream on stderr (and the other way round). Read returns io.EOF once CloseWrite was
// called and the buffered data is read.
type Pipe struct {
	mu     sync.Mutex
	cond   *sync.Cond
	data   []byte
	closed bool
}

// NewPipe returns an empty pipe.
func NewPipe() *Pipe {
	p := &Pipe{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *Pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.data = append(p.data, b...)
	p.mu.Unlock()
	p.cond.Broadcast()
	return len(b), nil
}

func (p *Pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.data) == 0 && !p.closed {
		p.cond.Wait()
	}
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.data)
	p.data = p.data[n:]
	return n, nil
}

// CloseWrite ends the pipe: readers get io.EOF after the buffered data.
func (p *Pipe) CloseWrite() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
}
