package directory

import (
	"testing"

	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

func FuzzParseDirectoryQuery(f *testing.F) {
	for _, s := range []string{"memberKey=a@b", "email:sup* name='a \\' b'", "name='", "x", ":", "=", "email:*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		clauses, err := parseDirectoryQuery(q)
		if err != nil {
			return
		}
		matchesGroup(world.Group{Email: "a@b", DisplayName: "A", Members: []string{"user:c@d"}}, clauses)
	})
}
