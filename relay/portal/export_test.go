package portal

// LocalNext exposes localNext to the external tests.
var LocalNext = localNext
