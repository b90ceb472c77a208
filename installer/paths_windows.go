package installer

import (
	"os"
	"path/filepath"
)

func systemConfigDir() (string, error) {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return filepath.Join(pd, "Tandem"), nil
}
