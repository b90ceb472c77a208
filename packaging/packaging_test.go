package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPackageVersion(t *testing.T) {
	for _, c := range []struct{ in, ver, pre, meta string }{
		{"v1.2.3", "1.2.3", "", ""},
		{"1.2.3", "1.2.3", "", ""},
		{"v1.2.3-rc1", "1.2.3", "rc1", ""},
		{"v1.2.3-4-g1a2b3c4", "1.2.3", "", "git4.1a2b3c4"},
		{"v1.2.3-4-g1a2b3c4-dirty", "1.2.3", "", "git4.1a2b3c4.dirty"},
		{"v1.2.3-dirty", "1.2.3", "dirty", ""},
		{"17180b9-dirty", "0.0.0", "git.17180b9.dirty", ""},
		{"dev", "0.0.0", "git.dev", ""},
		{"", "0.0.0", "git.dev", ""},
		{"a b/c", "0.0.0", "git.a.b.c", ""},
	} {
		ver, pre, meta := PackageVersion(c.in)
		if ver != c.ver || pre != c.pre || meta != c.meta {
			t.Errorf("PackageVersion(%q) = %q, %q, %q; want %q, %q, %q", c.in, ver, pre, meta, c.ver, c.pre, c.meta)
		}
	}
}

// fakeBins writes stand-ins for the Linux binaries (the real ones are
// packaged by make packages and installed by scripts/test-packages.sh).
func fakeBins(t *testing.T) string {
	dir := t.TempDir()
	for _, n := range LinuxPackages {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\necho "+n+" placeholder\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBuildLinux(t *testing.T) {
	o := Options{Version: "v1.2.3-4-g1a2b3c4", BinDir: fakeBins(t), Dir: ".", OutDir: t.TempDir()}
	out, err := o.BuildLinux(LinuxPackages, LinuxFormats)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"tandem-host_1.2.3+git4.1a2b3c4-1_amd64.deb":   true,
		"tandem-host-1.2.3+git4.1a2b3c4-1.x86_64.rpm":  true,
		"tandem-relay_1.2.3+git4.1a2b3c4-1_amd64.deb":  true,
		"tandem-relay-1.2.3+git4.1a2b3c4-1.x86_64.rpm": true,
		"tandem-guest_1.2.3+git4.1a2b3c4-1_amd64.deb":  true,
		"tandem-guest-1.2.3+git4.1a2b3c4-1.x86_64.rpm": true,
	}
	for _, p := range out {
		if !want[filepath.Base(p)] {
			t.Errorf("unexpected package %s", filepath.Base(p))
		}
		delete(want, filepath.Base(p))
	}
	for p := range want {
		t.Errorf("missing package %s", p)
	}
	contents := map[string][]string{
		"tandem-host": {"/usr/bin/tandem-host", "/lib/systemd/system/tandem-host.service", "/etc/tandem",
			"/usr/share/doc/tandem-host/enroll.conf.example"},
		"tandem-relay": {"/usr/bin/tandem-relay", "/lib/systemd/system/tandem-relay.service", "/etc/default/tandem-relay", "/var/lib/tandem"},
		"tandem-guest": {"/usr/bin/tandem-guest", "/usr/share/applications/tandem-guest.desktop",
			"/usr/share/icons/hicolor/scalable/apps/tandem-guest.svg"},
	}
	for _, p := range out {
		name := strings.SplitN(strings.SplitN(filepath.Base(p), "_", 2)[0], "-1.", 2)[0]
		name = strings.TrimSuffix(name, "-1.2.3+git4.1a2b3c4")
		var list []byte
		switch {
		case strings.HasSuffix(p, ".deb"):
			if _, err := exec.LookPath("dpkg-deb"); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("no dpkg-deb in CI: scripts/deps.sh installs it")
				}
				t.Log("no dpkg-deb: not listing", p)
				continue
			}
			list, err = exec.Command("dpkg-deb", "-c", p).Output()
		default:
			if _, err := exec.LookPath("rpm"); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("no rpm in CI: scripts/deps.sh installs it")
				}
				t.Log("no rpm: not listing", p)
				continue
			}
			list, err = exec.Command("rpm", "-qlp", p).Output()
		}
		if err != nil {
			t.Fatalf("list %s: %v", p, err)
		}
		for _, f := range contents[name] {
			if !strings.Contains(string(list), f) {
				t.Errorf("%s lacks %s:\n%s", filepath.Base(p), f, list)
			}
		}
	}
}

