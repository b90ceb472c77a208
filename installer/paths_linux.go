package installer

// systemConfigDir is where an installed Host keeps its configuration.
func systemConfigDir() (string, error) { return "/etc/tandem", nil }
