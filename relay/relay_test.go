package relay

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestKeysPersistAndArePrivate(t *testing.T) {
	dir := t.TempDir()
	s1, err := New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	pub, secret := s1.PublicKeyString(), s1.turnSecret
	s1.Close()
	s2, err := New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.PublicKeyString() != pub || s2.turnSecret != secret {
		t.Fatal("keys changed across restarts")
	}
	for _, f := range []string{KeyFile, TURNSecretFile, DBFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	// The database holds no key material.
	db, _ := os.ReadFile(filepath.Join(dir, DBFile))
	key, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	if len(key) == 0 || bytes.Contains(db, []byte(secret)) || bytes.Contains(db, key) {
		t.Fatal("key material in the database file")
	}
	if _, err := New(Config{DataDir: dir, PublicURL: "ftp://x"}); err == nil {
		t.Fatal("bad public URL accepted")
	}
}