// The maintainer scripts are POSIX sh.
func TestScriptsParse(t *testing.T) {
	scripts, _ := filepath.Glob("linux/*/post*")
	pre, _ := filepath.Glob("linux/*/pre*")
	scripts = append(scripts, pre...)
	if len(scripts) < 6 {
		t.Fatalf("found only %v", scripts)
	}
	for _, s := range scripts {
		if out, err := exec.Command("sh", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
	}
}

// TestRelayUnitLimits: the relay's unit raises its file descriptor limit
// in [Service] (one descriptor per connection; the default 1024 is hit
// long before the connection caps).
func TestRelayUnitLimits(t *testing.T) {
	b, err := os.ReadFile("linux/relay/tandem-relay.service")
	if err != nil {
		t.Fatal(err)
	}
	_, service, ok := strings.Cut(string(b), "[Service]\n")
	service, _, _ = strings.Cut(service, "\n[")
	if !ok || !strings.Contains("\n"+service, "\nLimitNOFILE=65536\n") {
		t.Fatalf("no LimitNOFILE=65536 in [Service]:\n%s", b)
	}
}

// msiTable is one table of the MSI as msiinfo exports it.
func msiTable(t *testing.T, msi, table string) string {
	t.Helper()
	out, err := exec.Command("msiinfo", "export", msi, table).CombinedOutput()
	if err != nil {
		t.Fatalf("msiinfo export %s: %v\n%s", table, err, out)
	}
	return string(out)
}

// TestMSI builds the MSI around a PLACEHOLDER exe (not a Windows binary: the
// real one is cross-built by make packages) and inspects its tables.
func TestMSI(t *testing.T) {
	for _, tool := range []string{"wixl", "msibuild", "msiinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("no %s in CI: scripts/deps.sh test installs msitools and wixl", tool)
			}
			t.Skipf("no %s (apt-get install msitools wixl)", tool)
		}
	}
	placeholder := filepath.Join(t.TempDir(), "placeholder-not-a-windows-binary.exe")
	if err := os.WriteFile(placeholder, []byte("placeholder for the MSI inspection test"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{Version: "v1.2.3", Dir: ".", OutDir: t.TempDir()}
	msi, err := o.BuildMSI(placeholder)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(msi) != "tandem-host-1.2.3-x64.msi" {
		t.Errorf("name %s", filepath.Base(msi))
	}
	CheckMSI(t, msi, "1.2.3")
}

// CheckMSI asserts the MSI's service, properties, custom actions and upgrade
// code (also used on the real MSI by scripts/test-packages.sh via go test).
func CheckMSI(t *testing.T, msi, version string) {
	t.Helper()
	svc := msiTable(t, msi, "ServiceInstall")
	for _, w := range []string{"\ttandem-host\t", "run --service tandem-host --config \"[CommonAppDataFolder]Tandem\"", "LocalSystem"} {
		if !strings.Contains(svc, w) {
			t.Errorf("ServiceInstall lacks %q:\n%s", w, svc)
		}
	}
	// 16 own process, 2 auto start.
	if !strings.Contains(svc, "\t16\t2\t1\t") {
		t.Errorf("ServiceInstall: not an auto-start own-process service:\n%s", svc)
	}
	// 162 = stop on install and uninstall (0x02|0x20), delete on uninstall (0x80).
	if sc := msiTable(t, msi, "ServiceControl"); !strings.Contains(sc, "tandem-host\t162\t") {
		t.Errorf("ServiceControl: want stop both + remove on uninstall (162):\n%s", sc)
	}
	props := msiTable(t, msi, "Property")
	for _, w := range []string{"UpgradeCode\t{" + UpgradeCode + "}", "ProductVersion\t" + version,
		"SecureCustomProperties\tWIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;RELAYURL;ENROLLMENTKEY",
		"MsiHiddenProperties\tENROLLMENTKEY"} {
		if !strings.Contains(props, w) {
			t.Errorf("Property lacks %q:\n%s", w, props)
		}
	}
	ca := msiTable(t, msi, "CustomAction")
	for _, w := range []string{
		"EnrollHost\t11346\tTandemHostExe\tenroll --relay \"[RELAYURL]\" --key \"[ENROLLMENTKEY]\"",
		"StartHost\t3154\tTandemHostExe\tstart",
		"UninstallHost\t3154\tTandemHostExe\tuninstall",
	} {
		if !strings.Contains(ca, w) {
			t.Errorf("CustomAction lacks %q:\n%s", w, ca)
		}
	}
	seq := msiTable(t, msi, "InstallExecuteSequence")
	for _, w := range []string{"EnrollHost\tRELAYURL AND ENROLLMENTKEY AND NOT REMOVE~=\"ALL\"",
		"UninstallHost\tREMOVE~=\"ALL\" AND NOT UPGRADINGPRODUCTCODE", "RemoveExistingProducts"} {
		if !strings.Contains(seq, w) {
			t.Errorf("InstallExecuteSequence lacks %q:\n%s", w, seq)
		}
	}
	// The old version goes after the new one is in (afterInstallExecute):
	// PublishProduct < InstallExecute < RemoveExistingProducts < InstallFinalize.
	at := map[string]int{}
	for _, line := range strings.Split(seq, "\n") {
		if f := strings.Split(strings.TrimSpace(line), "\t"); len(f) == 3 {
			at[f[0]], _ = strconv.Atoi(f[2])
		}
	}
	order := []string{"InstallServices", "PublishProduct", "InstallExecute", "RemoveExistingProducts", "InstallFinalize"}
	for i := 1; i < len(order); i++ {
		if a, b := at[order[i-1]], at[order[i]]; a == 0 || b == 0 || a >= b {
			t.Errorf("InstallExecuteSequence: %s (%d) must come before %s (%d):\n%s", order[i-1], a, order[i], b, seq)
		}
	}
	if !strings.Contains(ca, "uninstall --config \"[CommonAppDataFolder]Tandem\" --msi-upgrade-code [UpgradeCode] --msi-product [ProductCode]") {
		t.Errorf("UninstallHost does not tell Windows Installer's upgrade from an uninstall:\n%s", ca)
	}
	if up := msiTable(t, msi, "Upgrade"); !strings.Contains(up, "{"+UpgradeCode+"}") || !strings.Contains(up, "WIX_UPGRADE_DETECTED") {
		t.Errorf("Upgrade table:\n%s", up)
	}
	if f := msiTable(t, msi, "File"); !strings.Contains(f, "tandem-host.exe") {
		t.Errorf("File table lacks tandem-host.exe:\n%s", f)
	}
}

// TestDistMSI inspects a real MSI (make test-packages sets TANDEM_TEST_MSI
// to dist/'s): its tables, and that it carries a Windows executable.
func TestDistMSI(t *testing.T) {
	msi := os.Getenv("TANDEM_TEST_MSI")
	if msi == "" {
		t.Skip("TANDEM_TEST_MSI not set (make test-packages sets it)")
	}
	CheckMSI(t, msi, MSIVersion(os.Getenv("TANDEM_TEST_VERSION")))
	dir := t.TempDir()
	if out, err := exec.Command("msiextract", "-C", dir, msi).CombinedOutput(); err != nil {
		t.Fatalf("msiextract: %v\n%s", err, out)
	}
	var exe string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Name() == "tandem-host.exe" {
			exe = p
		}
		return nil
	})
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatalf("no tandem-host.exe in the MSI: %v", err)
	}
	if len(b) < 1<<20 || string(b[:2]) != "MZ" {
		t.Errorf("tandem-host.exe in the MSI is not a Windows executable (%d bytes)", len(b))
	}
}

