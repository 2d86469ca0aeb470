package hangar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	const plain = "sk-live-very-secret"
	s := Secret(plain)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", s)
	js, err := json.Marshal(struct{ S Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%q": fmt.Sprintf("%q", s),
		"%x": fmt.Sprintf("%x", s), "%#v": fmt.Sprintf("%#v", s), "%+v struct": fmt.Sprintf("%+v", struct{ S Secret }{s}),
		"slog": logged.String(), "json": string(js),
	}
	for name, out := range outputs {
		if strings.Contains(out, plain) || !strings.Contains(out, "REDACTED") {
			t.Errorf("%s printed %q", name, out)
		}
	}
	if s.Reveal() != plain {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
}
