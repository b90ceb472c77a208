//go:build !darwin

package remote

// fyneNotch is the scroll delta Fyne reports for one wheel notch: GLFW's
// offset times Fyne's scrollSpeed, 25 outside macOS.
const fyneNotch = 25