// TestMacOSRecipe lints the pkg recipe where it cannot be built: the plists
// parse (python3's plistlib, as plutil -lint would) and name the service
// kardianos/service manages; the scripts parse.
func TestMacOSRecipe(t *testing.T) {
	for _, s := range []string{"macos/build.sh", "macos/uninstall.sh", "macos/scripts/preinstall", "macos/scripts/postinstall"} {
		if out, err := exec.Command("sh", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
		if st, err := os.Stat(s); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
	}
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no python3 in CI: scripts/deps.sh test installs it")
		}
		t.Skip("no python3 to lint the plists")
	}
	const lint = `import plistlib, sys, xml.dom.minidom
d = plistlib.load(open(sys.argv[1], "rb"))
print(d["Label"], " ".join(d["ProgramArguments"]) + (" DISABLED" if d.get("Disabled") else ""))
xml.dom.minidom.parse(sys.argv[2])`
	for plist, want := range map[string]string{
		"macos/tandem-host.plist":       "tandem-host /usr/local/bin/tandem-host run --service tandem-host --config /Library/Application Support/Tandem",
		"macos/tandem-host-agent.plist": "tandem-host-agent /usr/local/bin/tandem-host session-agent",
	} {
		out, err := exec.Command("python3", "-c", lint, plist, "macos/distribution.xml").CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", plist, err, out)
			continue
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("%s: got %q, want %q", plist, got, want)
		}
	}
}

// TestPublishExe: the Windows exe lands next to the MSI under the name a
// relay's download page looks for.
func TestPublishExe(t *testing.T) {
	src := filepath.Join(t.TempDir(), "tandem-host.exe")
	if err := os.WriteFile(src, []byte("MZ exe bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{Version: "v1.2.3-rc.1+git.abc", OutDir: filepath.Join(t.TempDir(), "dist")}
	p, err := o.PublishExe(src)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != "tandem-host-1.2.3~rc.1.git.abc-x64.exe" {
		t.Errorf("name %s", filepath.Base(p))
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "MZ exe bytes" {
		t.Errorf("content %q, %v", b, err)
	}
	if _, err := o.PublishExe(filepath.Join(t.TempDir(), "missing.exe")); err == nil {
		t.Error("a missing exe published")
	}
	if ents, _ := os.ReadDir(o.OutDir); len(ents) != 1 {
		t.Errorf("%d files in dist, want only the exe (no .tmp left)", len(ents))
	}
}
