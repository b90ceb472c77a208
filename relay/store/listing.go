package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/listing"
)

// A listing column in SQL: expr is a scalar expression of the row; set,
// when not empty, is instead a subquery listing the row's values (a user's
// groups), filtered with IN/EXISTS.
//
// A set stored as ids (a JSON array) also has ids, the row's raw ids as v,
// and named, a format taking a condition on x.n that lists as id the ids
// whose name meets it. named reads no row (the account is $1), so the
// engine runs it once per query rather than once per row: filters match
// ids, and names are looked up only to sort.
type listCol struct {
	expr       string
	set        string
	ids, named string
}

// setMatch is the condition that one of the row's ids in c is named as
// cond says.
func (c listCol) setMatch(cond string) string {
	return fmt.Sprintf("EXISTS (SELECT 1 FROM (%s) r WHERE r.v IN (%s))", c.ids, fmt.Sprintf(c.named, cond))
}

// listSQL turns q into a WHERE clause (starting with " AND ", or "") and
// an ORDER BY list for cols; args continue after the first `next`-1
// placeholders. Only column keys in cols reach the SQL, and every value is
// a bound argument.
func listSQL(q listing.Query, cols map[string]listCol, defaultOrder string, next int) (where, order string, args []any, err error) {
	var b strings.Builder
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", next+len(args)-1)
	}
	for _, f := range q.Filters {
		c, ok := cols[f.Col]
		if !ok {
			return "", "", nil, fmt.Errorf("store: no list column %q", f.Col)
		}
		if f.Text != "" {
			like := "%" + escapeLike(strings.ToLower(f.Text)) + "%"
			switch {
			case c.named != "":
				fmt.Fprintf(&b, " AND %s", c.setMatch(fmt.Sprintf("LOWER(x.n) LIKE %s ESCAPE '\\'", arg(like))))
			case c.set != "":
				fmt.Fprintf(&b, " AND EXISTS (SELECT 1 FROM (%s) s WHERE LOWER(s.v) LIKE %s ESCAPE '\\')", c.set, arg(like))
			default:
				fmt.Fprintf(&b, " AND LOWER(CAST(%s AS TEXT)) LIKE %s ESCAPE '\\'", c.expr, arg(like))
			}
		}
		if len(f.Values) == 0 {
			continue
		}
		var any []string
		var vals []string
		for _, v := range f.Values {
			if v != "" {
				vals = append(vals, v)
			}
		}
		switch {
		case c.named != "":
			if f.Blanks() {
				any = append(any, fmt.Sprintf("NOT EXISTS (%s)", c.ids))
			}
			if len(vals) > 0 {
				ph := make([]string, len(vals))
				for i, v := range vals {
					ph[i] = arg(v)
				}
				any = append(any, c.setMatch(fmt.Sprintf("x.n IN (%s)", strings.Join(ph, ", "))))
			}
		case c.set != "":
			if f.Blanks() {
				any = append(any, fmt.Sprintf("NOT EXISTS (%s)", c.set))
			}
			for _, v := range vals {
				any = append(any, fmt.Sprintf("%s IN (%s)", arg(v), c.set))
			}
		default:
			if f.Blanks() {
				any = append(any, fmt.Sprintf("(%s IS NULL OR CAST(%s AS TEXT) = '')", c.expr, c.expr))
			}
			if len(vals) > 0 {
				ph := make([]string, len(vals))
				for i, v := range vals {
					ph[i] = arg(v)
				}
				any = append(any, fmt.Sprintf("CAST(%s AS TEXT) IN (%s)", c.expr, strings.Join(ph, ", ")))
			}
		}
		fmt.Fprintf(&b, " AND (%s)", strings.Join(any, " OR "))
	}
	order = defaultOrder
	if q.Sort != "" {
		c, ok := cols[q.Sort]
		if !ok {
			return "", "", nil, fmt.Errorf("store: cannot sort by %q", q.Sort)
		}
		dir := "ASC"
		if q.Desc {
			dir = "DESC"
		}
		e := c.expr
		if c.set != "" {
			// A set sorts by its first value; an empty one is a blank.
			e = fmt.Sprintf("(SELECT MIN(s.v) FROM (%s) s)", c.set)
		}
		// Empty cells last either way, then the default order as a tie-break.
		order = fmt.Sprintf("(%s IS NULL OR CAST(%s AS TEXT) = '') ASC, %s %s, %s", e, e, e, dir, defaultOrder)
	}
	return b.String(), order, args, nil
}

