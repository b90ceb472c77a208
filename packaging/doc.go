// Package packaging builds Tandem's installers: deb and rpm packages for the
// Host, the relay and the Guest (with nfpm as a library), and the Host's MSI
// (with wixl from Debian's msitools). The recipes' files live next to it:
// linux/ (systemd units, maintainer scripts, desktop entry), windows/ (the
// WiX source) and macos/ (the pkg recipe). cmd/tandem-pkg is its command
// and `make packages` runs it into dist/.
package packaging
