package dream

import (
	"strings"
	"unicode/utf8"

	"github.com/hangar-dev/hangar"
)

// validate checks the model's memories as the memory API checks a client's: absolute,
// clean paths of at most MaxMemoryPath bytes, no duplicates, no path that is another's
// ancestor, content of at most MaxMemoryContent bytes of UTF-8.
func validate(files []File) error {
	seen := map[string]bool{}
	for _, f := range files {
		p := f.Path
		if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || len(p) > hangar.MaxMemoryPath || strings.Contains(p, "//") {
			return failf("api_error", "the model returned an invalid memory path %q", p)
		}
		for _, seg := range strings.Split(p[1:], "/") {
			if seg == "." || seg == ".." {
				return failf("api_error", "the model returned an invalid memory path %q", p)
			}
		}
		if len(f.Content) > hangar.MaxMemoryContent || !utf8.ValidString(f.Content) {
			return failf("api_error", "the model returned memory %s larger than %d bytes or not UTF-8", p, hangar.MaxMemoryContent)
		}
		if seen[p] {
			return failf("api_error", "the model returned memory %s twice", p)
		}
		seen[p] = true
	}
	for p := range seen {
		for dir := p; ; {
			i := strings.LastIndex(dir, "/")
			if i <= 0 {
				break
			}
			dir = dir[:i]
			if seen[dir] {
				return failf("api_error", "the model returned both %s and %s inside it", dir, p)
			}
		}
	}
	return nil
}