// accountPage runs the common part of an account's listing: from is the
// rows (FROM ... WHERE, with the account as $1); it counts the rows q
// matches and returns the page query's tail (filters, order, limit) with
// its arguments.
func (s *Store) accountPage(ctx context.Context, op, from, accountID string, q listing.Query, cols map[string]listCol, defaultOrder string) (tail string, args []any, total int, err error) {
	where, order, args, err := listSQL(q, cols, defaultOrder, 2)
	if err != nil {
		return "", nil, 0, err
	}
	args = append([]any{accountID}, args...)
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+from+where, args...).Scan(&total); err != nil {
		return "", nil, 0, wrap(op, err)
	}
	return where + ` ORDER BY ` + order + fmt.Sprintf(` LIMIT %d OFFSET %d`, q.Size, q.Offset()), args, total, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// MemberColumns are the columns of the users listing (spec 4.1) that can be
// filtered and sorted, in display order.
var MemberColumns = []string{"name", "email", "type", "groups", "status", "auth", "mfa", "ondemand", "created"}

// The users listing: statuses and yes/no columns read as words, so value
// filters are the words the Portal shows.
var memberCols = map[string]listCol{
	"name":     {expr: "u.name"},
	"email":    {expr: "u.email"},
	"type":     {expr: "m.type"},
	"status":   {expr: "CASE WHEN m.disabled OR u.disabled THEN 'disabled' ELSE 'enabled' END"},
	"auth":     {expr: "u.auth"},
	"mfa":      {expr: "CASE WHEN m.mfa THEN 'on' ELSE 'off' END"},
	"ondemand": {expr: "CASE WHEN m.ondemand THEN 'on' ELSE 'off' END"},
	"created":  {expr: "m.created_at"},
	"groups": {set: `SELECT g.name AS v FROM access_group_members gm JOIN access_groups g ON g.id = gm.group_id
		WHERE gm.member_id = m.user_id AND g.account_id = m.account_id AND g.kind <> 'device'`},
}

// AccountUsersPage is one page of accountID's members as q filters and
// sorts them (by email by default), with the number of members matching.
func (s *Store) AccountUsersPage(ctx context.Context, accountID string, q listing.Query) ([]AccountUser, int, error) {
	tail, args, total, err := s.accountPage(ctx, "account users page", `memberships m JOIN users u ON u.id = m.user_id
		WHERE m.account_id = $1`, accountID, q, memberCols, "u.email, u.id")
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, accountUserQuery+` WHERE m.account_id = $1`+tail, args...)
	if err != nil {
		return nil, 0, wrap("account users page", err)
	}
	defer rows.Close()
	var out []AccountUser
	for rows.Next() {
		au, err := scanAccountUser(rows)
		if err != nil {
			return nil, 0, wrap("account users page", err)
		}
		out = append(out, au)
	}
	return out, total, wrap("account users page", rows.Err())
}

