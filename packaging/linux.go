package packaging

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Linux packages and formats built by BuildLinux.
var (
	LinuxPackages = []string{"tandem-host", "tandem-relay", "tandem-guest"}
	LinuxFormats  = []string{"deb", "rpm"}
)

// Options say where the inputs are and what to stamp.
type Options struct {
	Version string // the build's version, as stamped into the binaries (git describe)
	BinDir  string // holds tandem-host, tandem-relay, tandem-guest built for Linux
	Dir     string // this recipe directory (packaging/)
	OutDir  string // where packages are written (dist/)
	Arch    string // GOARCH; amd64 if empty
	// MTime is stamped on every file (reproducible builds); the Unix
	// epoch of SOURCE_DATE_EPOCH or now if zero.
	MTime time.Time
}

const (
	maintainer = "Tandem developers <tandem@example.org>"
	homepage   = "https://github.com/tandem-rc/tandem"
	license    = "Apache-2.0"
)

var semverRe = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)(.*)$`)
var describeRe = regexp.MustCompile(`^-(\d+)-g([0-9a-f]+)(-dirty)?$`)

// sanitize keeps what both deb and rpm accept in a version part.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.':
			return r
		}
		return '.'
	}, s)
	return strings.Trim(s, ".")
}

// PackageVersion turns a build version (a tag, `git describe` output, a
// bare commit or "dev") into the parts deb and rpm order correctly:
// v1.2.3 → 1.2.3; v1.2.3-rc1 → 1.2.3~rc1; v1.2.3-4-gabc → 1.2.3+git4.gabc
// (after the tag); anything else → 0.0.0~git.<it> (before any release).
func PackageVersion(v string) (version, prerelease, metadata string) {
	v = strings.TrimSpace(v)
	if m := semverRe.FindStringSubmatch(v); m != nil {
		rest := m[2]
		switch d := describeRe.FindStringSubmatch(rest); {
		case rest == "":
		case d != nil:
			metadata = "git" + d[1] + "." + d[2]
			if d[3] != "" {
				metadata += ".dirty"
			}
		case strings.HasPrefix(rest, "+"):
			metadata = sanitize(rest[1:])
		default:
			prerelease = sanitize(rest)
		}
		return m[1], prerelease, metadata
	}
	p := sanitize(v)
	if p == "" {
		p = "dev"
	}
	return "0.0.0", "git." + p, ""
}

// file, dir and config are nfpm contents.
func file(src, dst string, mode os.FileMode) *files.Content {
	return &files.Content{Source: src, Destination: dst, Type: files.TypeFile,
		FileInfo: &files.ContentFileInfo{Mode: mode}}
}

func config(src, dst string, mode os.FileMode) *files.Content {
	return &files.Content{Source: src, Destination: dst, Type: files.TypeConfigNoReplace,
		FileInfo: &files.ContentFileInfo{Mode: mode}}
}

func dir(dst string, mode os.FileMode) *files.Content {
	return &files.Content{Destination: dst, Type: files.TypeDir,
		FileInfo: &files.ContentFileInfo{Mode: mode}}
}

// Info describes one Linux package in one format (before nfpm's defaults).
func (o Options) Info(name, format string) (*nfpm.Info, error) {
	arch := o.Arch
	if arch == "" {
		arch = "amd64"
	}
	ver, pre, meta := PackageVersion(o.Version)
	lin := func(p ...string) string { return filepath.Join(append([]string{o.Dir, "linux"}, p...)...) }
	bin := func(n string) string { return filepath.Join(o.BinDir, n) }
	info := &nfpm.Info{
		Name: name, Arch: arch, Platform: "linux",
		Version: ver, Prerelease: pre, VersionMetadata: meta, VersionSchema: "none", Release: "1",
		Section: "net", Priority: "optional", Maintainer: maintainer, Vendor: "Tandem",
		Homepage: homepage, License: license, MTime: o.MTime,
	}
	scripts := func(d string) nfpm.Scripts {
		return nfpm.Scripts{PostInstall: lin(d, "postinst"), PreRemove: lin(d, "prerm"), PostRemove: lin(d, "postrm")}
	}
	switch name {
	case "tandem-host":
		info.Description = "Tandem Host: lets authorized technicians see and control this computer\n" +
			"The service side of Tandem, a self-hosted remote-control suite. Installing it with\n" +
			"TANDEM_RELAY_URL and TANDEM_ENROLLMENT_KEY in the environment, or with a pre-seeded\n" +
			"/etc/tandem/enroll.conf, enrolls this computer and starts the service."
		info.Depends = []string{"libx11-6", "libxtst6", "libxext6"}
		info.Recommends = []string{"zenity"} // the chat window (agent.DesktopChatUI)
		info.Contents = files.Contents{
			file(bin("tandem-host"), "/usr/bin/tandem-host", 0o755),
			file(lin("host", "tandem-host.service"), "/lib/systemd/system/tandem-host.service", 0o644),
			file(lin("host", "enroll.conf.example"), "/usr/share/doc/tandem-host/enroll.conf.example", 0o644),
			dir("/etc/tandem", 0o700),
		}
		info.Scripts = scripts("host")
		if format == "rpm" { // Fedora/RHEL names of the same libraries
			info.Depends = []string{"libX11", "libXtst", "libXext"}
		}
	case "tandem-relay":
		info.Description = "Tandem relay: enrollment, access decisions, signaling and TURN\n" +
			"The server of Tandem, a self-hosted remote-control suite: one pure-Go binary with\n" +
			"an embedded SQLite store (or PostgreSQL) and an embedded TURN server."
		info.Contents = files.Contents{
			file(bin("tandem-relay"), "/usr/bin/tandem-relay", 0o755),
			file(lin("relay", "tandem-relay.service"), "/lib/systemd/system/tandem-relay.service", 0o644),
			config(lin("relay", "tandem-relay.default"), "/etc/default/tandem-relay", 0o644),
			dir("/var/lib/tandem", 0o750),
		}
		info.Scripts = scripts("relay")
	case "tandem-guest":
		info.Description = "Tandem Guest: the technician's side of Tandem\n" +
			"Log in to a Tandem relay, list devices and open remote-control sessions."
		info.Contents = files.Contents{
			file(bin("tandem-guest"), "/usr/bin/tandem-guest", 0o755),
			file(lin("guest", "tandem-guest.desktop"), "/usr/share/applications/tandem-guest.desktop", 0o644),
			file(lin("guest", "tandem-guest.svg"), "/usr/share/icons/hicolor/scalable/apps/tandem-guest.svg", 0o644),
		}
	default:
		return nil, fmt.Errorf("packaging: unknown package %q", name)
	}
	info.RPM.Summary = strings.SplitN(info.Description, "\n", 2)[0]
	info.RPM.Group = "Applications/Internet"
	return info, nil
}

// BuildLinux writes each named package in each format to OutDir and
// returns the files' paths.
func (o Options) BuildLinux(names, formats []string) ([]string, error) {
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, name := range names {
		for _, format := range formats {
			info, err := o.Info(name, format)
			if err != nil {
				return out, err
			}
			info = nfpm.WithDefaults(info)
			info.Target = format
			if err := nfpm.Validate(info); err != nil {
				return out, fmt.Errorf("packaging: %s %s: %w", name, format, err)
			}
			p, err := nfpm.Get(format)
			if err != nil {
				return out, err
			}
			path := filepath.Join(o.OutDir, p.ConventionalFileName(info))
			if err := writePackage(p, info, path); err != nil {
				return out, fmt.Errorf("packaging: %s %s: %w", name, format, err)
			}
			out = append(out, path)
		}
	}
	return out, nil
}

func writePackage(p nfpm.Packager, info *nfpm.Info, path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := p.Package(info, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
