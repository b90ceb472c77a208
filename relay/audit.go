package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
)

// Audit event names.
const (
	EvAccountCreated    = "account.created"
	EvUserCreated       = "user.created"
	EvLogin             = "user.login"
	EvLoginFailed       = "user.login_failed"
	EvLogout            = "user.logout"
	EvPackageCreated    = "package.created"
	EvDownload          = "package.downloaded"
	EvDownloadFailed    = "package.download_failed"
	EvDeviceEnrolled    = "device.enrolled"
	EvEnrollFailed      = "device.enroll_failed"
	EvDeviceApproved    = "device.approved"
	EvDeviceRevoked     = "device.revoked"
	EvAgentConnected    = "agent.connected"
	EvAgentDisconnected = "agent.disconnected"
	EvAgentAuthFailed   = "agent.auth_failed"
	EvGuestRefused      = "guest.refused" // refusals at the browser console's and the signaling doors, counted per window
	EvSessionRequested  = "session.requested"
	EvSessionDenied     = "session.denied"
	EvSessionStarted    = "session.started"
	EvSessionEnded      = "session.ended"
	EvSessionRefused    = "session.refused" // the host refused a message the grant does not allow
	EvFileReceived      = "file.received"   // the host stored a file the technician sent
	EvFileSent          = "file.sent"       // the host sent the technician a file

	EvUserUpdated       = "user.updated"
	EvUserDisabled      = "user.disabled"
	EvUserEnabled       = "user.enabled"
	EvUserRemoved       = "user.removed"
	EvUserUnlocked      = "user.unlocked"
	EvUserMFAChanged    = "user.mfa_changed"
	EvLoginLocked       = "login.locked"
	EvLoginMFASent      = "login.mfa_sent"
	EvLoginMFAChallenge = "login.mfa_challenge" // a correct password, a second factor asked for
	EvLoginMFAUnusable  = "login.mfa_unusable"  // a second factor required, none of the allowed ones set up
	EvTOTPEnrolled      = "mfa.totp_enrolled"
	EvReauthd           = "mfa.totp_removed"
	EvInviteSent        = "invite.sent"
	EvInviteResent      = "invite.resent"
	EvInviteAccepted    = "invite.accepted"
	EvInviteWithdrawn   = "invite.withdrawn"
	EvPasswordChanged   = "password.changed"
	EvPasswordResetSent = "password.reset_requested"
	EvPasswordReset     = "password.reset"
	EvAccountMFAChanged = "account.mfa_changed"
	EvRecoveryGenerated = "recovery_codes.generated"
	EvRecoveryUsed      = "recovery_codes.used"
	EvOwnerChanged      = "account.owner_changed"
)

// auditRec is one event to record (relay/api's Audit).
type auditRec = api.Audit

// auditAs records event in account as done by the caller of r.
func (s *Server) auditAs(r *http.Request, a authed, account, event string, detail map[string]any) {
	s.audit(s.recAs(r, a, account, event, detail))
}

func (s *Server) recAs(r *http.Request, a authed, account, event string, detail map[string]any) auditRec {
	return s.kit.Rec(r, a, account, event, detail)
}

// audit appends an event. A failure is logged, never returned: the action
// it describes has already happened.
func (s *Server) audit(r auditRec) {
	if !recordAudit(s.st, s.now, s.log, r) {
		s.metrics.Dropped("audit")
	}
}

// recordAudit reports whether the event was written.
func recordAudit(st *store.Store, now func() time.Time, log *slog.Logger, r auditRec) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := addAudit(ctx, st, now(), r); err != nil {
		log.Error("audit write failed", "event", r.Event, "err", err)
		return false
	}
	return true
}

// add writes r through st (a transaction's Store, or not).
func addAudit(ctx context.Context, st *store.Store, at time.Time, r auditRec) error {
	var detail json.RawMessage
	if len(r.Detail) > 0 {
		b, err := json.Marshal(r.Detail)
		if err == nil {
			detail = b
		}
	}
	err := st.AddAudit(ctx, store.AuditEvent{
		At: at, AccountID: r.Account, ActorUserID: r.User, ActorDeviceID: r.Device,
		Event: r.Event, Detail: detail, RemoteAddr: r.Remote, Subject: subject(r),
	}, r.Always)
	if err != nil {
		return fmt.Errorf("audit %s: %w", r.Event, err)
	}
	return nil
}

// atomically runs fn in one store transaction and writes the events fn
// audits in that same transaction: a change never commits without its
// audit events (nor they without it). fn must write through tx only. An
// account with logging turned off still commits, without the events.
func atomically(ctx context.Context, st *store.Store, now func() time.Time, fn func(tx *store.Store, audit func(auditRec)) error) error {
	return st.WithTx(ctx, func(tx *store.Store) error {
		var recs []auditRec
		if err := fn(tx, func(r auditRec) { recs = append(recs, r) }); err != nil {
			return err
		}
		at := now()
		for _, r := range recs {
			if err := addAudit(ctx, tx, at, r); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Server) commit(ctx context.Context, write func(tx *store.Store) error, rec func() auditRec) error {
	return s.kit.Commit(ctx, write, rec)
}

// atomically is the package function on the server's store and clock.
func (s *Server) atomically(ctx context.Context, fn func(tx *store.Store, audit func(auditRec)) error) error {
	return atomically(ctx, s.st, s.now, fn)
}

// pruneAudit applies the retention (spec 5.3: six months by default): at
// most once an hour, from the janitor.
func (s *Server) pruneAudit(now time.Time) {
	if now.Sub(s.lastPrune) < time.Hour {
		return
	}
	s.lastPrune = now
	ctx, cancel := s.dbctx()
	defer cancel()
	cutoff := now.AddDate(0, -s.cfg.AuditRetentionMonths, 0)
	n, err := s.st.PruneAudit(ctx, cutoff)
	if err != nil {
		s.log.Warn("pruning the audit log", "err", err)
		return
	}
	if n > 0 {
		s.log.Info("audit log pruned", "events", n, "before", cutoff.Format(time.DateOnly))
	}
}
