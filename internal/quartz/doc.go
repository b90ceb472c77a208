// Package quartz binds the few CoreGraphics, CoreFoundation and
// ApplicationServices functions the macOS Host needs (screen capture,
// display list, event posting, TCC checks) through
// github.com/ebitengine/purego: no cgo, so a darwin build of tandem-host
// cross-compiles from Linux with its real capture and input and runs on a
// Mac unchanged. The frameworks are loaded on first use; Load reports a
// missing framework or symbol as an error instead of panicking.
//
// Only quartz_darwin.go has code; elsewhere the package is empty.
package quartz
