//go:build !linux && !windows

package agent

import (
	"context"
	"errors"
	"fmt"
)

// SystemPower has no implementation on this platform yet.
func SystemPower() Power { return otherPower{} }

type otherPower struct{}

func (otherPower) Do(_ context.Context, a PowerAction) error {
	return fmt.Errorf("agent: %s is not implemented on this platform: %w", a, errors.ErrUnsupported)
}
