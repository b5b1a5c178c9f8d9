package cloudidentity

import "testing"

const forumQuery = " && 'cloudidentity.googleapis.com/groups.discussion_forum' in labels"

func FuzzParseIdentityQuery(f *testing.F) {
	for _, s := range []string{"member_key_id == 'a@b.c'" + forumQuery, "parent == 'customers/C1'", "'x' in labels", "==", "' in labels", "&&&&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		_, _ = parseIdentityQuery(q)
	})
}
