// Package vault encrypts credential secrets at rest: AES-256-GCM with a random nonce
// (Cipher), and a Keyring that encrypts with its primary key and still decrypts with older
// ones, so the key can be rotated without re-encrypting every row at once. Each ciphertext
// is stored next to the ID of the key that sealed it (coder's dbcrypt scheme).
//
// Plaintext secrets never leave this package's callers in logs or API responses; use
// hangar.Secret to carry them.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// KeySize is the length of a vault key in bytes (AES-256).
const KeySize = 32

var (
	// ErrUnknownKey is returned by Keyring.Open for a key ID the keyring does not hold.
	ErrUnknownKey = errors.New("vault: unknown key id")
	// ErrDecrypt is returned when a ciphertext is malformed, tampered with or sealed under
	// a different key.
	ErrDecrypt = errors.New("vault: decryption failed")
)

// Cipher is AES-256-GCM under one key. Encrypt output is nonce || ciphertext || tag.
type Cipher struct {
	aead cipher.AEAD
	id   string
}

// NewCipher returns a Cipher for a KeySize-byte key.
func NewCipher(key []byte) (*Cipher, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("vault: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return &Cipher{aead: aead, id: KeyID(key)}, nil
}

// KeyID returns the ID of the cipher's key (see the package function KeyID).
func (c *Cipher) KeyID() string { return c.id }

// Encrypt seals plaintext under a fresh random nonce, which it prepends. The key ID is
// bound as additional data, so a ciphertext cannot be relabelled to another key.
func (c *Cipher) Encrypt(plaintext []byte) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plaintext)+c.aead.Overhead())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("vault: read nonce: %w", err)
	}
	return c.aead.Seal(nonce, nonce, plaintext, []byte(c.id)), nil
}

// Decrypt opens a ciphertext made by Encrypt. It returns ErrDecrypt when the data is too
// short, was modified, or was sealed under another key.
func (c *Cipher) Decrypt(ciphertext []byte) ([]byte, error) {
	n := c.aead.NonceSize()
	if len(ciphertext) < n+c.aead.Overhead() {
		return nil, ErrDecrypt
	}
	plaintext, err := c.aead.Open(nil, ciphertext[:n], ciphertext[n:], []byte(c.id))
	if err != nil {
		return nil, ErrDecrypt
	}
	return plaintext, nil
}

// KeyID names a key without revealing it: "k" followed by the first 16 hex characters of
// SHA-256 over a domain-separation label and the key.
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("hangar vault key id\x00"))
	h.Write(key)
	return "k" + hex.EncodeToString(h.Sum(nil))[:16]
}

// Keyring seals with its primary key and opens with any key it holds. To rotate, make the
// new key primary and pass the old one in older: existing ciphertexts keep opening, and
// everything sealed from then on uses the new key.
type Keyring struct {
	primary *Cipher
	byID    map[string]*Cipher
}

// NewKeyring returns a keyring whose primary key is primary; older keys only decrypt.
func NewKeyring(primary []byte, older ...[]byte) (*Keyring, error) {
	p, err := NewCipher(primary)
	if err != nil {
		return nil, err
	}
	k := &Keyring{primary: p, byID: map[string]*Cipher{p.id: p}}
	for i, key := range older {
		c, err := NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("older key %d: %w", i, err)
		}
		if _, dup := k.byID[c.id]; !dup {
			k.byID[c.id] = c
		}
	}
	return k, nil
}

// PrimaryKeyID is the ID Seal currently returns.
func (k *Keyring) PrimaryKeyID() string { return k.primary.id }

// Seal encrypts plaintext with the primary key and returns the ciphertext and key ID to
// store beside it.
func (k *Keyring) Seal(plaintext []byte) (sealed []byte, keyID string, err error) {
	sealed, err = k.primary.Encrypt(plaintext)
	if err != nil {
		return nil, "", err
	}
	return sealed, k.primary.id, nil
}

// Open decrypts a ciphertext sealed under keyID. It returns ErrUnknownKey when the keyring
// lacks that key and ErrDecrypt when the ciphertext does not authenticate.
func (k *Keyring) Open(sealed []byte, keyID string) ([]byte, error) {
	c, ok := k.byID[keyID]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, keyID)
	}
	return c.Decrypt(sealed)
}

// GenerateKey returns KeySize random bytes.
func GenerateKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, fmt.Errorf("vault: generate key: %w", err)
	}
	return key, nil
}

// EncodeKey returns the text form of a key: standard base64.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// ParseKey decodes a key in its text form (HANGAR_VAULT_KEY): base64, standard or URL
// alphabet, padded or not, of exactly KeySize bytes. Surrounding space is ignored.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("vault key is empty; want base64 of 32 random bytes (e.g. openssl rand -base64 32)")
	}
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("vault key is not valid base64; want base64 of 32 random bytes (e.g. openssl rand -base64 32)")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("vault key decodes to %d bytes; want %d (e.g. openssl rand -base64 32)", len(key), KeySize)
	}
	return key, nil
}
