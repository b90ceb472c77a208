// # Access model
//
// The relay's store fills a [Snapshot] (users, devices, groups, roles, role
// assignments); [NewModel] indexes it once; [Evaluate] answers a [Request]
// with a [Decision]: whether access is allowed, the permissions, the
// confirm-access requirement, the application whitelist, the assignments
// that contributed and, for everything considered that did not apply, a
// [Reason]. The portal's "Check permissions" is a view of that Decision.
//
// # Which assignments apply
//
// An assignment applies to a request when all of these hold, checked in
// this order (the first that fails is the assignment's Reason):
//
//   - the assignment is Active;
//   - its role exists (a removed role disables its assignments), is valid,
//     is Enabled, and, for a whitelist role, has at least one enabled
//     application (when all are disabled its assignments are disabled);
//   - the role fits the session: OnDemand roles only OnDemand requests, all
//     other roles only device requests;
//   - the user is in at least one of its user groups that is active (an
//     inactive group makes no assignment apply through it);
//   - for device requests, the device is in at least one of its device
//     groups that is active (OnDemand assignments have no device groups);
//   - for Device roles, the role's client type is ClientAny or equals the
//     request's client type;
//   - its schedule, if any, is active at Request.At.
//
// Built-in groups: a Builtin user group (Everyone) contains every user of
// the Snapshot, a Builtin device group (Everything) every device. Inactive
// users, users with OnDemand disabled (for OnDemand requests), unknown and
// disabled devices are denied before any assignment is looked at.
//
// # How applicable assignments combine
//
//   - Device roles (OnDemand roles for OnDemand requests) grant: the
//     permissions are the union over all applicable ones. Access is Allowed
//     iff that union is not empty; deny by default. Adding an assignment
//     therefore never removes a permission and deactivating one never adds
//     one.
//   - Confirm access roles and Whitelisted applications roles are matched
//     exactly like Device roles but grant nothing: on their own they never
//     allow access. They only add conditions to a session some Device role
//     allows. They never apply to OnDemand sessions (which have their own
//     consent prompt).
//   - Confirm access: each applicable role is resolved against the Host
//     state. Local confirmation is required unless (ExceptLocked and the
//     computer is locked) or (ExceptNoUser and nobody is logged in). Email
//     confirmation is required always, or, with EmailOnlyLocked and/or
//     EmailOnlyNoUser, only in (any of) those states. The session's
//     requirement is the union: Local if any role requires it, and the union
//     of the email groups of the roles that require email. One confirmation
//     grants the session, whichever comes first: the local prompt (if Local)
//     or an approval by a member of any listed email group. When the Host
//     cannot report its state (Request.StateUnknown), no exception applies
//     and every "only when" counts as met.
//   - Whitelisted applications: the whitelist is nil (no restriction) when
//     no applicable whitelist role is enforced. Otherwise it is the union of
//     the enabled applications of the enforced roles: each whitelist role
//     allows its applications, and more roles allow more. A role whose
//     exception holds (ExceptLocked and locked, ExceptNoUser and no user) is
//     not enforced for the session and does not lift the other roles'
//     whitelists.
//
// # Schedules
//
// A [Schedule] is read on the wall clock of its time zone: an instant is
// converted to the zone, and its calendar day and clock reading (seconds
// ignored below one) are compared with the windows. Consequences:
//
//   - A window [StartTime, EndTime) is half-open; AllDay is [00:00, 24:00).
//     EndTime before StartTime crosses midnight; the window belongs to the
//     day it starts (a Friday 22:00–06:00 weekly window runs into Saturday
//     morning; the Saturday itself need not be a recurrence day).
//   - DST, spring forward: wall times that do not exist are never seen. A
//     01:30–03:00 window on the day New York jumps 02:00→03:00 is active
//     01:30–02:00 EST and ends at the jump (30 real minutes); in Bucharest
//     (03:00→04:00) the same window is untouched (90 minutes). A window that
//     starts inside the gap starts at the jump; one entirely inside it does
//     not occur that day.
//   - DST, fall back: repeated wall times are in the window both times. A
//     01:00–02:30 window on the day New York falls back 02:00→01:00 is
//     active for 2.5 real hours; in Bucharest (04:00→03:00) it is untouched
//     (1.5 hours). A window whose end falls inside the repeated hour is
//     active again during the repeat of the part before its end.
//   - Every-N counting is anchored on the start date: every N days from it;
//     every N weeks from its week (weeks start on Monday); every N months
//     from its month; every N years from its year. Occurrences before the
//     start date are not counted.
//   - Monthly on day N: months without day N are skipped (no occurrence,
//     not moved to the last day); use LastDay for "last day of the month".
//     Yearly on February 29 occurs only in leap years on the every-N cycle.
//   - EndDate is inclusive: the last occurrence may start on it, and if it
//     crosses midnight it runs to its end on the next day.
//   - No recurrence: one continuous span from StartDate StartTime (00:00 if
//     AllDay) to EndDate EndTime (end of EndDate if AllDay), or without end
//     when there is no EndDate (the spec's "applies indefinitely"; EndTime
//     is then unused).
//   - An invalid schedule (bad zone, impossible date, empty window) is never
//     active.
//
// An assignment's [Status] is "Active" (no schedule), "Active, due to
// schedule", "Inactive, due to schedule" or "Inactive" (not Active, or its
// role is removed, disabled or invalid, or all its whitelisted apps are
// disabled).
package policy
