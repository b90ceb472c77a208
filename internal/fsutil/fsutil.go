// Package fsutil writes secrets and configuration files so that no reader
// ever sees a half-written file and only the owner can read them.
package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// writeTemp writes data to a new 0600 file in dir, synced to disk, and
// returns its name; the caller renames or links it into place.
func writeTemp(dir string, data []byte) (string, error) {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	name := tmp.Name()
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// WriteAtomic replaces path with data (mode 0600) in one rename.
func WriteAtomic(path string, data []byte) error {
	name, err := writeTemp(filepath.Dir(path), data)
	if err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// WriteOnce creates path with data (mode 0600) unless it already exists:
// the file is hard-linked into place, so of two concurrent writers the
// first wins and neither sees a partial file. An existing path is not an
// error; the caller reads what is there.
func WriteOnce(path string, data []byte) error {
	name, err := writeTemp(filepath.Dir(path), data)
	if err != nil {
		return err
	}
	defer os.Remove(name)
	if err := os.Link(name, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
