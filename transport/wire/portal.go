package wire

// Activity answers GET /api/v1/accounts/{account}/activity: the account's
// activity per local day (its time zone), oldest first; the last Days are
// this week, the Days before them last week (the Dashboard's chart).
type Activity struct {
	TimeZone string        `json:"timezone"`
	Days     []ActivityDay `json:"days"`
}

// ActivityDay is one local day's counts.
type ActivityDay struct {
	Date            string `json:"date"`             // YYYY-MM-DD, local
	ActiveUsers     int    `json:"active_users"`     // members who logged in or acted in the account
	RemoteSessions  int    `json:"remote_sessions"`  // sessions granted on its devices
	EnrolledDevices int    `json:"enrolled_devices"` // devices enrolled (OnDemand agents not counted)
}

// Columns are one listing's chosen columns (PUT /api/v1/me/columns/{list});
// GET /api/v1/me/columns answers every listing's, by name.
type Columns struct {
	Columns []string `json:"columns"`
}