// UserGroupNames maps the users of accountID to the names of the user
// groups they belong to, sorted.
func (s *Store) UserGroupNames(ctx context.Context, accountID string) (map[string][]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT gm.member_id, g.name FROM access_group_members gm
		JOIN access_groups g ON g.id = gm.group_id
		WHERE g.kind <> 'device' AND g.account_id = $1 ORDER BY g.name, g.id`, accountID)
	if err != nil {
		return nil, wrap("user group names", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var u, name string
		if err := rows.Scan(&u, &name); err != nil {
			return nil, wrap("user group names", err)
		}
		out[u] = append(out[u], name)
	}
	return out, wrap("user group names", rows.Err())
}

// DeviceColumns are the columns of the devices listing (spec 4.3) that can
// be filtered and sorted, in display order. Online is the relay's memory,
// not the store's, so it is shown but not filtered here.
var DeviceColumns = []string{"name", "hostname", "groups", "state", "os", "user", "version", "description", "lastseen", "enrolled"}

var deviceListCols = map[string]listCol{
	"name":        {expr: "CASE WHEN d.alias <> '' THEN d.alias ELSE d.hostname END"},
	"hostname":    {expr: "d.hostname"},
	"state":       {expr: "d.state"},
	"os":          {expr: "d.os"},
	"user":        {expr: "d.logged_in_user"},
	"version":     {expr: "d.version"},
	"description": {expr: "d.description"},
	"lastseen":    {expr: "d.last_seen"},
	"enrolled":    {expr: "d.enrolled_at"},
	"groups": {set: `SELECT g.name AS v FROM access_group_members gm JOIN access_groups g ON g.id = gm.group_id
		WHERE gm.member_id = d.id AND g.account_id = d.account_id AND g.kind = 'device'`},
}

// DevicesPage is one page of accountID's devices (OnDemand machines left
// out) as q filters and sorts them (by name by default), with the number
// of devices matching.
func (s *Store) DevicesPage(ctx context.Context, accountID string, q listing.Query) ([]Device, int, error) {
	const from = `devices d WHERE NOT d.ondemand AND d.account_id = $1`
	tail, args, total, err := s.accountPage(ctx, "devices page", from, accountID, q, deviceListCols, deviceListCols["name"].expr+", d.id")
	if err != nil {
		return nil, 0, err
	}
	ds, err := s.queryDevices(ctx, "devices page", `SELECT `+deviceCols+` FROM `+from+tail, args...)
	return ds, total, err
}

// GroupColumns are the columns of the groups listing (spec 4.2) that can be
// filtered and sorted, in display order.
var GroupColumns = []string{"name", "type", "description", "members", "active"}

var groupListCols = map[string]listCol{
	"name":        {expr: "g.name"},
	"type":        {expr: "g.kind"},
	"description": {expr: "g.description"},
	"members":     {expr: "g.members"},
	"active":      {expr: "CASE WHEN g.active THEN 'yes' ELSE 'no' END"},
}

// ListedGroup is a row of the groups listing: a stored or built-in group
// with its number of members.
type ListedGroup struct {
	Group
	Builtin bool
	Members int
}

// groupListFrom is the groups listing's rows: the account's groups ($1)
// and the built-in Everyone (every member of the account) and Everything
// (every device, OnDemand machines left out), so they filter, sort and
// page with the others.
const groupListFrom = `(SELECT ag.id, ag.name, ag.description, ag.kind, ag.active, ag.created_at, FALSE AS builtin,
		(SELECT COUNT(*) FROM access_group_members gm WHERE gm.group_id = ag.id) AS members
	FROM access_groups ag WHERE ag.account_id = $1
	UNION ALL SELECT '` + policy.GroupIDEveryone + `', 'Everyone', '', '` + string(policy.GroupUser) + `', TRUE, 0, TRUE,
		(SELECT COUNT(*) FROM memberships mm WHERE mm.account_id = $1)
	UNION ALL SELECT '` + policy.GroupIDEverything + `', 'Everything', '', '` + string(policy.GroupDevice) + `', TRUE, 0, TRUE,
		(SELECT COUNT(*) FROM devices dd WHERE dd.account_id = $1 AND NOT dd.ondemand)) g`

// GroupsPage is one page of accountID's groups, built-ins included, as q
// filters and sorts them (by name by default), with the number matching.
func (s *Store) GroupsPage(ctx context.Context, accountID string, q listing.Query) ([]ListedGroup, int, error) {
	tail, args, total, err := s.accountPage(ctx, "groups page", groupListFrom+` WHERE TRUE`, accountID, q, groupListCols, "g.name, g.id")
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT g.id, g.name, g.description, g.kind, g.active, g.created_at, g.builtin, g.members
		FROM `+groupListFrom+` WHERE TRUE`+tail, args...)
	if err != nil {
		return nil, 0, wrap("groups page", err)
	}
	defer rows.Close()
	var out []ListedGroup
	for rows.Next() {
		var g ListedGroup
		var created int64
		if err := rows.Scan(&g.ID, &g.Name, &g.Description, &g.Kind, &g.Active, &created, &g.Builtin, &g.Members); err != nil {
			return nil, 0, wrap("groups page", err)
		}
		g.AccountID = accountID
		if !g.Builtin {
			g.CreatedAt = fromUnix(created)
		}
		out = append(out, g)
	}
	return out, total, wrap("groups page", rows.Err())
}

// RoleColumns are the columns of the roles listing (spec 4.4) that can be
// filtered and sorted, in display order.
var RoleColumns = []string{"name", "type", "description", "enabled", "predefined"}

