package emulator

import (
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	admin "google.golang.org/api/admin/directory/v1"

	"github.com/jitaccess/jitaccess/internal/emulator/wire/wiretest"
)

func newTestDirectory(t *testing.T, e *Emulator) *admin.Service {
	t.Helper()
	s, err := admin.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDirectoryGroupsOfAMemberAreDirectOnly: memberKey lists the groups a
// user is a member of directly, as the original's DirectoryGroupsClient
// relied on; nesting does not count.
func TestDirectoryGroupsOfAMemberAreDirectOnly(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestDirectory(t, e)
	emails := func(gs []*admin.Group) []string {
		var out []string
		for _, g := range gs {
			out = append(out, g.Email)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"member_direct_only", "memberKey=erin@example.com", []string{"payments-devs@example.com"}},
		{"group_as_member", "memberKey=sre@example.com", []string{"platform-team@example.com"}},
		{"email_prefix", "email:dev*", []string{"developers@example.com"}},
		{"name_quoted", "name='Site reliability engineering'", []string{"sre@example.com"}},
		{"email_and_name", "email:d* name='Data team'", []string{"data@example.com"}},
		{"no_match", "memberKey=nobody@example.com", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []*admin.Group
			err := s.Groups.List().Customer("C0example1").Query(tc.query).MaxResults(1).Pages(t.Context(), func(r *admin.Groups) error {
				got = append(got, r.Groups...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, emails(got), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
		})
	}
	all, err := s.Groups.List().Customer("my_customer").Context(t.Context()).Do()
	if err != nil || len(all.Groups) != len(e.World.Groups()) || all.Groups[0].Kind != "admin#directory#group" {
		t.Errorf("all groups = %+v, %v", all, err)
	}
	g, err := s.Groups.Get("sre@example.com").Context(t.Context()).Do()
	if err != nil || g.Name != "Site reliability engineering" || g.DirectMembersCount != 2 {
		t.Errorf("get = %+v, %v", g, err)
	}
}

func TestDirectoryMembers(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestDirectory(t, e)
	members := func(call *admin.MembersListCall) []string {
		t.Helper()
		var out []string
		if err := call.Pages(t.Context(), func(r *admin.Members) error {
			for _, m := range r.Members {
				out = append(out, m.Type+" "+m.Email+" "+m.Status+" "+m.Role)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	got := members(s.Members.List("developers@example.com").MaxResults(1))
	want := []string{"GROUP payments-devs@example.com ACTIVE MEMBER", "USER dave@example.com ACTIVE MEMBER"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("direct members (-want +got):\n%s", diff)
	}
	got = members(s.Members.List("developers@example.com").IncludeDerivedMembership(true))
	want = []string{"USER dave@example.com ACTIVE MEMBER", "USER erin@example.com ACTIVE MEMBER"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("derived members (-want +got):\n%s", diff)
	}
	if got := members(s.Members.List("developers@example.com").Roles("OWNER")); len(got) != 0 {
		t.Errorf("owners = %v, want none", got)
	}
}

func TestDirectoryErrors(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestDirectory(t, e)
	ctx := t.Context()
	_, err := s.Groups.List().Context(ctx).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
	_, err = s.Groups.List().Customer("C0unknown").Context(ctx).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
	for _, q := range []string{"memberKey=a@example.com email:x*", "owner=alice", "email:nostar", "name='open", "justtext"} {
		_, err = s.Groups.List().Customer("C0example1").Query(q).Context(ctx).Do()
		_ = wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
	}
	_, err = s.Members.List("nobody@example.com").Context(ctx).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusNotFound, "NOT_FOUND")
	e.World.Faults.Set("directory.groups.list", Fault{Code: 503})
	_, err = s.Groups.List().Customer("C0example1").Context(ctx).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusServiceUnavailable, "UNAVAILABLE")
}
