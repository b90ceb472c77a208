package installer

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

var procMsiEnumRelatedProductsW = windows.NewLazySystemDLL("msi.dll").NewProc("MsiEnumRelatedProductsW")

// UpgradedBy is the product code of another installed version of the MSI
// family upgradeCode than product (the one being removed): its removal is
// then the old half of a major upgrade, which must keep the service and
// the identity. Windows says so with UPGRADINGPRODUCTCODE (the MSI's
// condition); Wine 8's RemoveExistingProducts removes the old product as
// a plain "msiexec /i {old} REMOVE=ALL" without it, so the uninstall asks
// Windows Installer itself. The MSI removes old versions after installing
// the new one (afterInstallExecute), so the new one is registered by then.
func UpgradedBy(upgradeCode, product string) (string, error) {
	uc, err := windows.UTF16PtrFromString(upgradeCode)
	if err != nil {
		return "", err
	}
	for i := uint32(0); i < 64; i++ {
		buf := make([]uint16, 39) // a GUID in braces and its NUL
		r, _, _ := procMsiEnumRelatedProductsW.Call(uintptr(unsafe.Pointer(uc)), 0, uintptr(i), uintptr(unsafe.Pointer(&buf[0])))
		switch windows.Errno(r) {
		case windows.ERROR_SUCCESS:
		case windows.ERROR_NO_MORE_ITEMS:
			return "", nil
		default:
			return "", fmt.Errorf("installer: MsiEnumRelatedProducts: %w", windows.Errno(r))
		}
		if code := windows.UTF16ToString(buf); !strings.EqualFold(code, product) {
			return code, nil
		}
	}
	return "", errors.New("installer: MsiEnumRelatedProducts: too many related products")
}
