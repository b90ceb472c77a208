package relay

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

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
	EvSessionRequested  = "session.requested"
	EvSessionDenied     = "session.denied"
	EvSessionStarted    = "session.started"
	EvSessionEnded      = "session.ended"
	EvSessionRefused    = "session.refused" // the host refused a message the grant does not allow
	EvFileReceived      = "file.received"   // the host stored a file the technician sent
	EvFileSent          = "file.sent"       // the host sent the technician a file

	EvAuditSettings      = "audit.settings_changed"
	EvAuditReport        = "audit.report_created"
	EvAuditReportDeleted = "audit.report_deleted"

	EvUserUpdated       = "user.updated"
	EvUserDisabled      = "user.disabled"
	EvUserEnabled       = "user.enabled"
	EvUserRemoved       = "user.removed"
	EvUserUnlocked      = "user.unlocked"
	EvUserMFAChanged    = "user.mfa_changed"
	EvLoginLocked       = "login.locked"
	EvLoginMFASent      = "login.mfa_sent"
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
	EvAPIKeyCreated     = "apikey.created"
	EvAPIKeyRevoked     = "apikey.revoked"
	EvOwnerChanged      = "account.owner_changed"
)

// auditRec is one event to record; empty fields are stored as NULL.
type auditRec struct {
	Event   string
	Account string
	User    string
	Device  string
	Remote  string
	Detail  map[string]any
	Always  bool // recorded even when the account turned logging off
}

// auditAs records event in account as done by the caller of r.
func (s *Server) auditAs(r *http.Request, a authed, account, event string, detail map[string]any) {
	s.audit(auditRec{Event: event, Account: account, User: a.user.ID, Remote: remoteIP(r), Detail: detail})
}

// audit appends an event. A failure is logged, never returned: the action
// it describes has already happened.
func (s *Server) audit(r auditRec) {
	recordAudit(s.st, s.now, s.log, r)
}

func recordAudit(st *store.Store, now func() time.Time, log *slog.Logger, r auditRec) {
	var detail json.RawMessage
	if len(r.Detail) > 0 {
		b, err := json.Marshal(r.Detail)
		if err == nil {
			detail = b
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := st.AddAudit(ctx, store.AuditEvent{
		At: now(), AccountID: r.Account, ActorUserID: r.User, ActorDeviceID: r.Device,
		Event: r.Event, Detail: detail, RemoteAddr: r.Remote,
	}, r.Always)
	if err != nil {
		log.Error("audit write failed", "event", r.Event, "err", err)
	}
}
