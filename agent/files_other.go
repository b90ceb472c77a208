//go:build !linux

package agent

import "errors"

// freeSpace is not measured here: a full disk fails the write instead.
func freeSpace(string) (int64, error) { return 0, errors.ErrUnsupported }