var roleListCols = map[string]listCol{
	"name":        {expr: "r.name"},
	"type":        {expr: "r.type"},
	"description": {expr: "r.description"},
	"enabled":     {expr: "CASE WHEN r.enabled THEN 'yes' ELSE 'no' END"},
	"predefined":  {expr: "CASE WHEN r.predefined THEN 'yes' ELSE 'no' END"},
}

// ListedRole is a row of the roles listing: the role's id, and whether it
// is predefined (policy.PredefinedRoles) rather than stored.
type ListedRole struct {
	ID         string
	Predefined bool
}

// roleListFrom is the roles listing's rows: the account's roles ($1) and
// the predefined ones (constants of the policy package, quoted here), so
// they filter, sort and page with the others.
var roleListFrom = func() string {
	var b strings.Builder
	b.WriteString(`(SELECT ar.id, ar.name, ar.description, ar.type, ar.enabled, FALSE AS predefined
	FROM access_roles ar WHERE ar.account_id = $1`)
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	for _, r := range policy.PredefinedRoles() {
		fmt.Fprintf(&b, "\n\tUNION ALL SELECT %s, %s, %s, %s, %t, TRUE", lit(r.ID), lit(r.Name), lit(r.Description), lit(string(r.Type)), r.Enabled)
	}
	b.WriteString(`) r`)
	return b.String()
}()

