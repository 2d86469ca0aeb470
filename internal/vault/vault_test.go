package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKeyring(t *testing.T, primary []byte, older ...[]byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(primary, older...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVaultCipherRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := NewCipher(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		plaintext []byte
	}{
		{"empty", nil},
		{"text", []byte(`{"token":"sk-secret"}`)},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe}},
		{"large", bytes.Repeat([]byte("x"), 1<<16)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ct, err := c.Encrypt(tc.plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.plaintext) > 0 && bytes.Contains(ct, tc.plaintext) {
				t.Fatal("ciphertext contains the plaintext")
			}
			got, err := c.Decrypt(ct)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("Decrypt = %q, want %q", got, tc.plaintext)
			}
		})
	}
}

func TestVaultCipherNonceIsRandom(t *testing.T) {
	t.Parallel()
	c, err := NewCipher(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Encrypt([]byte("same"))
	b, _ := c.Encrypt([]byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions of the same plaintext are identical")
	}
}

func TestVaultCipherTamper(t *testing.T) {
	t.Parallel()
	c, err := NewCipher(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := c.Encrypt([]byte("attack at dawn"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := c.Decrypt(bad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("flipping byte %d: err = %v, want ErrDecrypt", i, err)
		}
	}
	for _, n := range []int{0, 1, 12, len(ct) - 1} {
		if _, err := c.Decrypt(ct[:n]); !errors.Is(err, ErrDecrypt) {
			t.Errorf("truncated to %d: err = %v, want ErrDecrypt", n, err)
		}
	}
}

func TestVaultCipherWrongKey(t *testing.T) {
	t.Parallel()
	a, _ := NewCipher(mustKey(t))
	b, _ := NewCipher(mustKey(t))
	ct, err := a.Encrypt([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("err = %v, want ErrDecrypt", err)
	}
}

func TestVaultNewCipherKeySize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 24, 31, 33} {
		if _, err := NewCipher(make([]byte, n)); err == nil {
			t.Errorf("NewCipher(%d bytes) succeeded", n)
		}
	}
}

func TestVaultKeyringRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := mustKey(t), mustKey(t)
	before := mustKeyring(t, oldKey)
	sealed, oldID, err := before.Seal([]byte("old secret"))
	if err != nil {
		t.Fatal(err)
	}
	if oldID != KeyID(oldKey) {
		t.Fatalf("key id = %q, want %q", oldID, KeyID(oldKey))
	}

	after := mustKeyring(t, newKey, oldKey)
	got, err := after.Open(sealed, oldID)
	if err != nil {
		t.Fatalf("old ciphertext after rotation: %v", err)
	}
	if string(got) != "old secret" {
		t.Fatalf("Open = %q", got)
	}
	sealed2, newID, err := after.Seal([]byte("new secret"))
	if err != nil {
		t.Fatal(err)
	}
	if newID != KeyID(newKey) || newID == oldID || after.PrimaryKeyID() != newID {
		t.Fatalf("after rotation Seal used key %q, want the new primary %q", newID, KeyID(newKey))
	}
	// The old keyring cannot open what the new primary sealed.
	if _, err := before.Open(sealed2, newID); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	// A ciphertext relabelled with another key's ID does not open.
	if _, err := after.Open(sealed, newID); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("relabelled: err = %v, want ErrDecrypt", err)
	}
}

func TestVaultKeyringBadOlderKey(t *testing.T) {
	t.Parallel()
	if _, err := NewKeyring(mustKey(t), []byte("short")); err == nil {
		t.Fatal("NewKeyring accepted a short older key")
	}
	if _, err := NewKeyring(nil); err == nil {
		t.Fatal("NewKeyring accepted an empty primary key")
	}
}

func TestVaultKeyID(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	id := KeyID(k)
	if id != KeyID(bytes.Clone(k)) {
		t.Fatal("KeyID is not deterministic")
	}
	if id == KeyID(mustKey(t)) {
		t.Fatal("two keys share an ID")
	}
	if len(id) != 17 || strings.Contains(id, EncodeKey(k)) {
		t.Fatalf("KeyID = %q", id)
	}
}

func TestVaultParseKey(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	for _, tc := range []struct {
		name    string
		in      string
		wantErr string
	}{
		{"std", EncodeKey(k), ""},
		{"std with newline", EncodeKey(k) + "\n", ""},
		{"raw url", strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(EncodeKey(k)), "="), ""},
		{"empty", "  ", "empty"},
		{"not base64", "not base64!!", "not valid base64"},
		{"16 bytes", EncodeKey(make([]byte, 16)), "16 bytes; want 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseKey(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, k) {
				t.Fatal("ParseKey returned a different key")
			}
		})
	}
}

func TestVaultLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vault-key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != KeySize {
		t.Fatalf("key is %d bytes", len(k1))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Fatalf("mode = %v, want 0600", got)
		}
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("second load returned a different key")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d entries, want only the key file", len(entries))
	}
}

func TestVaultLoadOrCreateKeyConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vault-key")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i := range keys {
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatal("concurrent callers got different keys")
		}
	}
}

func TestVaultLoadOrCreateKeyCorrupt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vault-key")
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming the file", err)
	}
}
