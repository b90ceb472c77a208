package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport/wire"
)

// ChatMessage is a technician's chat message, as the local user sees it.
type ChatMessage struct {
	SessionID  string
	Technician string    // who wrote it, as shown to the local user
	Seq        uint32    // the technician's own counter
	Sent       time.Time // the technician's clock
	Received   time.Time // this host's clock
	Text       string    // wire.ValidChatText: no control characters but '\n'
	// Reply sends the local user's answer to this session's technician
	// (Host.SendChat with this session's id).
	Reply func(text string) error
}

// ChatUI shows chat messages to the local user. Show is called from the
// session's receive loop: it must return promptly (queue or spawn, never
// wait for the user). The local user's replies go back through
// ChatMessage.Reply or Host.SendChat.
type ChatUI interface {
	Show(ChatMessage)
}

// LogChatUI is the ChatUI of a host without a local chat window: it records
// each message in the log (and Options.OnEvent sees a "chat_received"
// event), so the session indicator can take over display and replies.
type LogChatUI struct{ Log *slog.Logger }

func (u LogChatUI) Show(m ChatMessage) {
	u.Log.Info("chat message from the technician", "session", m.SessionID, "technician", m.Technician, "seq", m.Seq, "text", m.Text)
}

// ErrChatNotGranted: the session's grant does not carry the chat permission,
// so the local user cannot write to its technician either.
var ErrChatNotGranted = errors.New("agent: this session is not granted chat")

// ErrNoSession: no running session has that id.
var ErrNoSession = errors.New("agent: no such session")

// SendChat sends the local user's message to the technician of a session.
func (h *Host) SendChat(sessionID, text string) error {
	h.mu.Lock()
	s := h.sessions[sessionID]
	h.mu.Unlock()
	if s == nil {
		return fmt.Errorf("%w: %s", ErrNoSession, sessionID)
	}
	return s.sendChat(text)
}

func (s *Session) sendChat(text string) error {
	if !s.perms.Has(policy.Chat) {
		return ErrChatNotGranted
	}
	if err := wire.ValidChatText(text); err != nil {
		return err
	}
	ctl := s.control.Load()
	if ctl == nil {
		return errors.New("agent: the session has not started yet")
	}
	select {
	case <-s.ended:
		return fmt.Errorf("%w: the session ended", ErrNoSession)
	default:
	}
	if err := ctl.Send(&wire.Chat{Seq: s.chatSeq.Add(1), Time: s.h.o.Clock().UnixMilli(), Text: text}); err != nil {
		return fmt.Errorf("agent: send chat: %w", err)
	}
	s.log.Info("chat message to the technician", "text", text)
	s.h.event(Event{Kind: "chat_sent", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: text})
	return nil
}

// showChat hands a technician's message (already permitted and validated by
// the decoder) to the local user.
func (s *Session) showChat(m *wire.Chat) {
	s.h.event(Event{Kind: "chat_received", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: m.Text})
	s.h.o.ChatUI.Show(ChatMessage{SessionID: s.g.SessionID, Technician: technician(s.g), Seq: m.Seq,
		Sent: time.UnixMilli(m.Time), Received: s.h.o.Clock(), Text: m.Text, Reply: s.sendChat})
}
