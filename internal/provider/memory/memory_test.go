package memory_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/memory"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
)

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return &memory.Provider{} })
}

func TestFactory(t *testing.T) {
	if _, err := memory.New(nil, provider.Deps{}); err != nil {
		t.Errorf("New(nil) = %v", err)
	}
	if _, err := memory.New([]byte(`{}`), provider.Deps{}); err != nil {
		t.Errorf("New({}) = %v", err)
	}
	if _, err := memory.New([]byte(`{"nope":1}`), provider.Deps{}); err == nil {
		t.Error("New accepted an unknown field")
	}
}

func TestKnobs(t *testing.T) {
	boom := errors.New("boom")
	p := &memory.Provider{CreateErr: boom, RecoverErr: boom}
	if _, err := p.Create(context.Background(), provider.Spec{}); !errors.Is(err, boom) {
		t.Errorf("Create = %v, want boom", err)
	}
	if _, err := p.Recover(context.Background(), provider.Handle("x")); !errors.Is(err, boom) {
		t.Errorf("Recover = %v, want boom", err)
	}

	p = &memory.Provider{Exec: func(ctx context.Context, sb *memory.Sandbox, spec provider.ExecSpec, stdin io.Reader, stdout, stderr io.Writer) int {
		io.WriteString(stdout, "custom:"+spec.Args[0])
		return 3
	}}
	sb, err := p.Create(context.Background(), provider.Spec{SessionID: "sesn_x"})
	if err != nil {
		t.Fatal(err)
	}
	proc, err := sb.Exec(context.Background(), provider.ExecSpec{Args: []string{"anything"}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(proc.Stdout())
	code, _ := proc.Wait()
	if string(out) != "custom:anything" || code != 3 {
		t.Errorf("custom exec = %q %d", out, code)
	}
	if p.Sandboxes() != 1 {
		t.Errorf("Sandboxes() = %d", p.Sandboxes())
	}
	sb.Destroy(context.Background())
	if p.Sandboxes() != 0 {
		t.Errorf("Sandboxes() after destroy = %d", p.Sandboxes())
	}
}
