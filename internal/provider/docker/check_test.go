package docker

import (
	"context"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/internal/provider"
)

func TestCheck(t *testing.T) {
	down, err := New("docker", []byte(`{"host":"unix:///nonexistent/docker.sock"}`), provider.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if err := down.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "docker daemon at unix:///nonexistent/docker.sock is unreachable") {
		t.Errorf("Check without a daemon = %v", err)
	}
	up := newProvider(t, Config{}) // skips without the test daemon
	if err := up.Check(context.Background()); err != nil {
		t.Errorf("Check against the running daemon = %v", err)
	}
}
