package relay

import (
	"context"

	"github.com/tandem-rc/tandem/relay/store"
)

// subjectKinds name, for the events that create or change a user, device,
// role or role assignment, the kind of thing they are about; auditRec.add
// writes it as the event's subject so "Created by" and "Modified by"
// (spec 4.1.4) are read back from the audit log.
var subjectKinds = map[string]string{
	EvUserCreated: "user", EvUserUpdated: "user", EvUserDisabled: "user", EvUserEnabled: "user",
	EvUserMFAChanged: "user", EvUserUnlocked: "user",
	EvDeviceEnrolled: "device", EvDeviceApproved: "device", EvDeviceRevoked: "device", EvDeviceUpdated: "device",
	EvRoleCreated: "role", EvRoleUpdated: "role",
	EvAssignmentCreated: "assignment", EvAssignmentUpdated: "assignment",
}

// createdEvents are the events whose actor is the "Created by".
var createdEvents = []string{EvUserCreated, EvDeviceEnrolled, EvRoleCreated, EvAssignmentCreated}

// subject is "kind:id" for what r creates or changes, or "".
func subject(r auditRec) string {
	kind := subjectKinds[r.Event]
	var id string
	switch kind {
	case "":
		return ""
	case "device":
		id = r.Device
	default:
		id, _ = r.Detail[kind].(string)
		if id == "" && kind == "user" {
			id = r.User // a user's own creation or change
		}
	}
	if id == "" {
		return ""
	}
	return kind + ":" + id
}

// authors are who created and last changed the things of kind with ids in
// accountID, by id; a thing the audit log says nothing of is missing.
func (s *Server) authors(ctx context.Context, accountID, kind string, ids []string) (map[string]store.Authors, error) {
	out := map[string]store.Authors{}
	for len(ids) > 0 {
		n := min(len(ids), store.MaxAuthors)
		subs := make([]string, n)
		for i, id := range ids[:n] {
			subs[i] = kind + ":" + id
		}
		got, err := s.st.Authors(ctx, accountID, subs, createdEvents)
		if err != nil {
			return nil, err
		}
		for _, id := range ids[:n] {
			if a, ok := got[kind+":"+id]; ok {
				out[id] = a
			}
		}
		ids = ids[n:]
	}
	return out, nil
}
