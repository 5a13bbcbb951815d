// Package secrets seals values sentrybot stores (users' Sentry tokens) with
// AES-256-GCM, and keeps the key in a file beside the database when none is
// configured.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// version is the first byte of every sealed value, so that a later format
// (another cipher, a rotated key) can be told apart from this one.
const version byte = 1

const nonceSize = 12

// ErrOpen is returned (wrapped) when a sealed value cannot be opened: it was
// sealed under another key or another aad, or it was altered.
var ErrOpen = errors.New("secrets: cannot open sealed value")

// Box seals and opens values with one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// NewBox returns a Box for key.
func NewBox(key [KeySize]byte) (*Box, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("secrets: new box: %w", err)
	}
	aead, err := cipher.NewGCMWithNonceSize(block, nonceSize)
	if err != nil {
		return nil, fmt.Errorf("secrets: new box: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext. The result is a version byte, a random 12-byte
// nonce and the ciphertext with its tag. aad is authenticated but not
// stored: name the row and column the value belongs to, so that a sealed
// value copied into another row does not open there.
func (b *Box) Seal(plaintext []byte, aad string) ([]byte, error) {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+b.aead.Overhead())
	out[0] = version
	if _, err := io.ReadFull(rand.Reader, out[1:]); err != nil {
		return nil, fmt.Errorf("secrets: seal: reading a nonce: %w", err)
	}
	return b.aead.Seal(out, out[1:], plaintext, additional(aad)), nil
}

// Open decrypts a value made by Seal with the same key and aad. Any
// mismatch or alteration gives an error wrapping ErrOpen.
func (b *Box) Open(sealed []byte, aad string) ([]byte, error) {
	if len(sealed) < 1+nonceSize+b.aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrOpen, len(sealed))
	}
	if sealed[0] != version {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrOpen, sealed[0])
	}
	nonce, ct := sealed[1:1+nonceSize], sealed[1+nonceSize:]
	pt, err := b.aead.Open(nil, nonce, ct, additional(aad))
	if err != nil {
		return nil, fmt.Errorf("%w: wrong key, wrong aad, or altered", ErrOpen)
	}
	return pt, nil
}

// additional is the authenticated data: the version byte too, so that a
// value cannot be passed off as another format.
func additional(aad string) []byte {
	return append([]byte{version}, aad...)
}

// KeyFilePath is where the generated key of the database at dbPath lives.
func KeyFilePath(dbPath string) string { return dbPath + ".key" }

// LoadKeyFile reads the key at path: base64 of 32 bytes, whitespace around
// it ignored. When the file does not exist it is created, mode 0600, with a
// new random key, and created is true. A file that group or others may read
// is refused, as is one that does not hold a key; the errors name the path,
// and never the content.
func LoadKeyFile(path string) (key [KeySize]byte, created bool, err error) {
	key, err = readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key, err = createKeyFile(path)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between the two steps.
		key, err = readKeyFile(path)
		return key, false, err
	}
	return key, err == nil, err
}

func readKeyFile(path string) ([KeySize]byte, error) {
	var key [KeySize]byte
	f, err := os.Open(path)
	if err != nil {
		return key, fmt.Errorf("secrets: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return key, fmt.Errorf("secrets: key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return key, fmt.Errorf("secrets: key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return key, fmt.Errorf("secrets: key file %s has mode %04o; it must not be readable or writable by group or others (chmod 600 %s)", path, perm, path)
	}
	// A key is 44 characters; anything much longer is not one.
	data, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return key, fmt.Errorf("secrets: key file %s: %w", path, err)
	}
	key, problem := decodeKey(strings.TrimSpace(string(data)))
	if problem != "" {
		return key, fmt.Errorf("secrets: key file %s: expected base64 of %d bytes (as `openssl rand -base64 32` prints), found %s", path, KeySize, problem)
	}
	return key, nil
}

// decodeKey accepts standard and URL-safe base64, padded or not, like
// SENTRYBOT_SECRET_KEY. problem is "" on success and otherwise says what
// is wrong without repeating the content.
func decodeKey(s string) (key [KeySize]byte, problem string) {
	if s == "" {
		return key, "an empty file"
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != KeySize {
			return key, fmt.Sprintf("base64 of %d bytes", len(b))
		}
		copy(key[:], b)
		return key, ""
	}
	return key, "text that is not base64"
}

func createKeyFile(path string) ([KeySize]byte, error) {
	var key [KeySize]byte
	if _, err := io.ReadFull(rand.Reader, key[:]); err != nil {
		return key, fmt.Errorf("secrets: key file %s: generating a key: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return key, fmt.Errorf("secrets: key file %s: create: %w", path, err)
	}
	fail := func(step string, err error) ([KeySize]byte, error) {
		f.Close()
		// An incomplete key file would be refused at the next start;
		// remove it so the next start makes a new one.
		os.Remove(path)
		return [KeySize]byte{}, fmt.Errorf("secrets: key file %s: %s: %w", path, step, err)
	}
	// The umask cannot widen 0600 but may narrow it below what we need.
	if err := f.Chmod(0o600); err != nil {
		return fail("restrict to 0600", err)
	}
	if _, err := io.WriteString(f, base64.StdEncoding.EncodeToString(key[:])+"\n"); err != nil {
		return fail("write", err)
	}
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return [KeySize]byte{}, fmt.Errorf("secrets: key file %s: close: %w", path, err)
	}
	return key, nil
}
