// Package version holds the build's version, stamped by the Makefile with
// -ldflags "-X github.com/tandem-rc/tandem/internal/version.Version=...".
package version

// Version is "dev" for builds without stamping.
var Version = "dev"
