//go:build !linux && !darwin && !windows

package installer

import "errors"

func systemConfigDir() (string, error) { return "", errors.ErrUnsupported }
