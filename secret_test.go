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

// TestCredentialSecrets pins the sealed JSON shape (credentials already stored depend on
// it) and checks that the struct never prints its values.
func TestCredentialSecrets(t *testing.T) {
	const plain = "value-very-secret"
	sec := CredentialSecrets{Token: plain + "1", AccessToken: plain + "2", RefreshToken: plain + "3", ClientSecret: plain + "4", SecretValue: plain + "5"}
	js, err := json.Marshal(sec)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"token":"value-very-secret1","access_token":"value-very-secret2","refresh_token":"value-very-secret3","client_secret":"value-very-secret4","secret_value":"value-very-secret5"}`
	if string(js) != want {
		t.Errorf("json = %s, want %s", js, want)
	}
	if js, _ := json.Marshal(CredentialSecrets{SecretValue: "v"}); string(js) != `{"secret_value":"v"}` {
		t.Errorf("empty fields are not omitted: %s", js)
	}
	var back CredentialSecrets
	if err := json.Unmarshal([]byte(want), &back); err != nil || back != sec {
		t.Errorf("round trip = %+v, %v", back.SecretValue, err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secrets", sec)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", sec), "%+v": fmt.Sprintf("%+v", sec), "%#v": fmt.Sprintf("%#v", sec),
		"%s": fmt.Sprintf("%s", sec), "slog": logged.String(),
	} {
		if strings.Contains(out, plain) || !strings.Contains(out, "REDACTED") {
			t.Errorf("%s printed %q", name, out)
		}
	}
}
