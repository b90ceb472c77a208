package remote

// fyneNotch is the scroll delta Fyne reports for one wheel notch: GLFW's
// offset times Fyne's scrollSpeed, 10 on macOS.
const fyneNotch = 10
