package emulator

import (
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/cloudidentity/v1"

	"github.com/jitaccess/jitaccess/internal/emulator/wire/wiretest"
)

const forumQuery = " && 'cloudidentity.googleapis.com/groups.discussion_forum' in labels"

func mustLookupGroup(t *testing.T, s *cloudidentity.Service, email string) string {
	t.Helper()
	resp, err := s.Groups.Lookup().GroupKeyId(email).Context(t.Context()).Do()
	if err != nil {
		t.Fatalf("lookup %s: %v", email, err)
	}
	return resp.Name
}

func TestCloudIdentityLookupGetAndList(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestIdentity(t, e)
	ctx := t.Context()

	name := mustLookupGroup(t, s, "Developers@example.com")
	g, err := s.Groups.Get(name).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != name || g.GroupKey.Id != "developers@example.com" || g.DisplayName != "All developers" ||
		g.Parent != "customers/C0example1" {
		t.Errorf("group = %+v", g)
	}
	if _, ok := g.Labels["cloudidentity.googleapis.com/groups.discussion_forum"]; !ok {
		t.Errorf("labels = %v", g.Labels)
	}

	type member struct{ ID, Type string }
	var got []member
	err = s.Groups.Memberships.List(name).View("FULL").PageSize(1).Pages(ctx, func(r *cloudidentity.ListMembershipsResponse) error {
		for _, m := range r.Memberships {
			got = append(got, member{m.PreferredMemberKey.Id, m.Type})
			if len(m.Roles) != 1 || m.Roles[0].Name != "MEMBER" {
				t.Errorf("roles of %s = %+v", m.PreferredMemberKey.Id, m.Roles)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []member{{"dave@example.com", "USER"}, {"payments-devs@example.com", "GROUP"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("direct members (-want +got):\n%s", diff)
	}

	_, err = s.Groups.Lookup().GroupKeyId("nobody@example.com").Context(ctx).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusForbidden, "PERMISSION_DENIED")
	_, err = s.Groups.Get("groups/nope").Context(ctx).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusForbidden, "PERMISSION_DENIED")
	_, err = s.Groups.Memberships.List(name).View("EVERYTHING").Context(ctx).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
}

func TestSearchTransitiveGroupsOfNestedMembers(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestIdentity(t, e)
	type rel struct{ Group, Relation string }
	tests := []struct {
		member string
		want   []rel
	}{
		// erin is in payments-devs, which is nested in developers.
		{"erin@example.com", []rel{{"developers@example.com", "INDIRECT"}, {"payments-devs@example.com", "DIRECT"}}},
		// alice is in sre, which is nested in platform-team.
		{"alice@example.com", []rel{{"platform-team@example.com", "INDIRECT"}, {"sre@example.com", "DIRECT"}}},
		// A group's own groups.
		{"sre@example.com", []rel{{"platform-team@example.com", "DIRECT"}}},
		{"nobody@example.com", nil},
	}
	for _, tc := range tests {
		t.Run(tc.member, func(t *testing.T) {
			t.Parallel()
			var got []rel
			err := s.Groups.Memberships.SearchTransitiveGroups("groups/-").Query("member_key_id == '"+tc.member+"'"+forumQuery).PageSize(1).
				Pages(t.Context(), func(r *cloudidentity.SearchTransitiveGroupsResponse) error {
					for _, m := range r.Memberships {
						got = append(got, rel{m.GroupKey.Id, m.RelationType})
						if id := mustLookupGroup(t, s, m.GroupKey.Id); id != m.Group {
							t.Errorf("group %s has name %s, lookup says %s", m.GroupKey.Id, m.Group, id)
						}
					}
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("transitive groups (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDirectAndIndirectMembership(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	// dave is a member of developers both directly and through a nested group.
	e.World.AddGroup(Group{Email: "payments-devs@example.com", DisplayName: "Payments developers",
		Members: []string{"user:erin@example.com", "user:dave@example.com"}})
	s := newTestIdentity(t, e)
	resp, err := s.Groups.Memberships.SearchTransitiveGroups("groups/-").Query("member_key_id == 'dave@example.com'" + forumQuery).Context(t.Context()).Do()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range resp.Memberships {
		got[m.GroupKey.Id] = m.RelationType
	}
	want := map[string]string{"developers@example.com": "DIRECT_AND_INDIRECT", "payments-devs@example.com": "DIRECT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("relations (-want +got):\n%s", diff)
	}
}

func TestSearchTransitiveMemberships(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestIdentity(t, e)
	type rel struct{ Key, Relation string }
	var got []rel
	name := mustLookupGroup(t, s, "platform-team@example.com")
	err := s.Groups.Memberships.SearchTransitiveMemberships(name).PageSize(2).
		Pages(t.Context(), func(r *cloudidentity.SearchTransitiveMembershipsResponse) error {
			for _, m := range r.Memberships {
				got = append(got, rel{m.PreferredMemberKey[0].Id, m.RelationType})
				isGroup := slices.ContainsFunc(e.World.Groups(), func(g Group) bool { return g.ID == m.Member })
				if isGroup != (m.PreferredMemberKey[0].Id == "sre@example.com" || m.PreferredMemberKey[0].Id == "dba@example.com") {
					t.Errorf("member %s has resource name %s", m.PreferredMemberKey[0].Id, m.Member)
				}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	want := []rel{
		{"alice@example.com", "INDIRECT"}, {"bob@example.com", "INDIRECT"}, {"carol@example.com", "INDIRECT"},
		{"dba@example.com", "DIRECT"}, {"sre@example.com", "DIRECT"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transitive members (-want +got):\n%s", diff)
	}

	check, err := s.Groups.Memberships.CheckTransitiveMembership(name).Query("member_key_id == 'carol@example.com'").Context(t.Context()).Do()
	if err != nil || !check.HasMembership {
		t.Errorf("checkTransitiveMembership(carol) = %+v, %v", check, err)
	}
	check, err = s.Groups.Memberships.CheckTransitiveMembership(name).Query("member_key_id == 'dave@example.com'").Context(t.Context()).Do()
	if err != nil || check.HasMembership {
		t.Errorf("checkTransitiveMembership(dave) = %+v, %v", check, err)
	}
}

func TestCloudIdentityRejectsBadQueries(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestIdentity(t, e)
	for _, q := range []string{
		"",
		"member_key_id == 'alice@example.com'", // no label
		"'cloudidentity.googleapis.com/groups.discussion_forum' in labels", // no member
		"member_key_id == alice@example.com" + forumQuery,                  // unquoted
		"member_key_id == 'a' || member_key_id == 'b'" + forumQuery,
		"member_key_namespace == 'identitysources/x' && member_key_id == 'a'" + forumQuery,
		"email == 'a'" + forumQuery,
	} {
		_, err := s.Groups.Memberships.SearchTransitiveGroups("groups/-").Query(q).Context(t.Context()).Do()
		_ = wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
	}
	name := mustLookupGroup(t, s, "sre@example.com")
	_, err := s.Groups.Memberships.SearchTransitiveGroups(name).Query("member_key_id == 'alice@example.com'" + forumQuery).Context(t.Context()).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")

	// The customer restriction selects the organization's groups only.
	resp, err := s.Groups.Memberships.SearchTransitiveGroups("groups/-").
		Query("member_key_id == 'alice@example.com'" + forumQuery + " && parent == 'customers/Cother'").Context(t.Context()).Do()
	if err != nil || len(resp.Memberships) != 0 {
		t.Errorf("search in another customer = %+v, %v", resp, err)
	}
}

func TestFaultsOnCloudIdentity(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestIdentity(t, e)
	e.World.Faults.Set("cloudidentity.groups.memberships.*", Fault{Code: http.StatusTooManyRequests, Count: 1})
	name := mustLookupGroup(t, s, "sre@example.com") // lookup is not affected
	_, err := s.Groups.Memberships.SearchTransitiveMemberships(name).Context(t.Context()).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED")
	if _, err := s.Groups.Memberships.SearchTransitiveMemberships(name).Context(t.Context()).Do(); err != nil {
		t.Errorf("after the fault: %v", err)
	}
}
