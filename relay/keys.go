package relay

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/tandem-rc/tandem/internal/fsutil"
)

// loadOrCreateKey reads the relay's Ed25519 signing key, generating it on
// first use. The key never enters the database.
func loadOrCreateKey(path string, log *slog.Logger) (ed25519.PrivateKey, error) {
	b, err := readPrivateFile(path, log)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		der, gerr := x509.MarshalPKCS8PrivateKey(priv)
		if gerr != nil {
			return nil, gerr
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if gerr := fsutil.WriteOnce(path, data); gerr != nil {
			return nil, fmt.Errorf("relay: create %s: %w", path, gerr)
		}
		log.Info("generated relay signing key", "file", path)
		b, err = readPrivateFile(path, log) // another process may have won the race
	}
	if err != nil {
		return nil, fmt.Errorf("relay: signing key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("relay: %s is not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("relay: %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("relay: %s is not an Ed25519 key", path)
	}
	return priv, nil
}

// loadOrCreateSecret reads the TURN REST shared secret (a line of text, as
// coturn's static-auth-secret), generating 32 random bytes in hex on first
// use.
func loadOrCreateSecret(path string, log *slog.Logger) (string, error) {
	b, err := readPrivateFile(path, log)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 32)
		rand.Read(raw)
		if werr := fsutil.WriteOnce(path, []byte(hex.EncodeToString(raw)+"\n")); werr != nil {
			return "", fmt.Errorf("relay: create %s: %w", path, werr)
		}
		log.Info("generated TURN secret", "file", path)
		b, err = readPrivateFile(path, log)
	}
	if err != nil {
		return "", fmt.Errorf("relay: TURN secret: %w", err)
	}
	sec := strings.TrimSpace(string(b))
	if len(sec) < 16 {
		return "", fmt.Errorf("relay: %s: secret shorter than 16 characters", path)
	}
	return sec, nil
}

func readPrivateFile(path string, log *slog.Logger) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("secret file is readable by others; chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
	return os.ReadFile(path)
}
