package store

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/listing"
	"github.com/tandem-rc/tandem/relay/store/storetest"
)

func TestAccountUsersPage(t *testing.T) { storetest.Run(t, testAccountUsersPage) }

func testAccountUsersPage(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Unix(1_800_000_000, 0).UTC()
	acct, err := s.CreateAccount(ctx, Account{Name: "Acme", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateAccount(ctx, Account{Name: "Other", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	techs, err := s.CreateGroup(ctx, Group{AccountID: acct.ID, Name: "Tech_s", Kind: policy.GroupUser, Active: true, CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	// 30 users: u00..u29; every third has no name, every fifth is an
	// admin, u00..u04 are in "Tech_s"; one user of another account.
	for i := range 30 {
		name := fmt.Sprintf("User %02d", i)
		if i%3 == 0 {
			name = ""
		}
		u, err := s.CreateUser(ctx, User{Email: fmt.Sprintf("u%02d@example.com", i), Name: name, PasswordHash: "h", CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		typ := Member
		if i%5 == 0 {
			typ = Admin
		}
		if err := s.AddMembership(ctx, Membership{AccountID: acct.ID, UserID: u.ID, Type: typ, Disabled: i == 7, CreatedAt: now.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if i < 5 {
			if err := s.AddGroupMember(ctx, techs.ID, u.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	x, err := s.CreateUser(ctx, User{Email: "x@example.com", PasswordHash: "h", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMembership(ctx, Membership{AccountID: other.ID, UserID: x.ID, Type: Owner, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}

	page := func(raw string) ([]string, int) {
		t.Helper()
		v, _ := url.ParseQuery(raw)
		q, err := listing.Parse(v, MemberColumns)
		if err != nil {
			t.Fatal(err)
		}
		list, total, err := s.AccountUsersPage(ctx, acct.ID, q)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var emails []string
		for _, au := range list {
			emails = append(emails, au.User.Email[:3])
		}
		return emails, total
	}
	check := func(raw string, wantTotal int, want ...string) {
		t.Helper()
		got, total := page(raw)
		if total != wantTotal || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: %v of %d, want %v of %d", raw, got, total, want, wantTotal)
		}
	}
	check("size=10&page=3", 30, "u20", "u21", "u22", "u23", "u24", "u25", "u26", "u27", "u28", "u29")
	check("size=10&page=4", 30)
	check("v.name=&v.type=admin", 2, "u00", "u15") // Blanks and a value, both at once
	check("v.name=&v.type=admin&v.type=user&size=10", 10, "u00", "u03", "u06", "u09", "u12", "u15", "u18", "u21", "u24", "u27")
	check("f.name=USER 1", 7, "u10", "u11", "u13", "u14", "u16", "u17", "u19") // case-insensitive contains
	check("f.email=%25", 0)                                                    // LIKE wildcards are literal
	check("v.status=disabled", 1, "u07")
	check("v.groups=Tech_s", 5, "u00", "u01", "u02", "u03", "u04")
	check("f.groups=ch_", 5, "u00", "u01", "u02", "u03", "u04")
	check("f.email=u_0", 0) // "_" is literal too
	check("v.groups=&f.email=u0", 5, "u05", "u06", "u07", "u08", "u09")
	check("v.groups=&v.groups=Tech_s&size=10", 30, "u00", "u01", "u02", "u03", "u04", "u05", "u06", "u07", "u08", "u09")
	check("sort=groups&f.email=u0", 10, "u00", "u01", "u02", "u03", "u04", "u05", "u06", "u07", "u08", "u09") // a set sorts (it was an error)
	check("sort=-created&size=10", 30, "u29", "u28", "u27", "u26", "u25", "u24", "u23", "u22", "u21", "u20")
	// Sorting by name puts blank names last, then ties by email.
	check("sort=name&f.email=u0", 10, "u01", "u02", "u04", "u05", "u07", "u08", "u00", "u03", "u06", "u09")
	check("sort=-name&f.email=u0", 10, "u08", "u07", "u05", "u04", "u02", "u01", "u00", "u03", "u06", "u09")
	check("f.email=x@", 0) // the other account's user never shows

	groups, err := s.UserGroupNames(ctx, acct.ID)
	if err != nil || len(groups) != 5 {
		t.Fatalf("group names %v %v", groups, err)
	}
}

func TestDevicesPage(t *testing.T) { storetest.Run(t, testDevicesPage) }

func testDevicesPage(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Unix(1_800_000_000, 0).UTC()
	a, _ := s.CreateAccount(ctx, Account{Name: "Acme", CreatedAt: now})
	b, _ := s.CreateAccount(ctx, Account{Name: "Other", CreatedAt: now})
	for _, p := range []Package{{AccountID: a.ID, Name: "P", KeyHash: "ka", EnrollmentState: Enrolled, Active: true},
		{AccountID: a.ID, Name: "Q", KeyHash: "kp", EnrollmentState: Pending, Active: true},
		{AccountID: b.ID, Name: "P", KeyHash: "kb", EnrollmentState: Enrolled, Active: true}} {
		if _, err := s.CreatePackage(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	lab, err := s.CreateGroup(ctx, Group{AccountID: a.ID, Name: "Lab", Kind: policy.GroupDevice, Active: true, CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	// pc00..pc11 in Acme (pc09..pc11 pending), pc00..pc02 in Lab, pc04 aliased "Front desk"; one in Other.
	for i := range 12 {
		key := "ka"
		if i >= 9 {
			key = "kp"
		}
		res, err := s.Enroll(ctx, EnrollParams{KeyHash: key, PublicKey: fmt.Sprintf("PUB%02d", i), Now: now,
			Inventory: Inventory{Hostname: fmt.Sprintf("pc%02d", i), OS: []string{"linux", "windows"}[i%2]}})
		if err != nil {
			t.Fatal(err)
		}
		if i < 3 {
			if err := s.AddGroupMember(ctx, lab.ID, res.Device.ID); err != nil {
				t.Fatal(err)
			}
		}
		if i == 4 {
			if err := s.SetDeviceAlias(ctx, res.Device.ID, "Front desk"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.Enroll(ctx, EnrollParams{KeyHash: "kb", PublicKey: "PUBX", Now: now, Inventory: Inventory{Hostname: "pc00"}}); err != nil {
		t.Fatal(err)
	}
	check := func(raw string, wantTotal int, want ...string) {
		t.Helper()
		v, _ := url.ParseQuery(raw)
		q, err := listing.Parse(v, DeviceColumns)
		if err != nil {
			t.Fatal(err)
		}
		ds, total, err := s.DevicesPage(ctx, a.ID, q)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.Hostname)
		}
		if total != wantTotal || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: %v of %d, want %v of %d", raw, got, total, want, wantTotal)
		}
	}
	check("size=10&page=2", 12, "pc10", "pc11")
	// By name: the alias sorts as "Front desk" (before the pc names).
	check("size=10", 12, "pc04", "pc00", "pc01", "pc02", "pc03", "pc05", "pc06", "pc07", "pc08", "pc09")
	check("v.state=pending", 3, "pc09", "pc10", "pc11")
	check("v.groups=Lab&v.os=windows", 1, "pc01")
	check("v.groups=&v.state=enrolled&size=10", 6, "pc04", "pc03", "pc05", "pc06", "pc07", "pc08")
	check("f.name=front", 1, "pc04")
	check("sort=-hostname&size=10&f.hostname=pc0", 10, "pc09", "pc08", "pc07", "pc06", "pc05", "pc04", "pc03", "pc02", "pc01", "pc00")
}

func TestGroupsPage(t *testing.T) { storetest.Run(t, testGroupsPage) }

func testGroupsPage(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Unix(1_800_000_000, 0).UTC()
	a, _ := s.CreateAccount(ctx, Account{Name: "Acme", CreatedAt: now})
	b, _ := s.CreateAccount(ctx, Account{Name: "Other", CreatedAt: now})
	// 12 groups g00..g11: every third is a device group, every fourth an
	// LDAP group, odd ones inactive, even ones described; g00 has 3 members.
	var ids []string
	for i := range 3 {
		u, err := s.CreateUser(ctx, User{Email: fmt.Sprintf("m%d@example.com", i), PasswordHash: "h", CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddMembership(ctx, Membership{AccountID: a.ID, UserID: u.ID, Type: Member, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	for i := range 12 {
		kind := policy.GroupUser
		switch {
		case i%3 == 0 && i > 0:
			kind = policy.GroupDevice
		case i%4 == 0 && i > 0:
			kind = policy.GroupLDAP
		}
		desc := ""
		if i%2 == 0 {
			desc = fmt.Sprintf("Desc %d", i)
		}
		g, err := s.CreateGroup(ctx, Group{AccountID: a.ID, Name: fmt.Sprintf("g%02d", i), Description: desc, Kind: kind, Active: i%2 == 0, CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			for _, id := range ids {
				if err := s.AddGroupMember(ctx, g.ID, id); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := s.CreateGroup(ctx, Group{AccountID: b.ID, Name: "g99", Kind: policy.GroupUser, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	check := func(raw string, wantTotal int, want ...string) {
		t.Helper()
		v, _ := url.ParseQuery(raw)
		q, err := listing.Parse(v, GroupColumns)
		if err != nil {
			t.Fatal(err)
		}
		list, total, err := s.GroupsPage(ctx, a.ID, q)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var got []string
		for _, g := range list {
			got = append(got, fmt.Sprintf("%s:%d", g.Name, g.Members))
		}
		if total != wantTotal || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: %v of %d, want %v of %d", raw, got, total, want, wantTotal)
		}
	}
	// The built-ins list with the stored groups; Everyone counts the members.
	check("size=10", 14, "Everyone:3", "Everything:0", "g00:3", "g01:0", "g02:0", "g03:0", "g04:0", "g05:0", "g06:0", "g07:0")
	check("size=10&page=2", 14, "g08:0", "g09:0", "g10:0", "g11:0")
	check("v.type=device", 4, "Everything:0", "g03:0", "g06:0", "g09:0")
	check("v.type=ldap_user&v.active=no", 0)
	check("v.type=ldap_user", 2, "g04:0", "g08:0")
	check("v.description=&v.active=yes", 2, "Everyone:3", "Everything:0") // Blanks and a value at once
	check("f.description=DESC 1", 1, "g10:0")
	check("sort=-members&size=10&v.type=user", 8, "Everyone:3", "g00:3", "g01:0", "g02:0", "g05:0", "g07:0", "g10:0", "g11:0")
	check("f.name=g99", 0) // another account's group never shows
}

func TestRolesPage(t *testing.T) { storetest.Run(t, testRolesPage) }

func testRolesPage(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Unix(1_800_000_000, 0).UTC()
	a, _ := s.CreateAccount(ctx, Account{Name: "Acme", CreatedAt: now})
	b, _ := s.CreateAccount(ctx, Account{Name: "Other", CreatedAt: now})
	// 8 custom roles r0..r7: odd ones disabled, even ones described, r0, r3
	// and r6 OnDemand; an apostrophe in a name is only data.
	for i := range 8 {
		typ := policy.RoleDevice
		if i%3 == 0 {
			typ = policy.RoleOnDemand
		}
		desc := ""
		if i%2 == 0 {
			desc = fmt.Sprintf("Desc %d", i)
		}
		if _, err := s.CreateRole(ctx, RoleRow{AccountID: a.ID, Role: policy.Role{Name: fmt.Sprintf("r%d'", i), Description: desc, Type: typ, Enabled: i%2 == 0}, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateRole(ctx, RoleRow{AccountID: b.ID, Role: policy.Role{Name: "theirs", Type: policy.RoleDevice}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, r := range policy.PredefinedRoles() {
		names[r.ID] = r.Name
	}
	rs, _ := s.Roles(ctx, a.ID)
	for _, r := range rs {
		names[r.Role.ID] = r.Role.Name
	}
	check := func(raw string, wantTotal int, want ...string) {
		t.Helper()
		v, _ := url.ParseQuery(raw)
		q, err := listing.Parse(v, RoleColumns)
		if err != nil {
			t.Fatal(err)
		}
		list, total, err := s.RolesPage(ctx, a.ID, q)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var got []string
		for _, r := range list {
			n := names[r.ID]
			if r.Predefined {
				n += "*"
			}
			got = append(got, n)
		}
		if total != wantTotal || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: %v of %d, want %v of %d", raw, got, total, want, wantTotal)
		}
	}
	// The predefined roles list first by default, then the account's own.
	check("size=10", 12, "Administrator*", "Confirm Access Required*", "Full Access*", "Web Support*", "r0'", "r1'", "r2'", "r3'", "r4'", "r5'")
	check("size=10&page=2", 12, "r6'", "r7'")
	check("v.predefined=no&v.enabled=no", 4, "r1'", "r3'", "r5'", "r7'")
	check("v.type=ondemand", 4, "Full Access*", "r0'", "r3'", "r6'")
	check("v.description=&v.predefined=no", 4, "r1'", "r3'", "r5'", "r7'") // Blanks
	check("f.name=R2'", 1, "r2'")
	check("f.description=browser", 2, "Administrator*", "Web Support*")
	check("sort=-name&v.predefined=no", 8, "r7'", "r6'", "r5'", "r4'", "r3'", "r2'", "r1'", "r0'")
	check("sort=type&v.enabled=yes&v.predefined=no", 4, "r2'", "r4'", "r0'", "r6'")
	check("f.name='&size=10", 8, "r0'", "r1'", "r2'", "r3'", "r4'", "r5'", "r6'", "r7'") // an apostrophe is only text
}

func TestAppsPage(t *testing.T) { storetest.Run(t, testAppsPage) }

func testAppsPage(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Unix(1_800_000_000, 0).UTC()
	a, _ := s.CreateAccount(ctx, Account{Name: "Acme", CreatedAt: now})
	b, _ := s.CreateAccount(ctx, Account{Name: "Other", CreatedAt: now})
	// 12 applications a00..a11: odd ones disabled and without a path.
	names := map[string]string{}
	for i := range 12 {
		app := policy.App{Name: fmt.Sprintf("a%02d", i), Enabled: i%2 == 0, Executable: fmt.Sprintf("x%d.exe", i%3)}
		if i%2 == 0 {
			app.Path = `C:\Tools`
		}
		got, err := s.CreateApp(ctx, a.ID, app)
		if err != nil {
			t.Fatal(err)
		}
		names[got.ID] = got.Name
	}
	if _, err := s.CreateApp(ctx, b.ID, policy.App{Name: "theirs", Executable: "x0.exe"}); err != nil {
		t.Fatal(err)
	}
	check := func(raw string, wantTotal int, want ...string) {
		t.Helper()
		v, _ := url.ParseQuery(raw)
		q, err := listing.Parse(v, AppColumns)
		if err != nil {
			t.Fatal(err)
		}
		ids, total, err := s.AppsPage(ctx, a.ID, q)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var got []string
		for _, id := range ids {
			got = append(got, names[id])
		}
		if total != wantTotal || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: %v of %d, want %v of %d", raw, got, total, want, wantTotal)
		}
	}
	check("size=10&page=2", 12, "a10", "a11")
	check("v.path=&v.executable=x0.exe", 2, "a03", "a09") // Blanks and a value
	check("v.enabled=yes&f.path=tools&sort=-name", 6, "a10", "a08", "a06", "a04", "a02", "a00")
	check(`f.path=c:\`, 6, "a00", "a02", "a04", "a06", "a08", "a10") // a backslash is only text
	check("sort=executable&v.enabled=no", 6, "a03", "a09", "a01", "a07", "a05", "a11")
}

func TestPackagesPage(t *testing.T) { storetest.Run(t, testPackagesPage) }

func testPackagesPage(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Unix(1_800_000_000, 0).UTC()
	a, _ := s.CreateAccount(ctx, Account{Name: "Acme", CreatedAt: now})
	b, _ := s.CreateAccount(ctx, Account{Name: "Other", CreatedAt: now})
	// p0..p5: odd ones need approval, p0 and p1 in group Lab, p2 expires,
	// p3 has at most 5 devices, p4 is revoked; p0 has 3 devices, p1 one.
	lab, err := s.CreateGroup(ctx, Group{AccountID: a.ID, Name: "Lab", Kind: policy.GroupDevice, Active: true, CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 6 {
		p := Package{AccountID: a.ID, Name: fmt.Sprintf("p%d", i), KeyHash: fmt.Sprintf("k%d", i), EnrollmentState: Enrolled, Active: true}
		if i%2 == 1 {
			p.EnrollmentState = Pending
		}
		if i < 2 {
			p.DeviceGroup = lab.ID
		}
		if i == 2 {
			p.ValidTo = now.Add(time.Hour)
		}
		if i == 3 {
			p.MaxDevices = 5
		}
		got, err := s.CreatePackage(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got.ID)
	}
	if _, err := s.CreatePackage(ctx, Package{AccountID: b.ID, Name: "p9", KeyHash: "kb", EnrollmentState: Enrolled, Active: true}); err != nil {
		t.Fatal(err)
	}
	for i, key := range []string{"k0", "k0", "k0", "k1"} {
		if _, err := s.Enroll(ctx, EnrollParams{KeyHash: key, PublicKey: fmt.Sprintf("PUB%d", i), Now: now,
			Inventory: Inventory{Hostname: fmt.Sprintf("pc%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RevokePackage(ctx, a.ID, ids[4]); err != nil {
		t.Fatal(err)
	}
	check := func(raw string, wantTotal int, want ...string) {
		t.Helper()
		v, _ := url.ParseQuery(raw)
		q, err := listing.Parse(v, PackageColumns)
		if err != nil {
			t.Fatal(err)
		}
		ps, total, err := s.PackagesPage(ctx, a.ID, q)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, fmt.Sprintf("%s:%d", p.Name, p.Devices))
		}
		if total != wantTotal || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: %v of %d, want %v of %d", raw, got, total, want, wantTotal)
		}
	}
	check("", 6, "p0:3", "p1:1", "p2:0", "p3:0", "p4:0", "p5:0")
	check("page=2", 6)
	check("v.group=&v.approval=pending", 2, "p3:0", "p5:0") // Blanks and a value
	check("sort=-devices&v.approval=automatic", 3, "p0:3", "p2:0", "p4:0")
	check("v.state=revoked", 1, "p4:0")
	check("sort=expires&f.name=p", 6, "p2:0", "p0:3", "p1:1", "p3:0", "p4:0", "p5:0") // no expiry last
	check("sort=-max&v.group=Lab", 2, "p0:3", "p1:1")
	check("f.name=%25", 0) // a percent sign is only text
}
