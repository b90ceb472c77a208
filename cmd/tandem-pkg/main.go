// Command tandem-pkg builds Tandem's installers into dist/ (see package
// packaging): `make packages` runs it after building the binaries.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tandem-rc/tandem/packaging"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tandem-pkg:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("tandem-pkg", flag.ContinueOnError)
	var o packaging.Options
	var formats, names, hostExe string
	fs.StringVar(&o.Version, "version", "dev", "version stamped into the binaries (git describe)")
	fs.StringVar(&o.BinDir, "bin", "bin", "directory with the Linux binaries")
	fs.StringVar(&o.Dir, "recipes", "packaging", "the packaging/ directory (recipes)")
	fs.StringVar(&o.OutDir, "out", "dist", "output directory")
	fs.StringVar(&o.Arch, "arch", "amd64", "target architecture (GOARCH)")
	fs.StringVar(&formats, "formats", "deb,rpm", "comma-separated: deb, rpm, msi")
	fs.StringVar(&names, "packages", strings.Join(packaging.LinuxPackages, ","), "Linux packages to build")
	fs.StringVar(&hostExe, "host-exe", "bin/windows/tandem-host.exe", "the Windows Host binary for the MSI")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("no arguments expected")
	}
	var linux []string
	msi := false
	for _, f := range strings.Split(formats, ",") {
		switch f = strings.TrimSpace(f); f {
		case "deb", "rpm":
			linux = append(linux, f)
		case "msi":
			msi = true
		case "":
		default:
			return fmt.Errorf("unknown format %q", f)
		}
	}
	if len(linux) > 0 {
		out, err := o.BuildLinux(strings.Split(names, ","), linux)
		for _, p := range out {
			fmt.Println(p)
		}
		if err != nil {
			return err
		}
	}
	if msi {
		p, err := o.BuildMSI(hostExe)
		if err != nil {
			return err
		}
		fmt.Println(p)
		if p, err = o.PublishExe(hostExe); err != nil {
			return err
		}
		fmt.Println(p)
	}
	return nil
}
