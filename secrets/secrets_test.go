package secrets

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustBox(t *testing.T, fill byte) *Box {
	t.Helper()
	var key [KeySize]byte
	for i := range key {
		key[i] = fill + byte(i)
	}
	b, err := NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBox(t *testing.T) {
	box := mustBox(t, 1)
	plain := []byte("sentry-access-token-value")
	const aad = "oauth_tokens\x00T1\x00U1\x00access"

	sealed, err := box.Seal(plain, aad)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("OK", func(t *testing.T) {
		got, err := box.Open(sealed, aad)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, want %q", got, plain)
		}
	})
	t.Run("Format", func(t *testing.T) {
		if sealed[0] != 1 {
			t.Errorf("version byte = %d, want 1", sealed[0])
		}
		if want := 1 + 12 + len(plain) + 16; len(sealed) != want {
			t.Errorf("len = %d, want %d", len(sealed), want)
		}
		if bytes.Contains(sealed, plain) {
			t.Error("sealed value contains the plaintext")
		}
	})
	t.Run("FreshNonce", func(t *testing.T) {
		again, err := box.Seal(plain, aad)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(again[1:13], sealed[1:13]) {
			t.Error("two seals used the same nonce")
		}
	})
	t.Run("EmptyPlaintext", func(t *testing.T) {
		s, err := box.Seal(nil, aad)
		if err != nil {
			t.Fatal(err)
		}
		got, err := box.Open(s, aad)
		if err != nil || len(got) != 0 {
			t.Fatalf("Open = %q, %v; want empty, nil", got, err)
		}
	})

	fails := map[string]func() ([]byte, error){
		"WrongKey": func() ([]byte, error) { return mustBox(t, 2).Open(sealed, aad) },
		"WrongAAD": func() ([]byte, error) { return box.Open(sealed, "oauth_tokens\x00T1\x00U1\x00refresh") },
		"OtherRow": func() ([]byte, error) { return box.Open(sealed, "oauth_tokens\x00T1\x00U2\x00access") },
		"Short":    func() ([]byte, error) { return box.Open(sealed[:20], aad) },
		"Empty":    func() ([]byte, error) { return box.Open(nil, aad) },
		"Version": func() ([]byte, error) {
			c := bytes.Clone(sealed)
			c[0] = 2
			return box.Open(c, aad)
		},
	}
	for i := 1; i < len(sealed); i++ {
		fails[fmt.Sprintf("TamperedByte%02d", i)] = func() ([]byte, error) {
			c := bytes.Clone(sealed)
			c[i] ^= 0x01
			return box.Open(c, aad)
		}
	}
	for name, open := range fails {
		t.Run(name, func(t *testing.T) {
			got, err := open()
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %q, %v; want an error wrapping ErrOpen", got, err)
			}
			if got != nil {
				t.Errorf("Open returned %q with its error", got)
			}
		})
	}
}

func TestKeyFilePath(t *testing.T) {
	if got := KeyFilePath("/var/lib/sentrybot/sentrybot.db"); got != "/var/lib/sentrybot/sentrybot.db.key" {
		t.Errorf("KeyFilePath = %q", got)
	}
}

func TestLoadKeyFile(t *testing.T) {
	t.Run("Created", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sentrybot.db.key")
		key, created, err := LoadKeyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !created {
			t.Error("created = false for a new file")
		}
		if key == ([KeySize]byte{}) {
			t.Error("key is all zeros")
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("mode = %04o, want 0600", perm)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || !bytes.Equal(raw, key[:]) {
			t.Errorf("file holds %q, want base64 of the returned key", data)
		}

		again, created, err := LoadKeyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if created || again != key {
			t.Errorf("second load: created=%v, same key=%v; want false, true", created, again == key)
		}
	})

	t.Run("Existing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "k")
		var want [KeySize]byte
		for i := range want {
			want[i] = byte(200 - i)
		}
		// URL-safe and unpadded, surrounded by whitespace, is accepted.
		writeFile(t, path, "  "+base64.RawURLEncoding.EncodeToString(want[:])+"\n\n", 0o400)
		key, created, err := LoadKeyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if created || key != want {
			t.Errorf("created=%v, key matches=%v; want false, true", created, key == want)
		}
	})

	t.Run("RefusesGroupReadable", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "k")
		content := base64.StdEncoding.EncodeToString(make([]byte, KeySize))
		writeFile(t, path, content, 0o644)
		_, _, err := LoadKeyFile(path)
		if err == nil {
			t.Fatal("a 0644 key file was accepted")
		}
		for _, want := range []string{path, "0644", "chmod 600"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if strings.Contains(err.Error(), content) {
			t.Errorf("error %q contains the key", err)
		}
	})

	t.Run("RefusesOtherWritable", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "k")
		writeFile(t, path, base64.StdEncoding.EncodeToString(make([]byte, KeySize)), 0o602)
		if _, _, err := LoadKeyFile(path); err == nil || !strings.Contains(err.Error(), "0602") {
			t.Fatalf("err = %v, want a refusal naming mode 0602", err)
		}
	})

	malformed := map[string]struct{ content, problem string }{
		"Empty":     {"\n", "an empty file"},
		"NotBase64": {"this is not a key!", "not base64"},
		"Short":     {base64.StdEncoding.EncodeToString(make([]byte, 16)), "base64 of 16 bytes"},
		"Long":      {base64.StdEncoding.EncodeToString(make([]byte, 64)), "base64 of 64 bytes"},
	}
	for name, tc := range malformed {
		t.Run("Malformed"+name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			writeFile(t, path, tc.content, 0o600)
			_, created, err := LoadKeyFile(path)
			if err == nil {
				t.Fatal("malformed key file was accepted")
			}
			if created {
				t.Error("created = true for an existing file")
			}
			for _, want := range []string{path, "expected base64 of 32 bytes", tc.problem} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if data, _ := os.ReadFile(path); string(data) != tc.content {
				t.Error("the malformed file was changed")
			}
		})
	}

	t.Run("NoDirectory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing", "k")
		if _, _, err := LoadKeyFile(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v, want an error naming %s", err, path)
		}
	})
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is narrowed by the umask; set it exactly.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
