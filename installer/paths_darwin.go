package installer

func systemConfigDir() (string, error) { return "/Library/Application Support/Tandem", nil }
