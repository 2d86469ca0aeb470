package provider_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hangar-dev/hangar/internal/provider"
)

func TestRegistry(t *testing.T) {
	r := provider.NewRegistry()
	f := func(json.RawMessage, provider.Deps) (provider.Provider, error) { return nil, nil }
	r.Register("zeta", f)
	r.Register("alpha", f)
	if got := r.Names(); !slices.Equal(got, []string{"alpha", "zeta"}) {
		t.Errorf("Names() = %v", got)
	}
	if _, ok := r.Get("alpha"); !ok {
		t.Error("Get(alpha) missing")
	}
	if _, ok := r.Get("beta"); ok {
		t.Error("Get(beta) found")
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate Register did not panic")
		}
	}()
	r.Register("alpha", f)
}