// RolesPage is one page of accountID's roles, predefined ones included, as
// q filters and sorts them (predefined first, then by name, by default),
// with the number matching.
func (s *Store) RolesPage(ctx context.Context, accountID string, q listing.Query) ([]ListedRole, int, error) {
	const order = "r.predefined DESC, r.name, r.id"
	tail, args, total, err := s.accountPage(ctx, "roles page", roleListFrom+` WHERE TRUE`, accountID, q, roleListCols, order)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.predefined FROM `+roleListFrom+` WHERE TRUE`+tail, args...)
	if err != nil {
		return nil, 0, wrap("roles page", err)
	}
	defer rows.Close()
	var out []ListedRole
	for rows.Next() {
		var lr ListedRole
		if err := rows.Scan(&lr.ID, &lr.Predefined); err != nil {
			return nil, 0, wrap("roles page", err)
		}
		out = append(out, lr)
	}
	return out, total, wrap("roles page", rows.Err())
}

// AppColumns are the columns of the applications listing (spec 4.4.11)
// that can be filtered and sorted, in display order.
var AppColumns = []string{"name", "enabled", "path", "executable", "description"}

var appListCols = map[string]listCol{
	"name":        {expr: "a.name"},
	"enabled":     {expr: "CASE WHEN a.enabled THEN 'yes' ELSE 'no' END"},
	"path":        {expr: "a.path"},
	"executable":  {expr: "a.executable"},
	"description": {expr: "a.description"},
}

// AppsPage is the ids of one page of accountID's applications as q filters
// and sorts them (by name by default), with the number matching.
func (s *Store) AppsPage(ctx context.Context, accountID string, q listing.Query) ([]string, int, error) {
	const from = `access_apps a WHERE a.account_id = $1`
	tail, args, total, err := s.accountPage(ctx, "applications page", from, accountID, q, appListCols, "a.name, a.id")
	if err != nil {
		return nil, 0, err
	}
	ids, err := s.pageIDs(ctx, "applications page", `SELECT a.id FROM `+from+tail, args)
	return ids, total, err
}

// pageIDs runs a listing page's query of ids.
func (s *Store) pageIDs(ctx context.Context, op, query string, args []any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, id)
	}
	return out, wrap(op, rows.Err())
}

// PackageColumns are the columns of the deployment packages listing
// (spec 4.3, Downloads) that can be filtered and sorted, in display order.
var PackageColumns = []string{"name", "group", "approval", "expires", "max", "devices", "state"}

var packageListCols = map[string]listCol{
	"name": {expr: "p.name"},
	// The device group is stored by id; the listing shows its name.
	"group":    {expr: "(SELECT g.name FROM access_groups g WHERE g.id = p.device_group AND g.account_id = p.account_id)"},
	"approval": {expr: "CASE WHEN p.enrollment_state = 'pending' THEN 'pending' ELSE 'automatic' END"},
	"expires":  {expr: "p.valid_to"},
	"max":      {expr: "p.max_devices"},
	"devices":  {expr: "(SELECT COUNT(*) FROM devices d WHERE d.package_id = p.id AND d.state <> 'revoked')"},
	"state":    {expr: "CASE WHEN p.revoked THEN 'revoked' ELSE 'active' END"},
}

// PackagesPage is one page of accountID's deployment packages, with their
// device counts, as q filters and sorts them (by name by default), and the
// number matching.
func (s *Store) PackagesPage(ctx context.Context, accountID string, q listing.Query) ([]Package, int, error) {
	const from = `deployment_packages p WHERE p.account_id = $1`
	tail, args, total, err := s.accountPage(ctx, "packages page", from, accountID, q, packageListCols, "p.name, p.id")
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+packageCols+`, `+packageListCols["devices"].expr+` FROM `+from+tail, args...)
	if err != nil {
		return nil, 0, wrap("packages page", err)
	}
	out, err := scanPackagesCounted("packages page", rows)
	return out, total, err
}

// AssignmentColumns are the columns of the role assignments listing (spec
// 4.4.6) that can be filtered and sorted, in display order.
var AssignmentColumns = []string{"name", "role", "user_groups", "device_groups", "active", "schedule", "description", "created"}

// assignmentCols are the role assignments listing's columns on each
// engine: their user and device groups are JSON arrays of group ids,
// which only the engine's own JSON functions take apart.
var assignmentCols = map[*engine]map[string]listCol{
	sqliteEngine:   assignmentListCols(sqliteEngine),
	postgresEngine: assignmentListCols(postgresEngine),
}

// assignmentListCols lists an assignment's groups and its role by name,
// as the listing shows them (built-in groups and predefined roles by
// theirs), so value filters take the names the Portal shows.
func assignmentListCols(e *engine) map[string]listCol {
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	groups := func(col string) listCol {
		return listCol{
			set: `SELECT COALESCE(g.name, CASE je.value WHEN ` + lit(policy.GroupIDEveryone) + ` THEN 'Everyone' WHEN ` +
				lit(policy.GroupIDEverything) + ` THEN 'Everything' ELSE je.value END) AS v
		FROM ` + fmt.Sprintf(e.jsonElems, col) + ` LEFT JOIN access_groups g ON g.id = je.value AND g.account_id = a.account_id`,
			ids: `SELECT je.value AS v FROM ` + fmt.Sprintf(e.jsonElems, col),
			named: `SELECT x.id FROM (SELECT g.id, g.name AS n FROM access_groups g WHERE g.account_id = $1
			UNION ALL SELECT ` + lit(policy.GroupIDEveryone) + `, 'Everyone' UNION ALL SELECT ` + lit(policy.GroupIDEverything) + `, 'Everything') x
			WHERE %s`,
		}
	}
	var role strings.Builder
	role.WriteString(`COALESCE((SELECT r.name FROM access_roles r WHERE r.id = a.role_id AND r.account_id = a.account_id), CASE a.role_id`)
	for _, r := range policy.PredefinedRoles() {
		fmt.Fprintf(&role, " WHEN %s THEN %s", lit(r.ID), lit(r.Name))
	}
	role.WriteString(" END)") // a removed role: NULL, a Blank
	return map[string]listCol{
		"name":          {expr: "a.name"},
		"role":          {expr: role.String()},
		"user_groups":   groups("a.user_groups"),
		"device_groups": groups("a.device_groups"),
		"active":        {expr: "CASE WHEN a.active THEN 'yes' ELSE 'no' END"},
		"schedule":      {expr: "CASE WHEN a.schedule IS NULL THEN 'no' ELSE 'yes' END"},
		"description":   {expr: "a.description"},
		"created":       {expr: "a.created_at"},
	}
}

// AssignmentsPage is the ids of one page of accountID's role assignments
// as q filters and sorts them (by name by default), with the number
// matching.
func (s *Store) AssignmentsPage(ctx context.Context, accountID string, q listing.Query) ([]string, int, error) {
	const from = `access_assignments a WHERE a.account_id = $1`
	tail, args, total, err := s.accountPage(ctx, "role assignments page", from, accountID, q, assignmentCols[s.eng], "a.name, a.id")
	if err != nil {
		return nil, 0, err
	}
	ids, err := s.pageIDs(ctx, "role assignments page", `SELECT a.id FROM `+from+tail, args)
	return ids, total, err
}
