package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// PowerAction is a power or session action a technician may ask for.
type PowerAction string

const (
	PowerLogout     PowerAction = "logout"       // end the local user's session
	PowerLock       PowerAction = "lock"         // lock the local user's session
	PowerRestart    PowerAction = "restart"      // reboot the machine
	PowerShutdown   PowerAction = "shutdown"     // power the machine off
	PowerCtrlAltDel PowerAction = "ctrl_alt_del" // the secure attention sequence (Windows)
)

// powerActions maps the wire codes to actions.
var powerActions = map[uint8]PowerAction{
	wire.PowerLogout: PowerLogout, wire.PowerLock: PowerLock, wire.PowerRestart: PowerRestart,
	wire.PowerShutdown: PowerShutdown, wire.PowerCtrlAltDel: PowerCtrlAltDel,
}

// Power carries out power actions on this machine; SystemPower is the
// platform's. Do returns once the action is under way (a restart is
// scheduled, the session is locked) or with the reason it cannot be;
// errors.ErrUnsupported for an action this platform does not have.
type Power interface {
	Do(ctx context.Context, a PowerAction) error
}

// ErrPowerNotConfigured: the host was started without a Power (Options.Power).
var ErrPowerNotConfigured = fmt.Errorf("agent: power actions are not set up on this host: %w", errors.ErrUnsupported)

// noPower is the default: a host must opt in to power actions with
// Options.Power, so a test or embedding that forgets cannot reboot anything.
type noPower struct{}

func (noPower) Do(context.Context, PowerAction) error { return ErrPowerNotConfigured }

// powerTimeout bounds one power action's commands.
const powerTimeout = 30 * time.Second

// power carries out a permitted power action and answers it.
func (s *Session) power(ch *transport.Channel, m *wire.PowerAction) error {
	a := powerActions[m.Action] // the decoder admits known actions only
	s.powerMu.Lock()
	defer s.powerMu.Unlock()
	s.log.Warn("power action requested by the technician", "action", a)
	ctx, cancel := context.WithTimeout(context.Background(), powerTimeout)
	err := s.h.o.Power.Do(ctx, a)
	cancel()
	if err != nil {
		code := uint16(wire.ErrCodeInternal)
		if errors.Is(err, errors.ErrUnsupported) {
			code = wire.ErrCodeUnsupported
		}
		msg := fmt.Sprintf("the host could not %s: %v", wire.PowerActionName(m.Action), err)
		s.log.Warn("power action failed", "action", a, "err", err)
		s.h.event(Event{Kind: "refused", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: "power: " + msg})
		return ch.Send(&wire.Error{Code: code, Ref: m.Type(), Message: msg})
	}
	s.h.event(Event{Kind: "power_action", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: string(a)})
	return ch.Send(&wire.PowerDone{ID: m.ID, Action: m.Action})
}
