package scripted

// systemSuffix is how the default echo shows the system turns it was given
// (engine.Spec.System): " [system: a] [system: b]", "" for none.
func systemSuffix(system []string) string {
	s := ""
	for _, t := range system {
		s += " [system: " + t + "]"
	}
	return s
}
