package quartz

import (
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// CGPoint, CGSize and CGRect are CoreGraphics' geometry (CGFloat is a
// double on 64-bit macOS), passed and returned by value.
type (
	CGPoint struct{ X, Y float64 }
	CGSize  struct{ W, H float64 }
	CGRect  struct {
		Origin CGPoint
		Size   CGSize
	}
)

// Constants from CGWindow.h, CGEventTypes.h, CGEventSource.h, CGImage.h.
const (
	WindowListOptionOnScreenOnly = 1
	NullWindowID                 = 0
	WindowImageNominalResolution = 1 << 4

	EventSourceStateHIDSystemState = 1
	HIDEventTap                    = 0

	EventLeftMouseDown     = 1
	EventLeftMouseUp       = 2
	EventRightMouseDown    = 3
	EventRightMouseUp      = 4
	EventMouseMoved        = 5
	EventLeftMouseDragged  = 6
	EventRightMouseDragged = 7
	EventScrollWheel       = 22
	EventOtherMouseDown    = 25
	EventOtherMouseUp      = 26
	EventOtherMouseDragged = 27

	MouseButtonLeft   = 0
	MouseButtonRight  = 1
	MouseButtonCenter = 2

	ScrollEventUnitLine = 1

	FieldMouseEventClickState     = 1
	FieldMouseEventButtonNumber   = 3
	FieldScrollWheelEventDeltaAx1 = 11
	FieldScrollWheelEventDeltaAx2 = 12

	EventFlagMaskShift     = 1 << 17
	EventFlagMaskControl   = 1 << 18
	EventFlagMaskAlternate = 1 << 19
	EventFlagMaskCommand   = 1 << 20
)

// Functions, bound by Load. Object references (CGImageRef, CFDataRef,
// CGEventRef, CGEventSourceRef) are uintptr: CoreFoundation owns them and
// Go never dereferences them.
var (
	CFRelease        func(ref uintptr)
	CFDataGetLength  func(data uintptr) int
	CFDataGetBytePtr func(data uintptr) unsafe.Pointer

	CGMainDisplayID        func() uint32
	CGGetActiveDisplayList func(max uint32, displays *uint32, count *uint32) int32
	CGDisplayBounds        func(display uint32) CGRect

	CGWindowListCreateImage func(bounds CGRect, listOption, windowID, imageOption uint32) uintptr
	CGImageGetWidth         func(img uintptr) uintptr
	CGImageGetHeight        func(img uintptr) uintptr
	CGImageGetBitsPerPixel  func(img uintptr) uintptr
	CGImageGetBytesPerRow   func(img uintptr) uintptr
	CGImageGetBitmapInfo    func(img uintptr) uint32
	CGImageGetDataProvider  func(img uintptr) uintptr
	CGDataProviderCopyData  func(provider uintptr) uintptr

	CGEventSourceCreate             func(state int32) uintptr
	CGEventCreate                   func(source uintptr) uintptr
	CGEventCreateKeyboardEvent      func(source uintptr, key uint16, down bool) uintptr
	CGEventCreateMouseEvent         func(source uintptr, typ uint32, at CGPoint, button uint32) uintptr
	CGEventGetLocation              func(ev uintptr) CGPoint
	CGEventSetType                  func(ev uintptr, typ uint32)
	CGEventSetFlags                 func(ev uintptr, flags uint64)
	CGEventSetIntegerValueField     func(ev uintptr, field uint32, value int64)
	CGEventKeyboardSetUnicodeString func(ev uintptr, n uintptr, chars *uint16)
	CGEventPost                     func(tap uint32, ev uintptr)

	AXIsProcessTrusted func() bool

	// Optional: nil on a macOS without them.
	// CGPreflightScreenCaptureAccess: macOS 10.15+.
	CGPreflightScreenCaptureAccess func() bool
	// CGEventCreateScrollWheelEvent2: macOS 13+ (the older function is
	// variadic, which purego cannot call on arm64).
	CGEventCreateScrollWheelEvent2 func(source uintptr, units, count uint32, w1, w2, w3 int32) uintptr
)

const (
	coreFoundation      = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
	coreGraphics        = "/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics"
	applicationServices = "/System/Library/Frameworks/ApplicationServices.framework/ApplicationServices"
)

var (
	loadOnce sync.Once
	loadErr  error
)

// Load binds the functions once; every caller gets the same answer.
func Load() error {
	loadOnce.Do(func() { loadErr = load() })
	return loadErr
}

func load() error {
	libs := map[string]uintptr{}
	for _, p := range []string{coreFoundation, coreGraphics, applicationServices} {
		h, err := purego.Dlopen(p, purego.RTLD_LAZY|purego.RTLD_GLOBAL)
		if err != nil {
			return fmt.Errorf("quartz: loading %s: %w", p, err)
		}
		libs[p] = h
	}
	for _, f := range []struct {
		lib, name string
		fn        any
	}{
		{coreFoundation, "CFRelease", &CFRelease},
		{coreFoundation, "CFDataGetLength", &CFDataGetLength},
		{coreFoundation, "CFDataGetBytePtr", &CFDataGetBytePtr},
		{coreGraphics, "CGMainDisplayID", &CGMainDisplayID},
		{coreGraphics, "CGGetActiveDisplayList", &CGGetActiveDisplayList},
		{coreGraphics, "CGDisplayBounds", &CGDisplayBounds},
		{coreGraphics, "CGWindowListCreateImage", &CGWindowListCreateImage},
		{coreGraphics, "CGImageGetWidth", &CGImageGetWidth},
		{coreGraphics, "CGImageGetHeight", &CGImageGetHeight},
		{coreGraphics, "CGImageGetBitsPerPixel", &CGImageGetBitsPerPixel},
		{coreGraphics, "CGImageGetBytesPerRow", &CGImageGetBytesPerRow},
		{coreGraphics, "CGImageGetBitmapInfo", &CGImageGetBitmapInfo},
		{coreGraphics, "CGImageGetDataProvider", &CGImageGetDataProvider},
		{coreGraphics, "CGDataProviderCopyData", &CGDataProviderCopyData},
		{coreGraphics, "CGEventSourceCreate", &CGEventSourceCreate},
		{coreGraphics, "CGEventCreate", &CGEventCreate},
		{coreGraphics, "CGEventCreateKeyboardEvent", &CGEventCreateKeyboardEvent},
		{coreGraphics, "CGEventCreateMouseEvent", &CGEventCreateMouseEvent},
		{coreGraphics, "CGEventGetLocation", &CGEventGetLocation},
		{coreGraphics, "CGEventSetType", &CGEventSetType},
		{coreGraphics, "CGEventSetFlags", &CGEventSetFlags},
		{coreGraphics, "CGEventSetIntegerValueField", &CGEventSetIntegerValueField},
		{coreGraphics, "CGEventKeyboardSetUnicodeString", &CGEventKeyboardSetUnicodeString},
		{coreGraphics, "CGEventPost", &CGEventPost},
		{applicationServices, "AXIsProcessTrusted", &AXIsProcessTrusted},
		{coreGraphics, "?CGPreflightScreenCaptureAccess", &CGPreflightScreenCaptureAccess},
		{coreGraphics, "?CGEventCreateScrollWheelEvent2", &CGEventCreateScrollWheelEvent2},
	} {
		name, optional := strings.CutPrefix(f.name, "?")
		// Dlsym first: RegisterLibFunc panics on a missing symbol (an
		// older or newer macOS without it).
		sym, err := purego.Dlsym(libs[f.lib], name)
		if err != nil {
			if optional {
				continue
			}
			return fmt.Errorf("quartz: %s not found in %s: %w", name, f.lib, err)
		}
		purego.RegisterFunc(f.fn, sym)
	}
	return nil
}
