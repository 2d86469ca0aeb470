package provider_test

import (
	"io"
	"testing"

	"github.com/hangar-dev/hangar/internal/provider"
)

// TestPipe: writes never block, a reader gets everything in order and then io.EOF.
func TestPipe(t *testing.T) {
	p := provider.NewPipe()
	for range 1000 {
		p.Write([]byte("0123456789"))
	}
	got := make(chan string)
	go func() {
		b, err := io.ReadAll(p)
		if err != nil {
			t.Error(err)
		}
		got <- string(b)
	}()
	p.Write([]byte("end"))
	p.CloseWrite()
	s := <-got
	if len(s) != 10003 || s[len(s)-3:] != "end" || s[:10] != "0123456789" {
		t.Errorf("read %d bytes ending %q", len(s), s[len(s)-3:])
	}
}
