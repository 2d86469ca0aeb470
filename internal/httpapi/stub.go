package httpapi

import "github.com/hangar-dev/hangar"

// errNotImplemented answers routes whose handlers are not written yet.
var errNotImplemented = hangar.Errorf(hangar.KindNotFound, "not implemented yet")
