package appserver

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// Sealed credentials start with a format byte.
const (
	sealedPlain = 'p' // JSON as is
	sealedGCM   = 'g' // AES-256-GCM: nonce (12 bytes) then ciphertext
)

// Keyring seals app credentials for storage. With a key (push.credentials_key)
// they are encrypted with AES-256-GCM; without one they are stored as JSON.
// The zero Keyring has no key.
type Keyring struct {
	aead cipher.AEAD
}

// LoadKeyring reads the key file at path ("" for none). The key is the
// SHA-256 of the file's content (surrounding whitespace removed), so any
// random string of at least 32 bytes will do, e.g. `openssl rand -base64 48`.
func LoadKeyring(path string) (*Keyring, error) {
	if path == "" {
		return &Keyring{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("appserver: credentials key: %w", err)
	}
	return NewKeyring(bytes.TrimSpace(b))
}

// NewKeyring returns a keyring for key material (at least 32 bytes).
func NewKeyring(material []byte) (*Keyring, error) {
	if len(material) < 32 {
		return nil, fmt.Errorf("appserver: credentials key too short (%d bytes, want at least 32)", len(material))
	}
	k := sha256.Sum256(material)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("appserver: credentials key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("appserver: credentials key: %w", err)
	}
	return &Keyring{aead: aead}, nil
}

// Seal serializes c, encrypted when the keyring has a key. name is bound
// to the ciphertext, so sealed credentials cannot be moved to another app.
func (k *Keyring) Seal(name string, c Credentials) ([]byte, error) {
	js, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("appserver: seal: %w", err)
	}
	if k == nil || k.aead == nil {
		return append([]byte{sealedPlain}, js...), nil
	}
	out := make([]byte, 1+k.aead.NonceSize(), 1+k.aead.NonceSize()+len(js)+k.aead.Overhead())
	out[0] = sealedGCM
	_, _ = rand.Read(out[1:])
	return k.aead.Seal(out, out[1:], js, []byte(name)), nil
}

// ErrNoKey is returned by Open for encrypted credentials and a keyring
// without a key.
var ErrNoKey = errors.New("appserver: credentials are encrypted: set push.credentials_key")

// Open reverses Seal.
func (k *Keyring) Open(name string, sealed []byte) (Credentials, error) {
	var c Credentials
	if len(sealed) == 0 {
		return c, errors.New("appserver: no credentials")
	}
	js := sealed[1:]
	switch sealed[0] {
	case sealedPlain:
	case sealedGCM:
		if k == nil || k.aead == nil {
			return c, ErrNoKey
		}
		ns := k.aead.NonceSize()
		if len(js) < ns {
			return c, errors.New("appserver: sealed credentials too short")
		}
		var err error
		if js, err = k.aead.Open(nil, js[:ns], js[ns:], []byte(name)); err != nil {
			return c, fmt.Errorf("appserver: credentials of %s: wrong credentials key or damaged data", name)
		}
	default:
		return c, errors.New("appserver: unknown credentials format")
	}
	if err := json.Unmarshal(js, &c); err != nil {
		return c, fmt.Errorf("appserver: credentials of %s: %w", name, err)
	}
	return c, nil
}
