package guest

import (
	"context"
	"errors"
	"fmt"

	"github.com/tandem-rc/tandem/transport/wire"
)

// SetClipboard offers text on the host's clipboard. The text stays there
// while this session lasts (or until someone on the host copies something
// else): the host withdraws it when the session ends.
func (s *Session) SetClipboard(ctx context.Context, text string) error {
	if err := checkClipboard(text); err != nil {
		return fmt.Errorf("guest: %w", err)
	}
	if err := s.Err(); err != nil {
		return err
	}
	if err := s.ctrl.Send(&wire.ClipboardText{Text: text}); err != nil {
		return err
	}
	return s.syncOn(ctx, s.ctrl)
}

// Clipboard returns the host's clipboard text ("" when it holds none).
func (s *Session) Clipboard(ctx context.Context) (string, error) {
	if err := s.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	before := s.clipSeq
	s.mu.Unlock()
	if err := s.ctrl.Send(&wire.ClipboardGet{}); err != nil {
		return "", err
	}
	// The host answers on the same channel before the pong.
	if err := s.syncOn(ctx, s.ctrl); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clipSeq == before {
		return "", errors.New("guest: the host did not send its clipboard")
	}
	return s.clip, nil
}

// LockInput blocks (or unblocks) the keyboard and mouse of the host's
// local user; the host unlocks them when the session ends.
func (s *Session) LockInput(ctx context.Context, on bool) error {
	return s.localRequest(ctx, &wire.InputLock{Lock: on})
}

// BlankScreen turns the host's monitor black (or back on) while this
// session still sees the desktop; hosts that cannot answer with an error.
func (s *Session) BlankScreen(ctx context.Context, on bool) error {
	return s.localRequest(ctx, &wire.ScreenBlank{Blank: on})
}

func (s *Session) localRequest(ctx context.Context, m wire.Message) error {
	if err := s.Err(); err != nil {
		return err
	}
	if err := s.ctrl.Send(m); err != nil {
		return err
	}
	return s.syncOn(ctx, s.ctrl)
}

// LocalState is what the host last reported locked and blanked
// (wire.LocalInputLocked, wire.LocalScreenBlanked).
func (s *Session) LocalState() uint8 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local
}
